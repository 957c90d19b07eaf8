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
    REGISTRATION_RECORDED = "order.registration_recorded", _("Recorded a purchase registration")
    PRODUCT_CREATED = "product.created", _("Added a card product")
    PRODUCT_UPDATED = "product.updated", _("Changed a card product")


register_audit_actions(CardsAction)
