"""Reactivation of an expired bearer card by an operator, on the holder's request.

The regime: an expired bearer card that still holds money must be reactivated (or exchanged for a
new card, ``card_exchange`` in the card service) when its holder asks. The operator finds the card
by its serial or by the code the holder reads out (typed into a POST form, never put in a URL);
the card gets ``settings.CARD_REACTIVATION_MONTHS`` more months of validity from today, becomes
active, and its balance moves back from the expired-balance liability to the card liability.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cards import codes
from cards.models import Batch, Card, CardStatus, CardTransaction, CardType
from cards.services.card_movements import ZERO, card_lock, card_transaction_write
from cards.services.issuance import add_months
from portal.errors import DomainError, StateConflict
from portal.models import User
from portal.services.audit import audit_record

from .base import ExpiryAction, expired_balance_restore, reason_required

SERIAL_DIGITS = 16


def _not_found() -> DomainError:
    return DomainError(
        _("No card has this serial or code. Check it with the holder and type it again."),
        code="card_not_found",
    )


def card_find(*, serial: str = "", code: str = "") -> Card:
    """The card with this serial (16 digits; spaces and hyphens ignored) or this code as the
    holder reads it out (case, spaces and hyphens tolerated). Only one of the two is used: the
    code when both are given. The code is never stored or logged."""
    if code.strip():
        try:
            canonical = codes.normalize_code(code)
        except codes.InvalidCode:
            raise _not_found() from None
        card = Card.objects.filter(digest=codes.code_digest(canonical)).first()
    else:
        digits = serial.replace(" ", "").replace("-", "")
        if not (digits.isascii() and digits.isdigit() and len(digits) == SERIAL_DIGITS):
            raise DomainError(
                _("A serial has 16 digits; type the one printed on the card, or its code."),
                code="serial_invalid",
            )
        card = Card.objects.filter(serial=int(digits)).first()
    if card is None:
        raise _not_found()
    return card


@transaction.atomic
def card_reactivate(
    *,
    card_id: int,
    operator: User,
    reason: str,
    ip: str | None = None,
    now: datetime.datetime | None = None,
) -> CardTransaction:
    """Reactivate one expired bearer card that holds money (module docstring). Writes the
    ``reactivate`` transaction (amount 0), the ledger movement back to the card liability (after
    reversing the card's breakage, if any was posted) and the audit row, in one transaction."""
    reason = reason_required(reason)
    now = now or timezone.now()
    card = card_lock(card_id)
    if card.status != CardStatus.EXPIRED:
        raise StateConflict(
            _("Card %(serial)s is %(status)s: only an expired card can be reactivated.")
            % {"serial": card.serial_display, "status": card.get_status_display()},
            code="card_not_expired",
        )
    batch = Batch.objects.select_related("company", "product").get(pk=card.batch_id)
    if batch.product.card_type != CardType.BEARER:
        raise StateConflict(
            _("Card %(serial)s is a registered card; registered cards do not expire.")
            % {"serial": card.serial_display},
            code="card_registered",
        )
    if card.balance <= ZERO:
        raise StateConflict(
            _("Card %(serial)s holds no money: there is nothing to reactivate.")
            % {"serial": card.serial_display},
            code="card_empty",
        )
    expired_at = card.expires_at
    # From today (from the old date if the clock says it is still ahead): always a new date.
    start = max(now, expired_at) if expired_at is not None else now
    card.expires_at = add_months(start, settings.CARD_REACTIVATION_MONTHS)
    card.save(update_fields=["expires_at"])
    written = card_transaction_write(
        card=card,
        kind=CardTransaction.Kind.REACTIVATE,
        amount=ZERO,
        status=CardStatus.ACTIVE,
        reason=reason,
        actor=operator,
        at=now,
    )
    expired_balance_restore(
        card=card,
        idempotency_key=f"card-reactivate:{written.pk}",
        memo=f"card {card.serial_display} reactivated",
    )
    audit_record(
        action=ExpiryAction.CARD_REACTIVATED,
        actor=operator,
        company=batch.company,
        obj=card,
        ip=ip,
        changes={
            "serial": card.serial_display,
            "balance": str(card.balance),
            "expired_at": expired_at.isoformat() if expired_at else None,
            "expires_at": card.expires_at.isoformat(),
            "reason": reason,
        },
    )
    return written
