"""An order's way from draft to funded: submit, approvals, risk review, funding, cancel.

Every move goes through ``_move``, which checks it against the map of allowed transitions. Each
service takes its row locks through ``billing.locks``, in the one global order for money (company,
order, credit line, payment, company accounts, invoices by id, invoice number last), and
re-checks the state after the lock, so two approvers clicking at once approve once and a cancel
racing a payment gets a clear refusal. Refusals are ``portal.errors.DomainError``s.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import locks
from billing.models import Invoice
from billing.money import format_cny
from billing.services import credit as credit_services
from billing.services.invoices import invoice_void, proforma_issue
from cards.audit import CardsAction
from cards.models import (
    REGISTRATION_ORDER_THRESHOLD,
    CardType,
    Order,
    OrderStatus,
    PaymentMethod,
)
from cards.services.orders import (
    LineInput,
    order_invoice_lines,
    order_lines_check,
    registration_required,
)
from cards.signals import order_funded
from portal import policy
from portal.errors import StateConflict
from portal.models import Company, User
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue

S = OrderStatus
# The logger keeps the name it had before the module became a package.
logger = logging.getLogger("cards.services.workflow")

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


def order_risk_flags(order: Order) -> list[str]:
    """Why an operator must look at this order before it goes ahead (empty: no reason)."""
    flags = []
    if order.total >= settings.ORDER_PLATFORM_LIMIT:
        flags.append("platform_limit")
    start = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time.min))
    today = Order.objects.filter(company=order.company, submitted_at__gte=start).exclude(
        pk=order.pk
    )
    stats = today.aggregate(count=Count("id"), value=Sum("total"))
    count = (stats["count"] or 0) + 1
    value = (stats["value"] or Decimal(0)) + order.total
    if count > settings.ORDER_VELOCITY_MAX_COUNT:
        flags.append("velocity_count")
    if value > settings.ORDER_VELOCITY_MAX_VALUE:
        flags.append("velocity_value")
    margin = settings.ORDER_STRUCTURING_MARGIN
    # Threshold -> whether an order exactly at it stays below it: approval is needed only above
    # the company's threshold; registration and review start at theirs.
    thresholds = {order.company.approval_threshold: True}
    thresholds.setdefault(REGISTRATION_ORDER_THRESHOLD, False)
    thresholds.setdefault(settings.ORDER_PLATFORM_LIMIT, False)
    for threshold, at_is_under in thresholds.items():
        low = threshold * (1 - margin)
        under = order.total <= threshold if at_is_under else order.total < threshold
        if not (low <= order.total and under):
            continue
        window = today.filter(total__gte=low)
        window = (
            window.filter(total__lte=threshold)
            if at_is_under
            else window.filter(total__lt=threshold)
        )
        if window.count() + 1 >= settings.ORDER_STRUCTURING_COUNT:
            flags.append("structuring")
            break
    return flags


# Lazy: the module is imported once, the labels are read in each reader's language.
RISK_FLAG_LABELS = {
    "platform_limit": gettext_lazy("at or above the platform limit"),
    "velocity_count": gettext_lazy("too many orders today"),
    "velocity_value": gettext_lazy("too much value ordered today"),
    "structuring": gettext_lazy("several orders just under a threshold today"),
}


@transaction.atomic
def order_submit(*, order: Order, actor: User, ip: str | None = None) -> Order:
    """Send a draft on its way: to the company's approvers, to risk review, or straight to
    funding. Rules are checked again here, on the stored lines."""
    policy.require(order.company, actor, Action.ORDER_SUBMIT)
    # The company row serialises one company's submissions, so velocity counts are exact.
    company = locks.lock_company(order.company_id)
    locked = _lock(order)
    if locked.status != S.DRAFT:
        raise OrderStateError(
            _("Order %(number)s was already submitted (it is %(status)s).")
            % {"number": locked.number, "status": locked.get_status_display()}
        )
    if company.status != Company.Status.ACTIVE:
        raise ValidationError(
            _("%(company)s is not active; orders cannot be submitted.")
            % {"company": company.legal_name}
        )
    lines = list(locked.lines.select_related("product"))
    order_lines_check(
        company=company,
        lines=[
            LineInput(product=line.product, face_value=line.face_value, quantity=line.quantity)
            for line in lines
        ],
    )
    has_registered = any(line.product.card_type == CardType.REGISTERED for line in lines)
    if locked.registration_id is None and registration_required(
        face_total=locked.face_total, total=locked.total, has_registered=has_registered
    ):
        raise ValidationError(
            {
                "registration": _(
                    "Prepaid card rule: real-name purchase registration is required for "
                    "registered cards and for orders of %(threshold)s or more. Add the agent's "
                    "name, ID number and contact phone."
                )
                % {"threshold": format_cny(REGISTRATION_ORDER_THRESHOLD)}
            }
        )
    if locked.payment_method == PaymentMethod.CREDIT:
        credit_services.credit_check(company, locked.total, exclude_reference=locked.number)
    locked.submitted_at = timezone.now()
    locked.company = company
    locked.risk_flags = order_risk_flags(locked)
    locked.needs_approval = locked.total > company.approval_threshold
    audit_record(
        action=CardsAction.ORDER_SUBMITTED,
        actor=actor,
        company=company,
        obj=locked,
        ip=ip,
        changes={"total": str(locked.total), "risk_flags": locked.risk_flags},
    )
    if locked.needs_approval:
        _move(locked, S.PENDING_APPROVAL)
        locked.save()
        from cards.tasks import order_notify_approvers

        outbox_enqueue(order_notify_approvers, locked.pk)
        return locked
    return _after_company_approval(locked, actor=actor, ip=ip)


def _after_company_approval(order: Order, *, actor: User | None, ip: str | None) -> Order:
    if order.risk_flags:
        if order.payment_method == PaymentMethod.CREDIT:
            # Hold the credit now, so the review does not find it spent by later orders.
            credit_services.credit_reserve(
                company=order.company, reference=order.number, amount=order.total
            )
        _move(order, S.PENDING_REVIEW)
        order.save()
        audit_record(
            action=CardsAction.ORDER_SENT_TO_REVIEW,
            actor=actor,
            company=order.company,
            obj=order,
            ip=ip,
            changes={"risk_flags": order.risk_flags},
        )
        return order
    return _fund(order, actor=actor, ip=ip)


def _fund(order: Order, *, actor: User | None, ip: str | None) -> Order:
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
    or its relay once the broker is back); once committed, announces it."""
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
    order_id = order.pk
    transaction.on_commit(lambda: order_funded.send(sender=Order, order_id=order_id))
    from cards.tasks import order_start_fulfilment

    outbox_enqueue(order_start_fulfilment, order_id)
    return order


def _require_waiting_for_approval(order: Order) -> None:
    """Checked after the order row is locked: two approvers clicking at once decide once."""
    if order.status != S.PENDING_APPROVAL:
        raise OrderStateError(
            _("Order %(number)s is not waiting for approval (it is %(status)s).")
            % {"number": order.number, "status": order.get_status_display()}
        )


def _require_in_review(order: Order) -> None:
    """Checked after the order row is locked."""
    if order.status != S.PENDING_REVIEW:
        raise OrderStateError(
            _("Order %(number)s is not in risk review (it is %(status)s).")
            % {"number": order.number, "status": order.get_status_display()}
        )


@transaction.atomic
def order_approve(*, order: Order, actor: User, ip: str | None = None) -> Order:
    """A company approver's yes. Never the order's own creator."""
    policy.require(order.company, actor, Action.ORDER_APPROVE)
    locked = _lock(order)
    _require_waiting_for_approval(locked)
    if locked.created_by_id == actor.pk:
        raise PermissionDenied(_("You created this order, so someone else must approve it."))
    locked.approved_by = actor
    locked.approved_at = timezone.now()
    audit_record(
        action=CardsAction.ORDER_APPROVED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"total": str(locked.total)},
    )
    return _after_company_approval(locked, actor=actor, ip=ip)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason; the buyer will see it.")})
    return reason[:500]


@transaction.atomic
def order_reject(*, order: Order, actor: User, reason: str, ip: str | None = None) -> Order:
    policy.require(order.company, actor, Action.ORDER_APPROVE)
    reason = _require_reason(reason)
    locked = _lock(order)
    _require_waiting_for_approval(locked)
    if locked.created_by_id == actor.pk:
        raise PermissionDenied(_("You created this order; cancel it instead of rejecting it."))
    _move(locked, S.REJECTED)
    locked.closed_at = timezone.now()
    locked.closing_reason = reason
    locked.save()
    audit_record(
        action=CardsAction.ORDER_REJECTED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"reason": reason},
    )
    from cards.tasks import order_notify_creator

    outbox_enqueue(order_notify_creator, locked.pk)
    return locked


def _require_operator(operator: User) -> None:
    if not (operator.is_active and operator.is_staff):
        raise PermissionDenied(_("Only an operator can review orders."))


@transaction.atomic
def order_review_approve(*, order: Order, operator: User, ip: str | None = None) -> Order:
    """An operator clears an order held for risk review; it goes on to funding."""
    _require_operator(operator)
    locked = _lock(order)
    _require_in_review(locked)
    locked.reviewed_by = operator
    locked.reviewed_at = timezone.now()
    audit_record(
        action=CardsAction.ORDER_REVIEW_APPROVED,
        actor=operator,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"risk_flags": locked.risk_flags},
    )
    return _fund(locked, actor=operator, ip=ip)


@transaction.atomic
def order_review_reject(
    *, order: Order, operator: User, reason: str, ip: str | None = None
) -> Order:
    _require_operator(operator)
    reason = _require_reason(reason)
    locked = _lock(order)
    _require_in_review(locked)
    credit_services.credit_release(company=locked.company, reference=locked.number)
    _move(locked, S.REJECTED)
    locked.reviewed_by = operator
    locked.reviewed_at = timezone.now()
    locked.closed_at = timezone.now()
    locked.closing_reason = reason
    locked.save()
    audit_record(
        action=CardsAction.ORDER_REVIEW_REJECTED,
        actor=operator,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"reason": reason},
    )
    from cards.tasks import order_notify_creator

    outbox_enqueue(order_notify_creator, locked.pk)
    return locked


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
    return locked


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


@transaction.atomic
def order_begin_fulfilment(*, order_id: int) -> Order | None:
    """Funded → generating cards: one batch per line, its chunks queued once this commits.
    A second call does nothing."""
    from cards.services.issuance import batches_create, chunks_enqueue

    order = locks.lock_order(Order.objects.select_related("company"), pk=order_id)
    if order is None or order.status != S.FUNDED:
        return order
    _move(order, S.FULFILLING)
    order.save()
    batches = batches_create(order)
    chunk_ids = [c.pk for b in batches for c in b.chunks.all()]
    audit_record(
        action=CardsAction.ORDER_FULFILMENT_STARTED,
        company=order.company,
        obj=order,
        actor_label="system",
        changes={"cards": order.card_count, "batches": len(batches), "chunks": len(chunk_ids)},
    )
    transaction.on_commit(lambda: chunks_enqueue(chunk_ids))
    return order


def stranded_orders_start(*, stale_seconds: int | None = None, limit: int = 100) -> list[int]:
    """Start the fulfilment of orders funded longer than ``ORDER_FUNDED_STALE_SECONDS`` ago that
    never started (their start message was lost, or recorded before the outbox existed). The
    issuance sweep calls it every minute; a start already under way is not repeated (the order
    row is locked and re-checked). Returns the ids of the orders started."""
    stale = settings.ORDER_FUNDED_STALE_SECONDS if stale_seconds is None else stale_seconds
    cutoff = timezone.now() - datetime.timedelta(seconds=stale)
    stranded = list(
        Order.objects.filter(status=S.FUNDED, funded_at__lt=cutoff, batches__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    started = []
    for order_id in stranded:
        try:
            order = order_begin_fulfilment(order_id=order_id)
        except Exception:
            # One order that cannot start must not hold back the others (nor the chunk sweep).
            logger.exception("the stranded funded order %s could not be started", order_id)
            continue
        if order is not None and order.status == S.FULFILLING:
            started.append(order_id)
    if started:
        logger.warning("started the fulfilment of %s stranded funded order(s)", len(started))
    return started


def order_mark_fulfilled(*, order: Order) -> Order:
    """Every batch is ready: the order's cards can be delivered. The buyer hears of it."""
    _move(order, S.FULFILLED)
    order.save(update_fields=["status", "updated_at"])
    audit_record(
        action=CardsAction.ORDER_FULFILLED,
        company=order.company,
        obj=order,
        actor_label="system",
        changes={"cards": order.card_count},
    )
    from cards.models import DeliveryMethod
    from cards.tasks import order_notify_ready, recipient_deliveries_create

    outbox_enqueue(order_notify_ready, order.pk)
    if order.delivery_method == DeliveryMethod.RECIPIENTS:
        outbox_enqueue(recipient_deliveries_create, order.pk)
    return order


def credit_summary_text(available: Decimal) -> str:
    return _("Available credit: %(amount)s") % {"amount": format_cny(available)}
