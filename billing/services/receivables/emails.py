"""Who hears about receivables and how: the contacts of a company and of the issuer, bilingual
messages, and what a reminder email says."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from billing.models import InvoiceReminder
from billing.money import format_cny
from portal.models import Company, Membership, Role, User


def bilingual(template: str, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body in Chinese, then English (as every message of the portal)."""
    bodies, subjects = [], []
    for language in ("zh-hans", "en"):
        with translation.override(language):
            bodies.append(render_to_string(f"emails/{template}.txt", context))
            subjects.append(render_to_string(f"emails/{template}_subject.txt", context).strip())
    return " / ".join(subjects), "\n\n----\n\n".join(bodies)


def finance_contacts(company: Company) -> list[str]:
    """Who hears about the company's invoices: its finance members (its owners when it has
    none) and its billing address."""
    members = Membership.objects.filter(company=company, user__is_active=True).select_related(
        "user"
    )
    emails = {m.user.email for m in members if m.role == Role.FINANCE and m.user.email}
    if not emails:
        emails = {m.user.email for m in members if m.role == Role.OWNER and m.user.email}
    if company.billing_email:
        emails.add(company.billing_email)
    return sorted(emails)


def operator_contacts() -> list[str]:
    """The issuer's operators (active staff) and settings.ADMINS."""
    emails = set(
        User.objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    for admin in getattr(settings, "ADMINS", []):
        emails.add(admin[1] if isinstance(admin, (list, tuple)) else str(admin))
    return sorted(emails)


def reminder_context(reminder: InvoiceReminder) -> dict[str, Any]:
    from django.urls import reverse

    from billing.selectors import platform_seller

    invoice = reminder.invoice
    today = timezone.localdate()
    assert invoice.due_date is not None
    return {
        "reminder": reminder,
        "invoice": invoice,
        "company": invoice.company,
        "balance": format_cny(invoice.balance_due),
        "total": format_cny(invoice.total),
        "due_date": invoice.due_date.isoformat(),
        "days_to_due": (invoice.due_date - today).days,
        "days_past_due": (today - invoice.due_date).days,
        "seller": platform_seller(),
        "link": settings.PORTAL_BASE_URL.rstrip("/")
        + reverse("billing:invoice_detail", args=[invoice.number]),
    }
