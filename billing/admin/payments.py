"""Operators' admin for payments (imported by billing/admin/).

Payments are recorded (by hand or from a bank statement file) and allocated only through the
services in billing.services.payments; allocations are evidence: never edited, only reversed
(with a reason) by a new allocation (billing/admin/allocations.py). Every step is audited with
the operator and their IP.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.admin.base import ReadOnlyAdmin, ReadOnlyInline
from billing.models import Allocation, Invoice, Payment
from billing.money import ZERO, format_cny, parse_amount
from billing.services.payments import (
    PAYABLE_STATUSES,
    allocation_create,
    company_credit_available,
    payable_balance,
    payment_record,
)
from portal.models import Company
from portal.services.audit import client_ip

ALLOCATE_PERMISSION = "billing.change_payment"


def _errors(exc: ValidationError) -> list[str]:
    return [str(message) for message in exc.messages]


# --- Forms --------------------------------------------------------------------------------------


class PaymentRecordForm(forms.Form):
    bank_reference = forms.CharField(
        label=gettext_lazy("Bank reference"),
        max_length=64,
        required=False,
        help_text=gettext_lazy(
            "The bank's transaction number (流水号); the same one is one payment."
        ),
    )
    payer_name = forms.CharField(label=gettext_lazy("Payer"), max_length=200)
    payer_account = forms.CharField(
        label=gettext_lazy("Payer account"), max_length=64, required=False
    )
    amount = forms.CharField(label=gettext_lazy("Amount (CNY)"), max_length=32)
    received_on = forms.DateField(label=gettext_lazy("Received on"), initial=timezone.localdate)
    remittance = forms.CharField(
        label=gettext_lazy("Remittance text"),
        max_length=300,
        required=False,
        help_text=gettext_lazy("What the payer wrote (附言); invoice numbers in it are matched."),
    )
    company = forms.ModelChoiceField(
        label=gettext_lazy("Company"),
        queryset=Company.objects.live().order_by("legal_name"),
        required=False,
        help_text=gettext_lazy("Leave empty when the payer is not known yet."),
    )

    def clean_amount(self) -> Decimal:
        value = parse_amount(self.cleaned_data["amount"], field=_("Amount"))
        if value <= 0:
            raise ValidationError(_("The amount must be more than zero."))
        return value


# --- Payments -----------------------------------------------------------------------------------


class AllocationInline(ReadOnlyInline):
    model = Allocation
    fk_name = "payment"
    fields = ["created_at", "kind", "method", "invoice", "amount", "reverses", "note", "created_by"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "received_on",
        "bank_reference",
        "payer_name",
        "amount_display",
        "unallocated_display",
        "status",
        "company",
        "source",
        "allocate_link",
    ]
    list_filter = ["status", "source", "received_on"]
    search_fields = [
        "bank_reference",
        "payer_name",
        "payer_account",
        "remittance",
        "company__legal_name",
    ]
    list_select_related = ["company"]
    date_hierarchy = "received_on"
    fields = [
        "bank_reference",
        "payer_name",
        "payer_account",
        "amount",
        "received_on",
        "remittance",
        "company",
        "status",
        "allocated_amount",
        "source",
        "statement_import",
        "created_by",
        "created_at",
        "allocate_link",
    ]
    readonly_fields = ["allocate_link"]
    inlines = [AllocationInline]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("billing.add_payment")

    def has_allocate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ALLOCATE_PERMISSION)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/allocate/",
                self.admin_site.admin_view(self.allocate_view),
                name="billing_payment_allocate",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("amount"), ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return format_cny(obj.amount)

    @admin.display(description=gettext_lazy("unallocated"))
    def unallocated_display(self, obj: Payment) -> str:
        return format_cny(obj.unallocated)

    @admin.display(description=gettext_lazy("allocate"))
    def allocate_link(self, obj: Payment) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:billing_payment_allocate", args=[obj.pk])
        label = _("Allocate") if obj.unallocated > 0 else _("Allocations")
        return format_html('<a href="{}">{}</a>', url, label)

    # -- recording by hand

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PaymentRecordForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                payment, created = payment_record(
                    bank_reference=data["bank_reference"],
                    payer_name=data["payer_name"],
                    payer_account=data["payer_account"],
                    amount=data["amount"],
                    received_on=data["received_on"],
                    remittance=data["remittance"],
                    company=data["company"],
                    actor=request.user,  # type: ignore[arg-type]
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                for message in _errors(exc):
                    form.add_error(None, message)
            else:
                if created:
                    self.message_user(request, _payment_outcome(payment), messages.SUCCESS)
                else:
                    self.message_user(
                        request,
                        _(
                            "Payment %(reference)s was recorded before (%(date)s, %(amount)s); "
                            "nothing new was created."
                        )
                        % {
                            "reference": payment.bank_reference or "-",
                            "date": payment.received_on,
                            "amount": format_cny(payment.amount),
                        },
                        messages.WARNING,
                    )
                return HttpResponseRedirect(
                    reverse("admin:billing_payment_allocate", args=[payment.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Record a payment"),
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/billing/payment/record.html", context)

    # -- allocating by hand

    def allocate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_allocate_permission(request):
            raise PermissionDenied
        payment = (
            Payment.objects.select_related("company").filter(pk=object_id).first()
            if object_id.isdigit()
            else None
        )
        if payment is None:
            raise Http404
        company = payment.company
        if company is None:
            chosen = request.POST.get("company") or request.GET.get("company") or ""
            company = Company.objects.filter(pk=chosen).first() if chosen.isdigit() else None
        invoices = (
            list(
                Invoice.objects.filter(
                    company=company,
                    kind__in=[Invoice.Kind.INVOICE, Invoice.Kind.PROFORMA],
                    status__in=PAYABLE_STATUSES,
                ).order_by("issue_date", "id")
            )
            if company is not None
            else []
        )
        errors: list[str] = []
        values: dict[str, str] = {}
        if request.method == "POST":
            errors, plan, to_credit = _read_plan(request, invoices, values)
            if not errors:
                try:
                    created = allocation_create(
                        payment=payment,
                        allocations=plan,
                        to_credit=to_credit,
                        actor=request.user,  # type: ignore[arg-type]
                        note=request.POST.get("note", "")[:300],
                        ip=client_ip(request),
                        company=company,
                    )
                except ValidationError as exc:
                    errors = _errors(exc)
                else:
                    self.message_user(
                        request,
                        _("Payment %(reference)s: %(count)s allocation(s) made.")
                        % {"reference": payment.bank_reference or "-", "count": len(created)},
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:billing_payment_allocate", args=[payment.pk])
                    )
        payment.refresh_from_db()
        rows = [
            {
                "invoice": invoice,
                "field": f"amount_{invoice.public_id}",
                "value": values.get(f"amount_{invoice.public_id}", ""),
                "total": format_cny(invoice.total),
                "balance": format_cny(payable_balance(invoice)),
                "overdue": invoice.status == Invoice.Status.OVERDUE,
            }
            for invoice in invoices
        ]
        allocations = [
            {
                "allocation": allocation,
                "amount": format_cny(allocation.amount),
                "reversible": allocation.reverses_id is None
                and not hasattr(allocation, "reversed_by"),
                "reverse_url": reverse("admin:billing_allocation_reverse", args=[allocation.pk]),
            }
            for allocation in payment.allocations.select_related("invoice", "created_by")
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Allocate payment %(reference)s")
            % {"reference": payment.bank_reference or payment.public_id},
            "payment": payment,
            "amount": format_cny(payment.amount),
            "unallocated": format_cny(payment.unallocated),
            "company": company,
            "companies": Company.objects.live().order_by("legal_name")
            if payment.company is None
            else [],
            "credit": format_cny(company_credit_available(company)) if company else None,
            "rows": rows,
            "allocations": allocations,
            "errors": errors,
            "to_credit": values.get("to_credit", ""),
            "note": request.POST.get("note", ""),
        }
        return TemplateResponse(request, "admin/billing/payment/allocate.html", context)


def _read_plan(
    request: HttpRequest, invoices: list[Invoice], values: dict[str, str]
) -> tuple[list[str], list[tuple[Invoice, Decimal]], Decimal]:
    errors: list[str] = []
    plan: list[tuple[Invoice, Decimal]] = []
    for invoice in invoices:
        name = f"amount_{invoice.public_id}"
        raw = request.POST.get(name, "").strip()
        values[name] = raw
        if not raw:
            continue
        try:
            amount = parse_amount(raw, field=invoice.number)
        except ValidationError as exc:
            errors += _errors(exc)
            continue
        if amount < 0:
            errors.append(
                _("%(number)s: %(value)s is negative; give the amount to allocate.")
                % {"number": invoice.number, "value": raw}
            )
        elif amount > 0:
            plan.append((invoice, amount))
    raw_credit = request.POST.get("to_credit", "").strip()
    values["to_credit"] = raw_credit
    to_credit = ZERO
    if raw_credit:
        try:
            to_credit = parse_amount(raw_credit, field=_("Keep as company credit"))
        except ValidationError as exc:
            errors += _errors(exc)
    return errors, plan, to_credit


def _payment_outcome(payment: Payment) -> str:
    if payment.status == Payment.Status.UNMATCHED:
        return _("Payment %(reference)s recorded; it waits in the unmatched queue.") % {
            "reference": payment.bank_reference or "-"
        }
    return _("Payment %(reference)s recorded and matched automatically (%(status)s).") % {
        "reference": payment.bank_reference or "-",
        "status": payment.get_status_display(),
    }
