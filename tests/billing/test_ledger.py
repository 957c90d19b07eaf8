"""The double-entry journal: every entry sums to zero (in Python and, at commit, in PostgreSQL),
sales post receivable against card liability with the discount or fee between, and journal rows
are never updated or deleted."""

# Optional relations (order.invoice, a credit position...) are set in these stories; a None
# fails the test at once, so mypy need not be told each time.
# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import ProtectedError, Sum

from billing.models import Account, CompanyPricing, Invoice, JournalEntry, Posting
from billing.services.invoices import InvoiceLineData, invoice_issue, invoice_void
from billing.services.ledger import UnbalancedEntry, account_balance, account_get, journal_post
from billing.services.pricing import price_factor, price_line, pricing_set
from cards.models import OrderStatus
from cards.services.workflow import order_cancel
from portal.models import Role
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def postings_of(entry: JournalEntry) -> dict[str, Decimal]:
    return {p.account.kind: p.amount for p in entry.postings.select_related("account")}


def fire_deferred_constraints() -> None:
    """The balance check is a deferred trigger that runs at commit; a test's transaction never
    commits, so ask PostgreSQL to run pending checks now."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def sale_lines(company, face_value: str, quantity: int) -> list[InvoiceLineData]:
    price = price_line(
        factor=price_factor(company), face_value=Decimal(face_value), quantity=quantity
    )
    return [
        InvoiceLineData(
            description="礼品卡",
            face_value=Decimal(face_value),
            quantity=quantity,
            unit_price=price.unit_price,
            amount=price.amount,
        )
    ]


def issue(company, face_value: str = "199.99", quantity: int = 3) -> Invoice:
    return invoice_issue(
        company=company,
        order_number="PO-L1",
        lines=sale_lines(company, face_value, quantity),
        net_days=30,
        actor=None,
    )


def entry_for(invoice: Invoice) -> JournalEntry:
    return JournalEntry.objects.get(reference=invoice.number)


# --- journal_post --------------------------------------------------------------------------------


def test_a_balanced_entry_is_posted_with_amounts_netted_per_account() -> None:
    cash, income = account_get("cash"), account_get("fee_income")
    entry = journal_post(
        kind="test",
        idempotency_key="t1",
        postings=[(cash, Decimal("60.00")), (cash, Decimal("40.00")), (income, Decimal("-100"))],
    )
    assert postings_of(entry) == {"cash": Decimal("100.00"), "fee_income": Decimal("-100.00")}
    fire_deferred_constraints()


def test_an_unbalanced_entry_is_refused_before_it_reaches_the_database() -> None:
    with pytest.raises(UnbalancedEntry):
        journal_post(
            kind="test",
            idempotency_key="t1",
            postings=[
                (account_get("cash"), Decimal("100.00")),
                (account_get("fee_income"), Decimal("-99.99")),
            ],
        )
    assert not JournalEntry.objects.exists()


def test_an_entry_of_one_account_is_refused() -> None:
    cash = account_get("cash")
    with pytest.raises(UnbalancedEntry):
        journal_post(
            kind="test",
            idempotency_key="t1",
            postings=[(cash, Decimal("5")), (cash, Decimal("-5"))],
        )


def test_the_same_event_cannot_be_posted_twice() -> None:
    legs = [(account_get("cash"), Decimal("1")), (account_get("fee_income"), Decimal("-1"))]
    journal_post(kind="test", idempotency_key="once", postings=legs)
    with pytest.raises(IntegrityError), transaction.atomic():
        journal_post(kind="test", idempotency_key="once", postings=legs)


# --- The database's own guard --------------------------------------------------------------------


def test_an_unbalanced_entry_written_directly_is_refused_by_postgresql() -> None:
    # Given an entry whose postings are written straight through the ORM and do not balance
    entry = JournalEntry.objects.create(kind="manual", idempotency_key="m1")
    Posting.objects.create(entry=entry, account=account_get("cash"), amount=Decimal("100.00"))
    Posting.objects.create(entry=entry, account=account_get("fee_income"), amount=Decimal("-99.00"))
    # When the transaction reaches its commit-time checks
    # Then PostgreSQL refuses it
    with pytest.raises(IntegrityError, match="does not balance"):
        fire_deferred_constraints()


def test_an_entry_without_postings_is_refused_by_postgresql() -> None:
    JournalEntry.objects.create(kind="manual", idempotency_key="m1")
    with pytest.raises(IntegrityError, match="does not balance"):
        fire_deferred_constraints()


def test_a_single_posting_entry_is_refused_by_postgresql() -> None:
    entry = JournalEntry.objects.create(kind="manual", idempotency_key="m1")
    Posting.objects.create(entry=entry, account=account_get("cash"), amount=Decimal("1.00"))
    with pytest.raises(IntegrityError):
        fire_deferred_constraints()


def test_a_balanced_entry_written_directly_passes_the_database_check() -> None:
    entry = JournalEntry.objects.create(kind="manual", idempotency_key="m1")
    Posting.objects.create(entry=entry, account=account_get("cash"), amount=Decimal("1.00"))
    Posting.objects.create(entry=entry, account=account_get("fee_income"), amount=Decimal("-1"))
    fire_deferred_constraints()


@pytest.mark.parametrize(
    "change",
    [
        lambda: Posting.objects.update(amount=Decimal("1.00")),
        lambda: Posting.objects.all().delete(),
        lambda: JournalEntry.objects.update(memo="edited"),
        lambda: connection.cursor().execute("DELETE FROM billing_journalentry"),
    ],
    ids=["update posting", "delete posting", "update entry", "delete entry"],
)
def test_journal_rows_are_never_updated_or_deleted(change) -> None:
    issue(factories.company())
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        change()
    assert JournalEntry.objects.count() == 1
    assert Posting.objects.count() == 2


def test_deleting_an_entry_through_the_orm_is_stopped_by_its_postings() -> None:
    issue(factories.company())
    with pytest.raises(ProtectedError):
        JournalEntry.objects.all().delete()
    assert JournalEntry.objects.count() == 1


# --- What a sale posts ---------------------------------------------------------------------------


def test_an_invoice_at_face_value_posts_receivable_against_card_liability() -> None:
    company = factories.company()
    invoice = issue(company)
    assert postings_of(entry_for(invoice)) == {
        "receivable": Decimal("599.97"),
        "cards_to_issue": Decimal("-599.97"),
    }
    fire_deferred_constraints()


def test_a_2_percent_discount_is_posted_as_a_sales_discount() -> None:
    company = factories.company()
    pricing_set(company=company, mode="discount", rate=Decimal("2.00"), actor=None)
    invoice = issue(company)  # 3 x 199.99 = 599.97; x 0.98 = 587.9706
    assert (invoice.face_total, invoice.total) == (Decimal("599.97"), Decimal("587.97"))
    assert invoice.lines.get().unit_price == Decimal("195.9902")
    assert postings_of(entry_for(invoice)) == {
        "receivable": Decimal("587.97"),
        "discounts": Decimal("12.00"),
        "cards_to_issue": Decimal("-599.97"),
    }
    fire_deferred_constraints()


def test_a_1_5_percent_fee_is_posted_as_fee_income() -> None:
    company = factories.company()
    pricing_set(company=company, mode="fee", rate=Decimal("1.50"), actor=None)
    invoice = issue(company)  # 599.97 x 1.015 = 608.96955
    assert invoice.total == Decimal("608.97")
    assert invoice.lines.get().unit_price == Decimal("202.9899")
    assert postings_of(entry_for(invoice)) == {
        "receivable": Decimal("608.97"),
        "cards_to_issue": Decimal("-599.97"),
        "fee_income": Decimal("-9.00"),
    }
    fire_deferred_constraints()


def test_a_credit_note_reverses_the_sale_and_the_receivable_returns_to_zero() -> None:
    company = factories.company()
    pricing_set(company=company, mode="discount", rate=Decimal("2.00"), actor=None)
    invoice = issue(company)
    note = invoice_void(invoice=invoice, reason="order cancelled", actor=None)
    assert postings_of(entry_for(note)) == {
        "receivable": Decimal("-587.97"),
        "discounts": Decimal("-12.00"),
        "cards_to_issue": Decimal("599.97"),
    }
    assert account_balance(account_get(Account.Kind.RECEIVABLE, company)) == Decimal("0.00")
    assert account_balance(account_get(Account.Kind.CARDS_TO_ISSUE)) == Decimal("0.00")
    assert account_balance(account_get(Account.Kind.DISCOUNTS)) == Decimal("0.00")
    fire_deferred_constraints()


def test_receivables_are_kept_per_company() -> None:
    first, second = factories.company(), factories.company()
    issue(first)
    issue(second, "100", 1)
    assert account_balance(account_get(Account.Kind.RECEIVABLE, first)) == Decimal("599.97")
    assert account_balance(account_get(Account.Kind.RECEIVABLE, second)) == Decimal("100.00")


def test_after_a_whole_order_story_every_entry_sums_to_zero_and_the_books_agree() -> None:
    # Given a company with a discount that orders on credit, pays a prepay order and cancels one
    company = factories.company(approval_threshold="100000.00")
    factories.credit_line(company)
    CompanyPricing.objects.create(company=company, mode="discount", rate=Decimal("2.50"))
    purchaser = factories.member(company, Role.PURCHASER)
    card = factories.product(face_values=["99.90"])
    kept = factories.submitted(company, purchaser, card=card, face_value="99.90", quantity=7)
    cancelled = order_cancel(
        order=factories.submitted(company, purchaser, card=card, face_value="99.90", quantity=3),
        actor=purchaser,
        reason="duplicate",
    )
    prepaid = factories.submitted(
        company,
        purchaser,
        card=card,
        face_value="99.90",
        quantity=5,
        payment_method="bank_transfer",
    )
    from billing.services.invoices import proforma_mark_paid

    proforma_mark_paid(proforma=prepaid.proforma, actor=None)
    factories.run_funding_follow_ups()
    assert {o.status for o in (kept, cancelled)} == {OrderStatus.FUNDED, OrderStatus.CANCELLED}
    # Then every entry sums to zero
    sums = JournalEntry.objects.annotate(total=Sum("postings__amount")).values_list(
        "total", flat=True
    )
    assert len(sums) == 5  # sale, sale, credit note, sale, receipt
    assert set(sums) == {Decimal("0.00")}
    # And the company's receivable equals its open invoice balances
    open_balances = sum(
        i.balance_due for i in Invoice.objects.filter(company=company, kind="invoice")
    )
    receivable = account_balance(account_get(Account.Kind.RECEIVABLE, company))
    assert receivable == open_balances == kept.invoice.total == Decimal("681.82")
    # And the liability for cards sold but not yet issued is their face value: 7 + 5 cards of
    # 99.90 (it moves to the live card liability when the cards are generated)
    assert account_balance(account_get(Account.Kind.CARDS_TO_ISSUE)) == Decimal("-1198.80")
    fire_deferred_constraints()
