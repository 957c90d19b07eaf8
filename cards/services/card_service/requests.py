"""Maker-checker for card service: what the admin calls, and the second operator's decision.

``card_service_start`` does an act at once when it may (a freeze, an unfreeze, a void or a
reissue of up to ``CARD_SERVICE_SECOND_OPERATOR_ABOVE``) and otherwise records a request. A
request is approved by another operator, which runs the act in the same transaction (the
database also refuses an approval by the requester), or rejected, with a reason, by anyone
(the requester withdrawing it included). Locks: the card first, then the request, as every
card service takes the card's row first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cards.models import Batch, Card, CardServiceRequest
from cards.services.card_movements import card_lock
from portal.errors import DomainError
from portal.models import User
from portal.services.audit import audit_record

from .base import (
    Act,
    CardServiceAction,
    CardStateError,
    SecondOperatorRequired,
    card_company,
    require_operator,
    require_reason,
    require_status,
)
from .reissue import card_exchange, card_reissue, require_product_rule
from .status import card_freeze, card_unfreeze, card_void

Status = CardServiceRequest.Status

# What needs a second operator over the threshold; each returns the card it made, or the card.
GUARDED: dict[str, Callable[..., Card]] = {
    Act.VOID: card_void,
    Act.REISSUE: card_reissue,
    Act.EXCHANGE: card_exchange,
}
IMMEDIATE: dict[str, Callable[..., Card]] = {"freeze": card_freeze, "unfreeze": card_unfreeze}
ACTIONS = (*IMMEDIATE, *GUARDED)


@dataclass(frozen=True)
class ServiceOutcome:
    """The card acted on (as it is now), the new card of a reissue or exchange, or the request
    that waits for a second operator."""

    card: Card
    new_card: Card | None = None
    request: CardServiceRequest | None = None


def _run(
    action: str,
    *,
    card: Card,
    reason: str,
    actor: User,
    ip: str | None,
    approval: CardServiceRequest | None = None,
) -> ServiceOutcome:
    if action in IMMEDIATE:
        return ServiceOutcome(card=IMMEDIATE[action](card=card, reason=reason, actor=actor, ip=ip))
    result = GUARDED[action](card=card, reason=reason, actor=actor, ip=ip, approval=approval)
    if action == Act.VOID:
        return ServiceOutcome(card=result)
    card.refresh_from_db(fields=["balance", "status", "last_activity_at"])
    return ServiceOutcome(card=card, new_card=result)


def card_service_start(
    *, card: Card, action: str, reason: str, actor: User, ip: str | None = None
) -> ServiceOutcome:
    """Do ``action`` now, or, when it needs a second operator, record the request."""
    if action not in ACTIONS:
        raise ValueError(f"unknown card service {action!r}")
    try:
        return _run(action, card=card, reason=reason, actor=actor, ip=ip)
    except SecondOperatorRequired:
        request = card_service_request_create(
            card=card, action=action, reason=reason, actor=actor, ip=ip
        )
        return ServiceOutcome(card=card, request=request)


def card_service_request_create(
    *, card: Card, action: str, reason: str, actor: User, ip: str | None = None
) -> CardServiceRequest:
    """Ask a second operator to approve a void, a reissue or an exchange. One request per card
    waits at a time."""
    if action not in GUARDED:
        raise ValueError(f"{action!r} needs no second operator")
    require_operator(actor)
    reason = require_reason(reason)
    with transaction.atomic():
        locked = card_lock(card.pk)
        require_status(locked, action)
        if action != Act.VOID:
            require_product_rule(
                locked, Batch.objects.select_related("product").get(pk=locked.batch_id), action
            )
        waiting = CardServiceRequest.objects.filter(card=locked, status=Status.PENDING).first()
        if waiting is not None:
            raise CardStateError(
                _(
                    "Card %(serial)s already has a request waiting for a second operator "
                    "(%(action)s, asked by %(who)s); approve or reject that one first."
                )
                % {
                    "serial": locked.serial_display,
                    "action": waiting.get_action_display(),
                    "who": waiting.requested_by.email,
                },
                code="request_pending",
            )
        request = CardServiceRequest.objects.create(
            card=locked, action=action, reason=reason, amount=locked.balance, requested_by=actor
        )
        audit_record(
            action=CardServiceAction.REQUESTED,
            actor=actor,
            company=card_company(locked),
            obj=locked,
            ip=ip,
            changes={
                "serial": locked.serial_display,
                "request": str(request.public_id),
                "action": action,
                "amount": str(locked.balance),
                "reason": reason,
            },
        )
    return request


def _lock_pending(service_request: CardServiceRequest) -> CardServiceRequest:
    locked = (
        CardServiceRequest.objects.select_for_update(of=("self",))
        .select_related("requested_by", "decided_by")
        .get(pk=service_request.pk)
    )
    if locked.status != Status.PENDING:
        raise DomainError(
            _("This request was already %(status)s by %(who)s.")
            % {
                "status": locked.get_status_display().lower(),
                "who": locked.decided_by.email if locked.decided_by else "-",
            },
            code="request_decided",
        )
    return locked


def card_service_request_approve(
    *, service_request: CardServiceRequest, actor: User, ip: str | None = None
) -> ServiceOutcome:
    """A second operator approves: the act runs now, under the card's lock, in the same
    transaction as the approval. The requester cannot approve their own request."""
    require_operator(actor)
    with transaction.atomic():
        card = card_lock(service_request.card_id)
        locked = _lock_pending(service_request)
        if locked.requested_by_id == actor.pk:
            raise DomainError(
                _("Another operator must approve a request you made."), code="same_operator"
            )
        locked.status = Status.APPROVED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        outcome = _run(
            locked.action,
            card=card,
            reason=locked.reason,
            actor=actor,
            ip=ip,
            approval=locked,
        )
        audit_record(
            action=CardServiceAction.REQUEST_APPROVED,
            actor=actor,
            company=card_company(card),
            obj=card,
            ip=ip,
            changes={
                "serial": card.serial_display,
                "request": str(locked.public_id),
                "action": locked.action,
                "requested_by": locked.requested_by.email,
                "new_serial": outcome.new_card.serial_display if outcome.new_card else None,
            },
        )
    return ServiceOutcome(card=outcome.card, new_card=outcome.new_card, request=locked)


def card_service_request_reject(
    *, service_request: CardServiceRequest, actor: User, reason: str, ip: str | None = None
) -> CardServiceRequest:
    """Reject a waiting request (or withdraw one's own); nothing happens to the card."""
    require_operator(actor)
    reason = require_reason(reason)
    with transaction.atomic():
        card = card_lock(service_request.card_id)
        locked = _lock_pending(service_request)
        locked.status = Status.REJECTED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_note = reason
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_record(
            action=CardServiceAction.REQUEST_REJECTED,
            actor=actor,
            company=card_company(card),
            obj=card,
            ip=ip,
            changes={
                "serial": card.serial_display,
                "request": str(locked.public_id),
                "action": locked.action,
                "requested_by": locked.requested_by.email,
                "reason": reason,
            },
        )
    return locked
