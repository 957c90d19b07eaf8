"""Report 6: the trial balance sums to zero and matches each account's postings; the card
liability and receivables figures are the nightly check's own."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import Account, Invoice
from billing.money import ZERO
from billing.services.receivables import ledger_check_run
from compliance.reports import ledger_proofs
from compliance.services.filing import report_compute

from .report_helpers import (
    CARD_LIABILITY,
    bearer_product,
    buyer,
    figures,
    issued,
    line,
    merchant,
    owed,
    spend,
    table,
    this_month,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def books() -> dict:
    acme = buyer("Acme")
    cards = issued(acme, [line(bearer_product(), "100", 3)])
    spend(cards[0], "40.00", merchant())
    return {"acme": acme, "run": ledger_check_run()}


def test_the_trial_balance_sums_to_zero_and_each_closing_is_the_accounts_balance(books) -> None:
    content = ledger_proofs.compute(this_month())
    got = figures(content)
    assert got["opening_total"] == ZERO
    assert got["closing_total"] == ZERO
    assert got["debits"] == got["credits"] > ZERO
    rows = {row[0]: row for row in table(content, "trial_balance")}
    card = rows[Account.Kind.CARD_LIABILITY.value]
    assert card[3:] == [ZERO, Decimal("40.00"), Decimal("300.00"), -owed(CARD_LIABILITY)]
    receivable_total = sum(
        (row[6] for code, row in rows.items() if str(code).startswith("receivable:")), ZERO
    )
    open_invoices = sum(
        (i.total - i.paid_amount for i in Invoice.objects.filter(company=books["acme"].company)),
        ZERO,
    )
    assert receivable_total == open_invoices > ZERO


def test_card_liability_and_receivables_are_the_nightly_checks_figures(books) -> None:
    run = books["run"]
    assert run.ok
    got = figures(ledger_proofs.compute(this_month()))
    assert got["card_liability"] == got["live_card_balances"] == owed(CARD_LIABILITY)
    assert got["card_liability"] == Decimal("260.00")
    assert (
        got["receivables"]
        == got["open_invoices"]
        == Decimal(run.results["receivables_match_invoices"]["actual"])
    )
    assert str(got["check_ok"]) == "yes"


def test_without_a_check_in_the_period_the_report_says_so(books) -> None:
    books["run"].delete()
    content = report_compute(kind="ledger_proofs", period=this_month()).content
    assert "card_liability" not in figures(content)
    assert "The nightly ledger check did not run in this period." in [str(n) for n in content.notes]
