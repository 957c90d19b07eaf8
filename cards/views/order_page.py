"""Portal page of one order, with its actions (submit, approve, reject, cancel). Views read
through ``cards.selectors`` scoped by ``portal.access`` and change state only through
``cards.services``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing.models import Invoice
from billing.money import format_cny
from billing.selectors import proforma_transfer_instructions
from billing.services.credit import credit_position
from cards import selectors
from cards.forms import MAX_FORM_LINES
from cards.models import Order, OrderStatus, PaymentMethod
from cards.services.workflow import (
    CANCELLABLE,
    order_approve,
    order_cancel,
    order_reject,
    order_submit,
)
from cards.views._common import _actor, _error_text
from portal import policy
from portal.access import (
    active_membership,
    company_member_required,
    company_objects,
    get_company_object_or_404,
)
from portal.models import AuditEvent
from portal.policy import Action
from portal.services.audit import client_ip

LINES_PER_PAGE = 50


# --- Order page and its actions ------------------------------------------------------------------


def _next_step(order: Order) -> str:
    """What happens next, in the buyer's words."""
    if order.status == OrderStatus.PENDING_APPROVAL:
        return _("It waits for one of your company's approvers.")
    if order.status == OrderStatus.PENDING_REVIEW:
        return _("Our team reviews it before it goes ahead.")
    if order.status == OrderStatus.AWAITING_PAYMENT and order.proforma is not None:
        return _(
            "Transfer %(amount)s with the payment reference %(reference)s; the cards are "
            "generated when the money arrives."
        ) % {
            "amount": format_cny(order.proforma.total),
            "reference": order.proforma.payment_reference,
        }
    if order.status in (OrderStatus.FUNDED, OrderStatus.FULFILLING) and order.invoice is not None:
        return _("Invoice %(invoice)s was issued and the cards are being generated.") % {
            "invoice": order.invoice.number
        }
    return ""


def _submit(request: HttpRequest, order: Order, *, just_saved: bool = False) -> None:
    try:
        submitted = order_submit(order=order, actor=_actor(request), ip=client_ip(request))
    except (ValidationError, PermissionDenied) as exc:
        if just_saved:
            messages.error(
                request,
                _("Draft %(number)s was saved but not submitted: %(reason)s")
                % {"number": order.number, "reason": _error_text(exc)},
            )
        else:
            messages.error(request, _error_text(exc))
        return
    done = _("Order %(number)s submitted.") % {"number": submitted.number}
    messages.success(request, f"{done} {_next_step(submitted)}".strip())


def _order_for_action(request: HttpRequest, number: str) -> Order:
    return get_company_object_or_404(
        request, Order.objects.select_related("company"), number=number
    )


@company_member_required
@require_POST
def order_submit_view(request: HttpRequest, number: str) -> HttpResponse:
    order = _order_for_action(request, number)
    _submit(request, order)
    return redirect("cards:order_detail", number=order.number)


@company_member_required
@require_POST
def order_approve_view(request: HttpRequest, number: str) -> HttpResponse:
    order = _order_for_action(request, number)
    try:
        approved = order_approve(order=order, actor=_actor(request), ip=client_ip(request))
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        done = _("Order %(number)s approved.") % {"number": approved.number}
        messages.success(request, f"{done} {_next_step(approved)}".strip())
    return redirect("cards:order_detail", number=order.number)


@company_member_required
@require_POST
def order_reject_view(request: HttpRequest, number: str) -> HttpResponse:
    order = _order_for_action(request, number)
    try:
        order_reject(
            order=order,
            actor=_actor(request),
            reason=request.POST.get("reason", ""),
            ip=client_ip(request),
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request,
            _("Order %(number)s rejected. Its creator is told your reason.")
            % {"number": order.number},
        )
    return redirect("cards:order_detail", number=order.number)


@company_member_required
@require_POST
def order_cancel_view(request: HttpRequest, number: str) -> HttpResponse:
    order = _order_for_action(request, number)
    try:
        order_cancel(
            order=order,
            actor=_actor(request),
            reason=request.POST.get("reason", ""),
            ip=client_ip(request),
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Order %(number)s cancelled.") % {"number": order.number})
    return redirect("cards:order_detail", number=order.number)


@company_member_required
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = get_company_object_or_404(
        request,
        Order.objects.select_related(
            "created_by", "registration", "invoice", "proforma", "approved_by"
        ),
        number=number,
    )
    membership = active_membership(request)
    is_creator = order.created_by_id == request.user.pk
    waiting = order.status == OrderStatus.PENDING_APPROVAL
    cancellable = order.status in CANCELLABLE
    may_cancel = policy.can(membership, Action.ORDER_CANCEL) and (
        is_creator or policy.can(membership, Action.ORDER_CANCEL_ANY)
    )
    # What the order's state would allow but this person's role does not: the page says why.
    unavailable = [
        policy.refusal(action)
        for action, pending in (
            (Action.ORDER_SUBMIT, order.status == OrderStatus.DRAFT),
            (Action.ORDER_APPROVE, waiting and not is_creator),
            (Action.ORDER_CANCEL, cancellable),
        )
        if pending and not policy.can(membership, action)
    ]
    if cancellable and policy.can(membership, Action.ORDER_CANCEL) and not may_cancel:
        unavailable.append(policy.refusal(Action.ORDER_CANCEL_ANY))
    lines = Paginator(
        order.lines.select_related("product").order_by("position"), LINES_PER_PAGE
    ).get_page(request.GET.get("lines_page"))
    adjustment = order.total - order.face_total
    context = {
        "order": order,
        "lines": lines,
        "adjustment": abs(adjustment),
        "is_fee": adjustment > 0,
        "documents": company_objects(request, Invoice)
        .filter(order_number=order.number)
        .order_by("created_at", "id"),
        "credit": (
            credit_position(order.company)
            if order.payment_method == PaymentMethod.CREDIT and order.is_open
            else None
        ),
        "events": selectors.order_history(company_objects(request, AuditEvent), order),
        "is_creator": is_creator,
        "can_edit": order.is_editable
        and policy.can(membership, Action.ORDER_CREATE)
        and order.line_count <= MAX_FORM_LINES,
        "can_submit": order.status == OrderStatus.DRAFT
        and policy.can(membership, Action.ORDER_SUBMIT),
        "can_decide": waiting and policy.can(membership, Action.ORDER_APPROVE) and not is_creator,
        "own_waiting": waiting and is_creator,
        "can_cancel": cancellable and may_cancel,
        "unavailable": unavailable,
        "next_step": _next_step(order),
        # While a pro-forma order waits for its transfer: the bank details of its PDF.
        "transfer": (
            proforma_transfer_instructions(order.proforma)
            if order.status == OrderStatus.AWAITING_PAYMENT
            and order.payment_method == PaymentMethod.BANK_TRANSFER
            else None
        ),
    }
    return render(request, "cards/order_detail.html", context)
