"""Report 6: ledger proofs for a period.

The trial balance by account (opening, debits, credits, closing; every column sums so that the
books balance), and the nightly ledger check's own figures as it last ran in the period (card
liability against the balances of live cards, receivables against open invoices, and every other
invariant it checks): the report reads the stored run (``billing.LedgerCheck``), it does not
compute the invariants a second way, and a stored run does not change, so neither does a past
period's report.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Q, Sum
from django.utils.translation import gettext_lazy as _

from billing.models import Account, LedgerCheck, Posting
from billing.money import ZERO
from billing.services.receivables.ledger_check import CHECK_LABELS
from compliance.content import Figure, Period, ReportContent, ReportKind, ReportTable
from portal import days

CARD_CHECK = "card_liability_matches_cards"
RECEIVABLES_CHECK = "receivables_match_invoices"


def trial_balance(period: Period) -> list[dict[str, Any]]:
    """Per account with postings up to the period end: opening (before the start), debits and
    credits in the period (credits as a positive amount), closing."""
    start, end = days.days_bounds(period.start, period.end)
    rows = (
        Posting.objects.filter(entry__created_at__lt=end)
        .values("account_id")
        .annotate(
            opening=Sum("amount", filter=Q(entry__created_at__lt=start)),
            debits=Sum("amount", filter=Q(entry__created_at__gte=start, amount__gt=0)),
            credits=Sum("amount", filter=Q(entry__created_at__gte=start, amount__lt=0)),
        )
    )
    sums = {row["account_id"]: row for row in rows}
    accounts = Account.objects.filter(pk__in=sums).select_related("company").order_by("code")
    found = []
    for account in accounts:
        row = sums[account.pk]
        opening = row["opening"] or ZERO
        debits = row["debits"] or ZERO
        credits = -(row["credits"] or ZERO)
        found.append(
            {
                "account": account,
                "opening": opening,
                "debits": debits,
                "credits": credits,
                "closing": opening + debits - credits,
            }
        )
    return found


def _check_run(period: Period) -> LedgerCheck | None:
    """The nightly check's last run in the period."""
    start, end = days.days_bounds(period.start, period.end)
    return LedgerCheck.objects.filter(ran_at__gte=start, ran_at__lt=end).order_by("-ran_at").first()


def _amount(result: dict[str, Any], key: str) -> Decimal | str:
    value = result.get(key)
    return Decimal(value) if value not in (None, "") else ""


def compute(period: Period) -> ReportContent:
    accounts = trial_balance(period)
    total = {
        key: sum((row[key] for row in accounts), ZERO)
        for key in ("opening", "debits", "credits", "closing")
    }
    balance_rows: list[list[Any]] = [
        [
            row["account"].code,
            row["account"].get_kind_display(),
            row["account"].company.legal_name if row["account"].company_id else "",
            row["opening"],
            row["debits"],
            row["credits"],
            row["closing"],
        ]
        for row in accounts
    ]
    balance_rows.append(
        [_("Total"), "", "", total["opening"], total["debits"], total["credits"], total["closing"]]
    )
    figures = [
        Figure("accounts", _("Accounts with entries"), len(accounts)),
        Figure("opening_total", _("Opening balances, summed (should be 0.00)"), total["opening"]),
        Figure("debits", _("Debits in the period"), total["debits"]),
        Figure("credits", _("Credits in the period"), total["credits"]),
        Figure("closing_total", _("Closing balances, summed (should be 0.00)"), total["closing"]),
    ]
    tables = [
        ReportTable(
            "trial_balance",
            _("Trial balance"),
            [
                _("Account"),
                _("Kind"),
                _("Company"),
                _("Opening"),
                _("Debits"),
                _("Credits"),
                _("Closing"),
            ],
            balance_rows,
        )
    ]
    notes: list[Any] = [
        _(
            "Debits are positive, credits negative; a liability's closing balance "
            "is negative (what it owes)."
        )
    ]
    run = _check_run(period)
    if run is None:
        notes.append(_("The nightly ledger check did not run in this period."))
    else:
        cards = run.results.get(CARD_CHECK, {})
        receivables = run.results.get(RECEIVABLES_CHECK, {})
        figures += [
            Figure("check_ran_at", _("Ledger check used (ran on)"), days.local(run.ran_at).date()),
            Figure("check_ok", _("All invariants held"), _("yes") if run.ok else _("no")),
            Figure("card_liability", _("Card liability (ledger)"), _amount(cards, "actual")),
            Figure("live_card_balances", _("Balances of live cards"), _amount(cards, "expected")),
            Figure("receivables", _("Receivables (ledger)"), _amount(receivables, "actual")),
            Figure("open_invoices", _("Open invoice balances"), _amount(receivables, "expected")),
        ]
        tables.append(
            ReportTable(
                "ledger_check",
                _("The nightly ledger check"),
                [_("Check"), _("Holds"), _("Expected"), _("Actual")],
                [
                    [
                        CHECK_LABELS.get(name, name),
                        _("yes") if result.get("ok") else _("no"),
                        result.get("expected", ""),
                        result.get("actual", ""),
                    ]
                    for name, result in sorted(run.results.items())
                ],
            )
        )
    return ReportContent(figures=figures, tables=tables, notes=notes)


KIND = ReportKind(key="ledger_proofs", title=_("Ledger proofs"), period="any", compute=compute)
