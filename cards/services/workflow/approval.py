"""From draft to funding: submit (with the risk flags), the company's approval or rejection,
and an operator's risk review."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import locks
from billing.money import format_cny
from billing.services import credit as credit_services
from cards.audit import CardsAction
from cards.models import REGISTRATION_ORDER_THRESHOLD, CardType, Order, PaymentMethod
from cards.services.orders import LineInput, order_lines_check, registration_required
from portal import days, policy
from portal.models import Company, User
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue
from webhooks.events import EventType

from .base import OrderStateError, S, _lock, _move, _require_reason, order_event
from .funding import _fund


def order_risk_flags(order: Order) -> list[str]:
    """Why an operator must look at this order before it goes ahead (empty: no reason)."""
    flags = []
    if order.total >= settings.ORDER_PLATFORM_LIMIT:
        flags.append("platform_limit")
    start = days.day_start(days.today())
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
    # Test mode (docs/api.md): a sandbox's order needs no credit and no operator's review.
    sandbox = company.is_sandbox
    if locked.payment_method == PaymentMethod.CREDIT and not sandbox:
        credit_services.credit_check(company, locked.total, exclude_reference=locked.number)
    locked.submitted_at = timezone.now()
    locked.company = company
    locked.risk_flags = [] if sandbox else order_risk_flags(locked)
    locked.needs_approval = locked.total > company.approval_threshold
    audit_record(
        action=CardsAction.ORDER_SUBMITTED,
        actor=actor,
        company=company,
        obj=locked,
        ip=ip,
        changes={"total": str(locked.total), "risk_flags": locked.risk_flags},
    )
    order_event(locked, EventType.ORDER_SUBMITTED, needs_approval=locked.needs_approval)
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
    order_event(locked, EventType.ORDER_APPROVED, by="company")
    return _after_company_approval(locked, actor=actor, ip=ip)


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
    order_event(locked, EventType.ORDER_REJECTED, reason=reason)
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
    order_event(locked, EventType.ORDER_APPROVED, by="issuer")
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
    order_event(locked, EventType.ORDER_REJECTED, reason=reason)
    from cards.tasks import order_notify_creator

    outbox_enqueue(order_notify_creator, locked.pk)
    return locked
