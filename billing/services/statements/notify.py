"""Telling the company: the finance members (else the owners) emailed once a statement is
issued."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from billing.models import Statement
from billing.money import ZERO, format_cny
from portal.models import Company, Membership, Role

# The package's logger, named as before the split into modules.
logger = logging.getLogger("billing.services.statements")


def statement_recipients(company: Company) -> list[str]:
    members = Membership.objects.filter(company=company, user__is_active=True).select_related(
        "user"
    )
    finance = sorted({m.user.email for m in members if m.role == Role.FINANCE})
    return finance or sorted({m.user.email for m in members if m.role == Role.OWNER})


def _bilingual(template: str, context: dict[str, object]) -> tuple[str, str]:
    bodies, subjects = [], []
    for language in ("zh-hans", "en"):
        with translation.override(language):
            bodies.append(render_to_string(f"billing/statements/{template}.txt", context))
            subjects.append(
                render_to_string(f"billing/statements/{template}_subject.txt", context).strip()
            )
    return " / ".join(subjects), "\n\n----\n\n".join(bodies)


def statement_notify(*, statement_id: int) -> bool:
    """Email the finance members (else the owners) that the statement is issued. Called once,
    after the commit that issued it (a statement is issued once)."""
    statement = (
        Statement.objects.select_related("company")
        .filter(pk=statement_id, status=Statement.Status.ISSUED)
        .first()
    )
    if statement is None:
        return False
    emails = statement_recipients(statement.company)
    if not emails:
        return False
    link = settings.PORTAL_BASE_URL.rstrip("/") + reverse("billing:statement_list")
    subject, body = _bilingual(
        "email",
        {
            "statement": statement,
            "link": link,
            "closing": format_cny(statement.closing_balance or ZERO),
        },
    )
    try:
        send_mail(subject=subject, message=body, from_email=None, recipient_list=emails)
    except Exception:
        logger.exception("statement %s: the email to the company failed", statement.number)
        return False
    return True
