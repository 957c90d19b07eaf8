"""Money: funding an order (on credit, or by a paid pro-forma invoice) and cancelling one
(invoices voided, credit released)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import locks
from billing.models import Invoice
from billing.services import credit as credit_services
from billing.services.invoices import invoice_void, proforma_issue
from cards.audit import CardsAction
from cards.models import Order, PaymentMethod
from cards.services.orders import order_invoice_lines
from portal import policy
from portal.models import User
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue
from webhooks.events import EventType

from .base import (
    CANCELLABLE,
    S_PAID,
    OrderStateError,
    S,
    _lock,
    _move,
    _require_reason,
    order_event,
)


def _fund(order: Order, *, actor: User | None, ip: str | None) -> Order:
    if order.company.is_sandbox:
        # Test mode (docs/api.md): funded at once, with no invoice, credit or ledger entry.
        return order_mark_funded(order=order, actor=actor, ip=ip)
    lines = order_invoice_lines(order)
    if order.payment_method == PaymentMethod.CREDIT:
        order.invoice = credit_services.credit_charge(
            company=order.company, order_number=order.number, lines=lines, actor=actor, ip=ip
        )
        return order_mark_funded(order=order, actor=actor, ip=ip)
    order.proforma = proforma_issue(
        company=order.company, order_number=order.number, lines=lines, actor=actor, ip=ip
    )
    _move(order, S.AWAITING_PAYMENT)
    order.save()
    audit_record(
        action=CardsAction.ORDER_AWAITING_PAYMENT,
        actor=actor,
        company=order.company,
        obj=order,
        ip=ip,
        changes={
            "proforma": order.proforma.number,
            "payment_reference": order.proforma.payment_reference,
        },
    )
    return order


def order_mark_funded(*, order: Order, actor: User | None, ip: str | None = None) -> Order:
    """The hand-off to issuance: the order is paid for or on credit. Records the state and, in
    the same transaction, the start of card generation (the outbox publishes it after the commit,
    or its relay once the broker is back)."""
    _move(order, S.FUNDED)
    order.funded_at = timezone.now()
    order.save()
    audit_record(
        action=CardsAction.ORDER_FUNDED,
        actor=actor,
        company=order.company,
        obj=order,
        ip=ip,
        changes={"invoice": order.invoice.number if order.invoice else None},
    )
    order_event(
        order, EventType.ORDER_FUNDED, invoice=order.invoice.number if order.invoice else None
    )
    from cards.tasks import order_start_fulfilment

    outbox_enqueue(order_start_fulfilment, order.pk)
    return order


@transaction.atomic
def order_cancel(*, order: Order, actor: User, reason: str, ip: str | None = None) -> Order:
    """Cancel before card generation starts. An issued invoice is voided by a credit note and a
    pending pro-forma invoice is withdrawn; held credit is released."""
    reason = _require_reason(reason)
    if not actor.is_staff:
        membership = policy.require(order.company, actor, Action.ORDER_CANCEL)
        if order.created_by_id != actor.pk and not policy.can(membership, Action.ORDER_CANCEL_ANY):
            raise PermissionDenied(policy.refusal(Action.ORDER_CANCEL_ANY))
    locked = _lock(order)
    if locked.status not in CANCELLABLE:
        raise OrderStateError(
            _(
                "Order %(number)s is %(status)s and can no longer be cancelled; cards already "
                "generated are voided through our service desk."
            )
            % {"number": locked.number, "status": locked.get_status_display()}
        )
    credit_note = None
    if not locked.company.is_sandbox:  # a sandbox's order has no invoice and no credit
        credit_note = _cancel_billing(locked, reason=reason, actor=actor, ip=ip)
    _move(locked, S.CANCELLED)
    locked.closed_at = timezone.now()
    locked.closing_reason = reason
    locked.save()
    audit_record(
        action=CardsAction.ORDER_CANCELLED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"reason": reason, "credit_note": credit_note.number if credit_note else None},
    )
    order_event(
        locked,
        EventType.ORDER_CANCELLED,
        reason=reason,
        credit_note=credit_note.number if credit_note else None,
    )
    return locked


def _cancel_billing(locked: Order, *, reason: str, actor: User, ip: str | None) -> Invoice | None:
    """A cancelled order's money: an issued invoice voided by a credit note (returned), a
    pending pro-forma withdrawn, held credit released."""
    # The invoices' statuses are read under their locks, taken in the global order: a payment
    # may have paid the pro-forma a moment ago (its order is funded after that commits).
    locks.lock_company_accounts(locked.company)
    invoices = locks.lock_invoices(
        pk for pk in (locked.invoice_id, locked.proforma_id) if pk is not None
    )
    proforma = invoices.get(locked.proforma_id) if locked.proforma_id else None
    if locked.invoice_id is None and proforma is not None and proforma.status == S_PAID:
        raise OrderStateError(
            _(
                "The transfer for order %(number)s has just arrived: the order is paid and is "
                "being funded, so it can no longer be cancelled here. Reload the order; to cancel "
                "it now, contact our service desk."
            )
            % {"number": locked.number},
            code="order_paid",
        )
    credit_services.credit_release(company=locked.company, reference=locked.number)
    credit_note = None
    if locked.invoice_id is not None:
        credit_note = invoice_void(
            invoice=invoices[locked.invoice_id], reason=reason, actor=actor, ip=ip
        )
    if proforma is not None and proforma.status != S_PAID:
        invoice_void(invoice=proforma, reason=reason, actor=actor, ip=ip)
    return credit_note


@transaction.atomic
def order_fund_from_proforma(
    *, proforma_id: int, invoice_id: int, actor: User | None = None
) -> Order | None:
    """The pro-forma invoice of an order was paid (that transaction committed): the order is
    funded, once. Runs in a transaction of its own, queued by the payment; a second run, or a
    run for an order cancelled meanwhile, does nothing."""
    order_id = Order.objects.filter(proforma_id=proforma_id).values_list("pk", flat=True).first()
    if order_id is None:
        return None
    order = locks.lock_order(Order.objects.select_related("company"), pk=order_id)
    if order is None or order.status != S.AWAITING_PAYMENT:
        return order
    invoice = Invoice.objects.get(pk=invoice_id, company=order.company)
    paid = Invoice.objects.filter(pk=proforma_id, status=Invoice.Status.PAID).exists()
    if not paid or invoice.order_number != order.number:
        return order  # not for this order: nothing to fund
    order.invoice = invoice
    return order_mark_funded(order=order, actor=actor)
