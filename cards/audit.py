"""Audit action codes written by the cards app."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.models import register_audit_actions


class CardsAction(models.TextChoices):
    ORDER_CREATED = "order.created", _("Created an order")
    ORDER_UPDATED = "order.updated", _("Changed a draft order")
    ORDER_SUBMITTED = "order.submitted", _("Submitted an order")
    ORDER_APPROVED = "order.approved", _("Approved an order")
    ORDER_REJECTED = "order.rejected", _("Rejected an order")
    ORDER_SENT_TO_REVIEW = "order.sent_to_review", _("Sent an order to risk review")
    ORDER_REVIEW_APPROVED = "order.review_approved", _("Cleared an order in risk review")
    ORDER_REVIEW_REJECTED = "order.review_rejected", _("Rejected an order in risk review")
    ORDER_AWAITING_PAYMENT = "order.awaiting_payment", _("Asked for payment of an order")
    ORDER_FUNDED = "order.funded", _("Order funded")
    ORDER_CANCELLED = "order.cancelled", _("Cancelled an order")
    ORDER_FULFILMENT_STARTED = "order.fulfilment_started", _("Started generating cards")
    ORDER_FULFILLED = "order.fulfilled", _("All cards of the order are ready")
    BATCH_FAILED = "order.batch_failed", _("Card generation failed")
    BATCH_RETRIED = "order.batch_retried", _("Retried card generation")
    BATCH_CANARIES_CREATED = "batch.canaries_created", _("Made a batch's canary cards")
    REGISTRATION_RECORDED = "order.registration_recorded", _("Recorded a purchase registration")
    PRODUCT_CREATED = "product.created", _("Added a card product")
    PRODUCT_UPDATED = "product.updated", _("Changed a card product")


register_audit_actions(CardsAction)


class SpendAction(models.TextChoices):
    """Merchants, their keys, and card spend through the merchant API."""

    MERCHANT_CREATED = "merchant.created", _("Added a merchant")
    MERCHANT_EDITED = "merchant.edited", _("Changed a merchant")
    MERCHANT_KEY_CREATED = "merchant_key.created", _("Created a merchant API key")
    MERCHANT_KEY_REVOKED = "merchant_key.revoked", _("Revoked a merchant API key")
    MERCHANT_KEY_FROZEN = "merchant_key.frozen", _("Froze a merchant API key")
    MERCHANT_KEY_UNFROZEN = "merchant_key.unfrozen", _("Unfroze a merchant API key")
    CARD_REDEEMED = "card.redeemed", _("Card redeemed at a merchant")
    CARD_REFUNDED = "card.refunded", _("Merchant refunded to a card")
    REDEMPTION_VOIDED = "card.redemption_voided", _("Merchant voided a redemption")
    HOLD_CREATED = "card.hold_created", _("Merchant put a hold on a card")
    HOLD_CAPTURED = "card.hold_captured", _("Merchant captured a hold")
    HOLD_RELEASED = "card.hold_released", _("Merchant released a hold")
    HOLD_EXPIRED = "card.hold_expired", _("A hold expired")


register_audit_actions(SpendAction)


class RegisterAction(models.TextChoices):
    """The real-name register: unmasked views, legal holds and the purge after retention."""

    ID_NUMBER_SHOWN = "registration.id_number_shown", _("Viewed a full ID number")
    HOLD_PLACED = "registration.hold_placed", _("Placed a legal hold")
    HOLD_RELEASED = "registration.hold_released", _("Released a legal hold")
    PURGED = "registration.purged", _("Deleted a registration past its retention")


register_audit_actions(RegisterAction)
