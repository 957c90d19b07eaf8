"""Receivables, day by day: overdue marking, the four reminders (each once, also when the run is
repeated, races a second scheduler or missed days), credit holds placed after the grace period and
lifted by a payment, and the credit orders they stop."""

# Optional relations (a reminder's invoice, a hold...) are set in these stories; a None fails the
# test at once, so mypy need not be told each time.
# mypy: disable-error-code="union-attr, arg-type, index, misc, attr-defined"

from __future__ import annotations

import datetime
import email
import email.policy
import itertools
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone, translation

from billing.audit import BillingAction
from billing.models import CreditHold, Invoice, InvoiceReminder
from billing.services.credit import CreditRefused, credit_check
from billing.services.invoices import InvoiceLineData, invoice_issue
from billing.services.payments import payment_record
from billing.services.receivables import (
    credit_hold_refresh,
    receivables_daily,
    reminder_kinds_due,
)
from billing.tasks import receivables as tasks
from cards.models import OrderStatus
from portal.models import AuditEvent, Role
from tests import factories
from tests.conftest import outbox_queued

pytestmark = [pytest.mark.usefixtures("english_and_fast_hashing")]

_orders = itertools.count(1)
Kind = InvoiceReminder.Kind


def lines(amount: str) -> list[InvoiceLineData]:
    value = Decimal(amount)
    return [
        InvoiceLineData(
            description="礼品卡, face value ¥100.00",
            face_value=Decimal("100.00"),
            quantity=int(value / 100),
            unit_price=Decimal("100.0000"),
            amount=value,
        )
    ]


def invoice_due(company, due: datetime.date, amount: str = "1000.00") -> Invoice:
    """A credit invoice of ``amount`` due on ``due`` (issued 30 days before)."""
    invoice = invoice_issue(
        company=company,
        order_number=f"PO-R{next(_orders):05d}",
        lines=lines(amount),
        net_days=30,
        actor=None,
    )
    Invoice.objects.filter(pk=invoice.pk).update(
        due_date=due, issue_date=due - datetime.timedelta(days=30)
    )
    invoice.refresh_from_db()
    return invoice


def queued(callbacks: list[Any], task: Any) -> list[tuple[Any, ...]]:
    """The arguments of each follow-up of ``task`` queued through the outbox, to be published
    on commit."""
    return outbox_queued(callbacks, task)


def reminders_of(invoice: Invoice) -> list[str]:
    return sorted(invoice.reminders.values_list("kind", flat=True))


def day(offset: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=offset)


@pytest.fixture
def company():
    company = factories.company()
    factories.credit_line(company, "100000.00", net_days=30, grace_days=5)
    return company


# --- Overdue ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_open_invoices_past_their_due_date_become_overdue_once(company) -> None:
    today = day(0)
    late = invoice_due(company, today - datetime.timedelta(days=1))
    due_today = invoice_due(company, today)
    paid = invoice_due(company, today - datetime.timedelta(days=3))
    Invoice.objects.filter(pk=paid.pk).update(paid_amount=paid.total, status=Invoice.Status.PAID)

    first = receivables_daily(today=today)
    second = receivables_daily(today=today)

    statuses = dict(Invoice.objects.values_list("pk", "status"))
    assert statuses[late.pk] == Invoice.Status.OVERDUE
    assert statuses[due_today.pk] == Invoice.Status.OPEN
    assert statuses[paid.pk] == Invoice.Status.PAID
    assert (first.marked_overdue, second.marked_overdue) == (1, 0)


def test_which_reminders_are_due_on_which_day() -> None:
    due = datetime.date(2026, 3, 31)
    at = {
        offset: reminder_kinds_due(due, due + datetime.timedelta(days=offset))
        for offset in (-8, -7, -1, 0, 6, 7, 29, 30, 90)
    }
    assert at[-8] == []
    assert at[-7] == at[-1] == [Kind.BEFORE_DUE]
    # never "7 days before due" on or after the due date
    assert at[0] == at[6] == [Kind.ON_DUE]
    assert at[7] == at[29] == [Kind.ON_DUE, Kind.AFTER_7]
    assert at[30] == at[90] == [Kind.ON_DUE, Kind.AFTER_7, Kind.AFTER_30]


# --- Reminders ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_reminder_goes_out_on_its_day_and_once(
    company, django_capture_on_commit_callbacks
) -> None:
    due = day(0)
    invoice = invoice_due(company, due)
    sent: dict[int, list[str]] = {}
    for offset in (-8, -7, -6, -7, 0, 0, 3, 7, 8, 30, 31, 30):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            receivables_daily(today=due + datetime.timedelta(days=offset))
        ids = [args[0] for args in queued(callbacks, tasks.invoice_reminder_send)]
        kinds = list(InvoiceReminder.objects.filter(pk__in=ids).values_list("kind", flat=True))
        sent[offset] = sent.get(offset, []) + kinds
    assert sent == {
        -8: [],
        -7: [Kind.BEFORE_DUE],
        -6: [],
        0: [Kind.ON_DUE],
        3: [],
        7: [Kind.AFTER_7],
        8: [],
        30: [Kind.AFTER_30],
        31: [],
    }
    assert reminders_of(invoice) == sorted(Kind.values)


@pytest.mark.django_db
def test_missed_days_catch_up_with_one_reminder_and_never_before_due_after_the_due_date(
    company, django_capture_on_commit_callbacks
) -> None:
    # Given the daily run did not run for the first nine days after the due date
    due = day(-20)
    invoice = invoice_due(company, due)
    # When it runs again
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        receivables_daily(today=due + datetime.timedelta(days=9))
    # Then the latest reminder due (7 days overdue) goes out once, covering "on the due date";
    # "7 days before due" is never sent any more
    [(reminder_id,)] = queued(callbacks, tasks.invoice_reminder_send)
    assert InvoiceReminder.objects.get(pk=reminder_id).kind == Kind.AFTER_7
    assert reminders_of(invoice) == sorted([Kind.ON_DUE, Kind.AFTER_7])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        receivables_daily(today=due + datetime.timedelta(days=10))
    assert queued(callbacks, tasks.invoice_reminder_send) == []


@pytest.mark.django_db
def test_paid_and_void_invoices_get_no_reminders(company, django_capture_on_commit_callbacks):
    due = day(0)
    paid = invoice_due(company, due)
    Invoice.objects.filter(pk=paid.pk).update(paid_amount=paid.total, status=Invoice.Status.PAID)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        receivables_daily(today=due)
    assert queued(callbacks, tasks.invoice_reminder_send) == []
    assert InvoiceReminder.objects.count() == 0


@pytest.mark.django_db
def test_the_reminder_email_goes_to_finance_in_both_languages(company, mailoutbox) -> None:
    people = factories.team(company)
    company.billing_email = "ap@acme.example"
    company.save(update_fields=["billing_email"])
    due = day(-7)
    invoice = invoice_due(company, due, amount="1234500.00")
    receivables_daily(today=day(0))
    reminder = InvoiceReminder.objects.get(invoice=invoice, kind=Kind.AFTER_7)

    assert tasks.invoice_reminder_send(reminder.pk) == "sent"
    # A message delivered twice (a redelivery, or the outbox relay after a crash) emails once
    assert tasks.invoice_reminder_send(reminder.pk) == "already-sent"

    [mail] = mailoutbox
    assert sorted(mail.to) == sorted([people[Role.FINANCE].email, "ap@acme.example"])
    assert f"Invoice {invoice.number} is 7 days overdue" in mail.subject
    chinese, english = mail.body.split("\n\n----\n\n")
    assert "¥1,234,500.00" in english
    assert invoice.number in chinese
    assert f"/invoices/{invoice.number}/" in english
    assert "please transfer" in english.lower()


@pytest.mark.django_db
def test_a_reminder_of_an_invoice_paid_meanwhile_is_not_sent(company, mailoutbox) -> None:
    factories.team(company)
    invoice = invoice_due(company, day(0))
    receivables_daily(today=day(0))
    reminder = InvoiceReminder.objects.get(invoice=invoice)
    Invoice.objects.filter(pk=invoice.pk).update(
        paid_amount=invoice.total, status=Invoice.Status.PAID
    )
    assert tasks.invoice_reminder_send(reminder.pk) == "paid"
    assert mailoutbox == []


# --- Credit holds -------------------------------------------------------------------------------


def pay(invoice: Invoice) -> None:
    """The buyer's transfer arrives, naming the invoice: the payment services match and allocate
    it (and refresh the hold)."""
    payment_record(
        bank_reference=f"BANK-{uuid.uuid4().hex[:12]}",
        payer_name=invoice.company.legal_name,
        payer_account="6222 0000 1111",
        amount=invoice.total - invoice.paid_amount,
        received_on=timezone.localdate(),
        remittance=f"payment {invoice.number}",
        actor=None,
    )


@pytest.mark.django_db
def test_a_hold_is_placed_after_the_grace_period_and_lifted_by_the_payment(
    company, django_capture_on_commit_callbacks
) -> None:
    # Given one invoice within its 5 grace days and one past them
    within = invoice_due(company, day(-5))
    late = invoice_due(company, day(-6))
    # When the daily run comes
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        summary = receivables_daily()
    # Then new credit orders are held, because of the late one
    hold = CreditHold.objects.get(company=company, lifted_at__isnull=True)
    assert hold.invoice == late
    assert summary.holds_placed == 1
    assert queued(callbacks, tasks.credit_hold_notify) == [(hold.pk, "placed")]
    assert AuditEvent.objects.filter(
        action=BillingAction.CREDIT_HOLD_PLACED, company=company
    ).exists()
    with pytest.raises(CreditRefused) as refused:
        credit_check(company, Decimal("100.00"))
    assert refused.value.code == "credit_hold"
    assert late.number in refused.value.message
    # A second run changes nothing
    assert receivables_daily().holds_placed == 0
    assert CreditHold.objects.filter(company=company).count() == 1

    # When the late invoice is paid, the hold is lifted at once (no wait for the next morning)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pay(late)
    hold.refresh_from_db()
    assert hold.lifted_at is not None
    assert queued(callbacks, tasks.credit_hold_notify) == [(hold.pk, "lifted")]
    assert AuditEvent.objects.filter(
        action=BillingAction.CREDIT_HOLD_LIFTED, company=company
    ).exists()
    credit_check(company, Decimal("100.00"))  # accepted
    within.refresh_from_db()
    assert within.status == Invoice.Status.OVERDUE  # still owed, but within grace


@pytest.mark.django_db
def test_a_hold_stays_while_another_invoice_is_past_grace_and_names_it(company) -> None:
    first = invoice_due(company, day(-20))
    second = invoice_due(company, day(-10))
    receivables_daily()
    pay(first)
    hold = CreditHold.objects.get(company=company, lifted_at__isnull=True)
    assert hold.invoice == second
    with pytest.raises(CreditRefused) as refused:
        credit_check(company, Decimal("100.00"))
    assert second.number in refused.value.message


@pytest.mark.django_db
def test_refresh_without_anything_past_due_places_nothing(company) -> None:
    invoice_due(company, day(3))
    assert credit_hold_refresh(company=company) is None
    assert not CreditHold.objects.exists()


@pytest.mark.django_db
def test_a_credit_order_is_refused_while_on_hold_and_accepted_after_payment(company) -> None:
    people = factories.team(company)
    card = factories.product()
    late = invoice_due(company, day(-40))
    receivables_daily()

    with pytest.raises(ValidationError) as refused:
        factories.submitted(company, people[Role.PURCHASER], card=card, quantity=2)
    assert late.number in " ".join(refused.value.messages)

    pay(late)
    order = factories.submitted(company, people[Role.PURCHASER], card=card, quantity=2)
    assert order.status not in (OrderStatus.DRAFT, OrderStatus.REJECTED)
    assert order.invoice is not None


@pytest.mark.django_db
def test_the_hold_notice_tells_the_company_what_to_pay(company, mailoutbox) -> None:
    people = factories.team(company)
    late = invoice_due(company, day(-9), amount="5000.00")
    receivables_daily()
    hold = CreditHold.objects.get(company=company)

    assert tasks.credit_hold_notify(hold.pk, "placed") == "sent"
    # A message delivered twice emails once
    assert tasks.credit_hold_notify(hold.pk, "placed") == "already-sent"

    [mail] = mailoutbox
    assert mail.to == [people[Role.FINANCE].email]
    assert late.number in mail.subject
    assert "¥5,000.00" in mail.body
    assert "/credit/" in mail.body


# --- Two schedulers at once, with the real worker sending the emails ----------------------------


def mails_about(mail_dir: Path, marker: str) -> list[str]:
    """Subject and decoded body of each message the worker wrote (file backend: messages end
    with a line of dashes) that mentions ``marker``."""
    found = []
    for path in mail_dir.rglob("*"):
        if not path.is_file():
            continue
        for raw in path.read_text(errors="replace").split("\n" + "-" * 79 + "\n"):
            if not raw.strip():
                continue
            message = email.message_from_string(raw, policy=email.policy.default)
            text = f"{message['subject']}\n{message.get_content()}"
            if marker in text:
                found.append(text)
    return found


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_daily_runs_at_once_send_each_reminder_and_hold_notice_once(
    celery_worker_process: Any, mail_dir: Path
) -> None:
    marker = f"RACE{uuid.uuid4().hex[:8]}"
    companies = []
    for n in range(2):
        company = factories.company(f"{marker}公司{n}")
        factories.credit_line(company, grace_days=5)
        factories.member(company, Role.FINANCE)
        companies.append(company)
    invoices = [invoice_due(c, day(-7)) for c in companies for _ in range(3)]

    barrier = threading.Barrier(2)
    results: list[Any] = []

    def run() -> None:
        try:
            with translation.override("en"):
                barrier.wait(timeout=10)
                results.append(receivables_daily())
        except BaseException as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(r.reminders for r in results) == len(invoices)
    assert sum(r.holds_placed for r in results) == len(companies)
    for invoice in invoices:
        assert reminders_of(invoice) == sorted([Kind.ON_DUE, Kind.AFTER_7])
    assert CreditHold.objects.filter(company__in=companies).count() == len(companies)

    expected = len(invoices) + len(companies)  # one reminder per invoice, one hold notice each
    deadline = time.monotonic() + 120
    while len(mails_about(mail_dir, marker)) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # anything sent twice would arrive by now
    mails = mails_about(mail_dir, marker)
    assert len(mails) == expected
    for invoice in invoices:
        assert sum(f"Invoice {invoice.number} was due on" in m for m in mails) == 1


# --- The schedule -------------------------------------------------------------------------------


def test_the_beat_runs_the_ledger_check_at_0330_and_receivables_at_0600_shanghai(settings):
    from celery.schedules import crontab

    import billing.tasks  # noqa: F401  (registers the tasks, as the worker's autodiscovery does)
    from portal.celery import app

    assert app.conf.timezone == "Asia/Shanghai"
    entries = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    daily = entries["billing.tasks.receivables_daily"]
    check = entries["billing.tasks.ledger_check"]
    assert isinstance(daily, crontab)
    assert isinstance(check, crontab)
    assert (daily.hour, daily.minute) == ({6}, {0})
    assert (check.hour, check.minute) == ({3}, {30})
    assert daily.day_of_week == check.day_of_week == set(range(7))
    assert daily.day_of_month == check.day_of_month == set(range(1, 32))
    assert {"billing.tasks.receivables_daily", "billing.tasks.ledger_check"} <= set(app.tasks)
