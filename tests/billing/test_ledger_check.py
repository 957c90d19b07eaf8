"""The nightly ledger check: a clean ledger passes; each invariant (the ledger sums to zero, each
company's receivable equals its open invoice balances, card liability equals live card balances)
catches a forced drift, which is stored, logged and emailed to the operators."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from pytest_django.fixtures import Settings

from billing.invariants import registered_invariants
from billing.models import Account, Invoice, JournalEntry, LedgerCheck, Posting
from billing.services.credit import credit_charge
from billing.services.invoices import InvoiceLineData
from billing.services.ledger import account_get, journal_post
from billing.services.payments import payment_record
from billing.services.receivables import ledger_check_run
from billing.tasks import receivables as tasks
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def lines(amount: str) -> list[InvoiceLineData]:
    value = Decimal(amount)
    return [
        InvoiceLineData(
            description="礼品卡",
            face_value=Decimal("100.00"),
            quantity=int(value / 100),
            unit_price=Decimal("100.0000"),
            amount=value,
        )
    ]


class Rollback(Exception):
    pass


@pytest.fixture
def books(settings: Settings):
    """Two companies with invoices, one partly paid through the payment services; an operator."""
    settings.ADMINS = [("Finance ops", "finance-ops@issuer.example")]
    operator = factories.operator("night-ops@issuer.example")
    invoices = []
    for name in ("甲公司", "乙公司"):
        company = factories.company(name)
        factories.credit_line(company)
        for n in range(2):
            invoices.append(
                credit_charge(
                    company=company,
                    order_number=f"PO-{name}-{n}",
                    lines=lines("1000.00"),
                    actor=None,
                )
            )
    payment_record(
        bank_reference=f"B{uuid.uuid4().hex[:10]}",
        payer_name="甲公司",
        payer_account="6222",
        amount="400.00",
        received_on=timezone.localdate(),
        remittance=invoices[0].number,
        actor=None,
    )
    return {"operator": operator, "invoices": invoices}


def test_a_clean_ledger_passes_every_check(books, mailoutbox) -> None:
    run = ledger_check_run()

    assert run.ok is True
    assert LedgerCheck.objects.get() == run
    assert set(run.results) == {
        "ledger_balanced",
        "receivables_match_invoices",
        "card_liability_matches_cards",
        "cards_to_issue_all_started",
        "card_and_expired_liability_match_cards",
        "voided_cards_match_voids",
        "card_balances_match_transactions",
        "card_held_matches_open_holds",
    }
    assert all(result["ok"] for result in run.results.values())
    receivables = run.results["receivables_match_invoices"]
    assert receivables["companies_checked"] == 2
    assert receivables["expected"] == receivables["actual"] == "3600.00"
    assert mailoutbox == []


def test_a_receivable_that_drifts_from_the_invoices_raises_the_alarm(
    books, mailoutbox, caplog
) -> None:
    # Given someone changed an invoice's paid amount behind the services' back
    drifted = books["invoices"][2]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_invoice SET paid_amount = %s WHERE id = %s", ["250.00", drifted.pk]
        )
    caplog.set_level(logging.ERROR, logger="billing.services.receivables")

    run = ledger_check_run()

    assert run.ok is False
    result = run.results["receivables_match_invoices"]
    assert result["ok"] is False
    assert result["drift"] == [
        {
            "company_id": drifted.company_id,
            "company": "乙公司",
            "receivable": "2000.00",
            "open_invoices": "1750.00",
        }
    ]
    assert run.results["ledger_balanced"]["ok"] is True
    assert f"ledger check {run.pk} found drift: receivables_match_invoices" in caplog.text
    [mail] = mailoutbox
    assert sorted(mail.to) == ["finance-ops@issuer.example", "night-ops@issuer.example"]
    assert f"Ledger check {run.pk} found a drift" in mail.subject
    assert "receivable ¥2,000.00, open invoices ¥1,750.00" in mail.body
    assert f"/billing/ledgercheck/{run.pk}/" in mail.body


def test_a_ledger_that_does_not_sum_to_zero_raises_the_alarm(books, mailoutbox) -> None:
    # Given a posting written without its other side (as if the database trigger were missing:
    # inside this test's transaction the deferred check never comes)
    entry = JournalEntry.objects.filter(kind="invoice_issued").first()
    runs: list[LedgerCheck] = []

    def force_drift_and_check() -> None:
        with transaction.atomic():
            Posting.objects.create(
                entry=entry, account=account_get(Account.Kind.CASH), amount=Decimal("1.00")
            )
            runs.append(ledger_check_run())
            raise Rollback  # the test's own transaction must still pass the deferred check

    with pytest.raises(Rollback):
        force_drift_and_check()

    [run] = runs
    assert run.ok is False
    result = run.results["ledger_balanced"]
    assert result["ok"] is False
    assert result["actual"] == "1.00"
    assert result["unbalanced_entries"] == [entry.pk]
    assert run.results["receivables_match_invoices"]["ok"] is True
    assert len(mailoutbox) == 1
    assert "expected ¥0.00, found ¥1.00" in mailoutbox[0].body


def test_card_liability_without_cards_behind_it_raises_the_alarm(books, mailoutbox) -> None:
    assert "card_liability_matches_cards" in dict(registered_invariants())
    journal_post(
        kind="card_issuance",
        idempotency_key="forced-drift",
        postings=[
            (account_get(Account.Kind.CARDS_TO_ISSUE), Decimal("500.00")),
            (account_get(Account.Kind.CARD_LIABILITY), Decimal("-500.00")),
        ],
        reference="no cards",
    )

    run = ledger_check_run()

    assert run.ok is False
    assert run.results["card_liability_matches_cards"] == {
        "ok": False,
        "expected": "0.00",
        "actual": "500.00",
    }
    assert len(mailoutbox) == 1


def test_the_nightly_task_stores_the_run(books, mailoutbox) -> None:
    Invoice.objects.filter(pk=books["invoices"][1].pk).update(paid_amount=Decimal("1.00"))
    assert tasks.ledger_check() == {"id": LedgerCheck.objects.get().pk, "ok": False}
    assert len(mailoutbox) == 1


# --- The operators' admin -----------------------------------------------------------------------


@pytest.fixture
def admin_client(client):
    from tests.conftest import sign_in

    ops = factories.operator("admin-ops@issuer.example")
    ops.is_superuser = True
    ops.save(update_fields=["is_superuser"])
    sign_in(client, ops, second_factor=True)
    return client


def test_the_latest_failing_check_is_announced_and_a_check_can_be_run_now(
    books, admin_client, mailoutbox
) -> None:
    ledger_check_run()  # clean
    Invoice.objects.filter(pk=books["invoices"][3].pk).update(paid_amount=Decimal("5.00"))
    failing = ledger_check_run()

    listing = admin_client.get("/ops/billing/ledgercheck/", HTTP_ACCEPT_LANGUAGE="en")
    assert listing.status_code == 200
    assert 'data-testid="ledger-drift"' in listing.text
    assert f"/ops/billing/ledgercheck/{failing.pk}/change/" in listing.text
    assert "found a drift in: Each company&#x27;s receivable equals" in listing.text
    detail = admin_client.get(f"/ops/billing/ledgercheck/{failing.pk}/change/")
    assert "expected 3595.00, found 3600.00" in detail.text

    Invoice.objects.filter(pk=books["invoices"][3].pk).update(paid_amount=Decimal("0.00"))
    response = admin_client.post("/ops/billing/ledgercheck/run/", follow=True)
    assert response.status_code == 200
    latest = LedgerCheck.objects.order_by("-ran_at", "-id").first()
    assert latest.ok is True
    assert "Every invariant holds." in response.text
    assert admin_client.get("/ops/billing/ledgercheck/run/").status_code == 405
    assert admin_client.post(f"/ops/billing/ledgercheck/{latest.pk}/delete/").status_code == 403


def test_the_aging_report_of_all_companies_in_the_admin(books, admin_client) -> None:
    today = timezone.localdate().isoformat()
    page = admin_client.get("/ops/billing/credithold/aging/", {"as_of": today})
    assert page.status_code == 200
    assert "甲公司" in page.text
    assert "乙公司" in page.text
    assert "¥3,600.00" in page.text  # all companies, all buckets

    export = admin_client.get("/ops/billing/credithold/aging/", {"as_of": today, "format": "csv"})
    assert export["Content-Type"].startswith("text/csv")
    text = export.content.decode("utf-8-sig")
    assert "甲公司" in text
    assert "乙公司" in text
    assert "3600.00" in text

    future = admin_client.get("/ops/billing/credithold/aging/", {"as_of": "2999-01-01"})
    assert "2999-01-01 is in the future" in future.text


def test_the_aging_report_is_for_operators_only(books, client) -> None:
    from tests.conftest import sign_in

    buyer = factories.member(factories.company(), "owner")
    sign_in(client, buyer, second_factor=True)
    response = client.get("/ops/billing/credithold/aging/")
    assert response.status_code == 302
    assert "/ops/login/" in response["Location"]
