"""Telling the company: its finance members (else its owners) and its billing address emailed
once a statement is issued (who is told: ``portal.notices``)."""

from __future__ import annotations

import logging

from billing.models import Statement
from billing.money import ZERO, format_cny
from billing.services.receivables.notices import finance_recipients
from portal.models import Company
from portal.notices import Notice, notice_compose, notice_link, notice_send

# The package's logger, named as before the split into modules.
logger = logging.getLogger("billing.services.statements")


def statement_recipients(company: Company) -> list[str]:
    """Who is told of a statement: those told of the company's invoices."""
    return finance_recipients(company)


def statement_notify(*, statement_id: int) -> bool:
    """Email the company that the statement is issued. Called once, after the commit that
    issued it (a statement is issued once, and an issued statement refuses any change, so it
    carries no "notified" marker): a failure is logged, not retried."""

    def prepare() -> Notice | str:
        statement = (
            Statement.objects.select_related("company")
            .filter(pk=statement_id, status=Statement.Status.ISSUED)
            .first()
        )
        if statement is None:
            return "missing"
        to = statement_recipients(statement.company)
        if not to:
            return "no-contacts"
        subject, body = notice_compose(
            "billing/statements/email",
            {
                "statement": statement,
                "link": notice_link("billing:statement_list"),
                "closing": format_cny(statement.closing_balance or ZERO),
            },
        )
        return Notice(to=to, subject=subject, body=body)

    try:
        return notice_send(prepare=prepare) == "sent"
    except Exception:
        logger.exception("statement %s: the email to the company failed", statement_id)
        return False
