"""The cardholder's balance page behind a recipient's link: the card's balance, status, expiry and
transactions, never its code (the code is shown once, by ``links.link_reveal``).

A link opens the balance page while it is live, like the card page; once the code was shown, it
keeps opening the balance page (and only that) for ``RECIPIENT_BALANCE_DAYS`` after the reveal,
as the link can no longer be resent. A link replaced by a resend or a change of recipient has
lost its digest and opens nothing. Reading the balance writes nothing.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from cards.models import RecipientDelivery

from .base import LinkInvalid


def link_balance(*, digest: bytes) -> RecipientDelivery:
    """The delivery behind a link, for its card's balance page, with its card, line, product
    and company. LinkInvalid when the link is unknown, replaced, or expired (the same answer
    for each)."""
    now = timezone.now()
    revealed_since = now - datetime.timedelta(days=settings.RECIPIENT_BALANCE_DAYS)
    delivery = (
        RecipientDelivery.objects.filter(token_digest=digest)
        .filter(Q(token_expires_at__gt=now) | Q(revealed_at__gt=revealed_since))
        .select_related("order__company", "card", "line__product")
        .first()
    )
    if delivery is None:
        raise LinkInvalid
    return delivery
