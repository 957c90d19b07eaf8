"""What the recipient services share: limits, audit actions, the link's token digest and URL,
how a recipient is shown (masked), the delivery row lock, counts by status."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy

from cards.models import CardStatus, RecipientDelivery
from portal import crypto, sms
from portal.models import register_audit_actions

TOKEN_BYTES = 32
CREATE_BATCH = 2000
RECIPIENT_ACTOR_LABEL = "recipient"
# Cards whose code must not be handed out any more (an operator froze or voided them).
UNREVEALABLE_CARD_STATUSES = frozenset({CardStatus.FROZEN, CardStatus.VOIDED})


class RecipientAction(models.TextChoices):
    DELIVERIES_CREATED = (
        "recipient.deliveries_created",
        gettext_lazy("Prepared links to recipients"),
    )
    LINK_RESENT = "recipient.link_resent", gettext_lazy("Resent a recipient's link")
    RECIPIENT_CHANGED = "recipient.changed", gettext_lazy("Changed a card's recipient")
    CODE_REVEALED = "recipient.code_revealed", gettext_lazy("A recipient saw their card code")


register_audit_actions(RecipientAction)


class LinkInvalid(Exception):
    """Unknown, replaced or expired link: the page says so, without telling which."""


# --- Small helpers -------------------------------------------------------------------------------


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def recipient_link_url(token: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "cards:recipient_link", kwargs={"token": token}
    )


def mask_email(email: str) -> str:
    """wang.xiaoming@example.com -> wa***@example.com."""
    local, at, domain = email.partition("@")
    if not at:
        return crypto.mask(email)
    keep = 2 if len(local) > 3 else 1
    return f"{local[:keep]}***@{domain}"


def masked_contact(*, name: str, email: str, mobile: str) -> dict[str, str]:
    """A recipient as pages show them: the name, the email and mobile partly hidden. The one
    masking rule for recipients: the order page's lines and delivery panel both use it."""
    return {
        "name": name,
        "email": mask_email(email) if email else "",
        "mobile": sms.mask_mobile(mobile) if mobile else "",
    }


def masked_recipient(delivery: RecipientDelivery) -> dict[str, str]:
    return masked_contact(
        name=delivery.recipient_name, email=delivery.email, mobile=delivery.mobile
    )


def _lock(delivery_id: int) -> RecipientDelivery:
    return (
        RecipientDelivery.objects.select_for_update(of=("self",))
        .select_related("order__company", "card", "line__product")
        .get(pk=delivery_id)
    )


def recipient_label(delivery: RecipientDelivery) -> str:
    masked = masked_recipient(delivery)
    return masked["name"] or masked["email"] or masked["mobile"]
