"""Freeze, unfreeze and void a card: an operator's act, with a reason, on the locked card,
audited in the same transaction.

A frozen card keeps its balance (still card liability) but cannot be spent: the merchant API
spends only an ``active`` card and answers for a frozen one as for an invalid code. A void is
for good: the balance goes to the voided-card account and no act starts from ``voided``.
"""

from __future__ import annotations

from django.db import transaction

from billing.money import ZERO
from cards.models import Card, CardServiceRequest, CardStatus, CardTransaction
from cards.services.card_movements import card_event, card_lock, card_transaction_write
from portal.models import User
from portal.services.audit import audit_record
from webhooks.events import EventType

from .base import (
    Act,
    CardServiceAction,
    card_company,
    require_no_holds,
    require_operator,
    require_reason,
    require_second_operator,
    require_status,
    void_locked_card,
)


def _status_change(
    *, card: Card, act: str, kind: str, target: str, reason: str, actor: User, ip: str | None
) -> Card:
    require_operator(actor)
    reason = require_reason(reason)
    with transaction.atomic():
        locked = card_lock(card.pk)
        require_status(locked, act)
        before = locked.status
        if target == CardStatus.ACTIVE and locked.balance == ZERO:
            target = CardStatus.DEPLETED
        card_transaction_write(
            card=locked, kind=kind, amount=ZERO, status=target, reason=reason, actor=actor
        )
        audit_record(
            action=CardServiceAction.FROZEN if act == "freeze" else CardServiceAction.UNFROZEN,
            actor=actor,
            company=card_company(locked),
            obj=locked,
            ip=ip,
            changes={
                "serial": locked.serial_display,
                "status": [before, locked.status],
                "balance": str(locked.balance),
                "reason": reason,
            },
        )
        if act == "freeze":
            card_event(locked, EventType.CARD_FROZEN, reason=reason)
    return locked


def card_freeze(*, card: Card, reason: str, actor: User, ip: str | None = None) -> Card:
    """An active card can no longer be spent until it is unfrozen (a zero ``freeze``
    transaction records when and why)."""
    return _status_change(
        card=card,
        act="freeze",
        kind=CardTransaction.Kind.FREEZE,
        target=CardStatus.FROZEN,
        reason=reason,
        actor=actor,
        ip=ip,
    )


def card_unfreeze(*, card: Card, reason: str, actor: User, ip: str | None = None) -> Card:
    """A frozen card can be spent again."""
    return _status_change(
        card=card,
        act="unfreeze",
        kind=CardTransaction.Kind.UNFREEZE,
        target=CardStatus.ACTIVE,
        reason=reason,
        actor=actor,
        ip=ip,
    )


def card_void(
    *,
    card: Card,
    reason: str,
    actor: User,
    ip: str | None = None,
    approval: CardServiceRequest | None = None,
) -> Card:
    """Void a card for good: its balance goes to the voided-card account (ledger: its liability
    +B, voided cards -B; card: ``void`` of -B, status voided). Refused with open holds, and
    over ``CARD_SERVICE_SECOND_OPERATOR_ABOVE`` unless it is the approval of another
    operator's request (``approval``)."""
    require_operator(actor)
    reason = require_reason(reason)
    with transaction.atomic():
        locked = card_lock(card.pk)
        require_status(locked, Act.VOID)
        require_no_holds(locked)
        require_second_operator(locked, Act.VOID, approval, actor)
        before, balance = locked.status, locked.balance
        void_locked_card(locked, reason=reason, actor=actor)
        audit_record(
            action=CardServiceAction.VOIDED,
            actor=actor,
            company=card_company(locked),
            obj=locked,
            ip=ip,
            changes={
                "serial": locked.serial_display,
                "status": [before, locked.status],
                "balance": str(balance),
                "reason": reason,
                "requested_by": approval.requested_by.email if approval is not None else None,
            },
        )
    return locked
