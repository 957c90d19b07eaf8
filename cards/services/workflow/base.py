"""The map of an order's allowed transitions, ``_move`` that enforces it, and the order row lock
the workflow services share."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from billing import locks
from billing.models import Invoice
from cards.models import Order, OrderStatus
from portal.errors import StateConflict
from webhooks.services import emit

S = OrderStatus


TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset(
        {S.PENDING_APPROVAL, S.PENDING_REVIEW, S.AWAITING_PAYMENT, S.FUNDED, S.CANCELLED}
    ),
    S.PENDING_APPROVAL: frozenset(
        {S.PENDING_REVIEW, S.AWAITING_PAYMENT, S.FUNDED, S.REJECTED, S.CANCELLED}
    ),
    S.PENDING_REVIEW: frozenset({S.AWAITING_PAYMENT, S.FUNDED, S.REJECTED, S.CANCELLED}),
    S.AWAITING_PAYMENT: frozenset({S.FUNDED, S.CANCELLED}),
    S.FUNDED: frozenset({S.FULFILLING, S.CANCELLED}),
    S.FULFILLING: frozenset({S.FULFILLED}),
    S.FULFILLED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
}

S_PAID = Invoice.Status.PAID
CANCELLABLE = frozenset(s for s, targets in TRANSITIONS.items() if S.CANCELLED in targets)


class OrderStateError(StateConflict):
    """The order's status (read under its row lock) does not allow the action."""

    default_code = "order_state"


def _move(order: Order, target: str) -> None:
    if target not in TRANSITIONS[order.status]:
        raise OrderStateError(
            _("Order %(number)s is %(status)s; it cannot become %(target)s.")
            % {
                "number": order.number,
                "status": order.get_status_display(),
                "target": S(target).label,
            }
        )
    order.status = target


def _lock(order: Order) -> Order:
    # Only the order row: locking the joined company row too would serialise every approval of
    # a company behind its submissions.
    locked = locks.lock_order(Order.objects.select_related("company"), pk=order.pk)
    if locked is None:
        raise Order.DoesNotExist(order.pk)
    return locked


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason; the buyer will see it.")})
    return reason[:500]


def order_event(order: Order, event_type: str, **extra: object) -> None:
    """Record a webhook event about the order, in the caller's transaction."""
    emit(
        order.company_id,
        event_type,
        order,
        {
            "number": order.number,
            "total": str(order.total),
            "client_reference": order.client_reference,
            **extra,
        },
    )
