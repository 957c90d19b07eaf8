"""Portal pages of the billing core: invoices (HTML and PDF) and the company's credit terms."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from billing import selectors
from billing.models import Invoice
from billing.pdf import render_pdf
from billing.services.credit import credit_position
from billing.services.receivables import credit_hold_open
from portal.access import (
    active_company,
    company_objects,
    get_company_object_or_404,
    policy_required,
)
from portal.policy import Action

INVOICES_PER_PAGE = 25


@policy_required(Action.INVOICES_READ)
def invoice_list(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    search = request.GET.get("q", "").strip()
    invoices = selectors.invoice_filter(
        company_objects(request, Invoice), kind=kind, status=status, search=search
    )
    page = Paginator(invoices, INVOICES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/invoice_list.html",
        {
            "page": page,
            "kinds": Invoice.Kind.choices,
            "statuses": Invoice.Status.choices,
            "kind": kind,
            "status": status,
            "q": search,
        },
    )


def _document(request: HttpRequest, number: str) -> selectors.InvoiceDocument:
    invoice = get_company_object_or_404(request, Invoice, number=number)
    return selectors.invoice_document(invoice, documents=company_objects(request, Invoice))


@policy_required(Action.INVOICES_READ)
def invoice_detail(request: HttpRequest, number: str) -> HttpResponse:
    return render(request, "billing/invoice_detail.html", {"doc": _document(request, number)})


@never_cache
@policy_required(Action.INVOICES_READ)
def invoice_pdf(request: HttpRequest, number: str) -> HttpResponse:
    document = _document(request, number)
    pdf = render_pdf("billing/invoice_pdf.html", {"doc": document})
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.invoice.number}.pdf"'
    return response


@policy_required(Action.CREDIT_READ)
def credit(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    position = credit_position(active_company(request), today=today)
    invoices = company_objects(request, Invoice)
    return render(
        request,
        "billing/credit.html",
        {
            "position": position,
            "status_label": selectors.credit_status_label(position.status) if position else "",
            "chart": selectors.credit_use_chart(position) if position else None,
            "open_invoices": (
                selectors.credit_open_invoices(invoices, position, today=today) if position else []
            ),
            "open_balance": selectors.open_invoice_balance(invoices),
            "today": today,
            # Receivables: the open hold on credit orders, and what falls due next.
            "hold": credit_hold_open(active_company(request)),
            "next_due_amount": (
                selectors.open_invoice_balance(invoices.filter(due_date=position.next_due))
                if position and position.next_due
                else None
            ),
        },
    )
