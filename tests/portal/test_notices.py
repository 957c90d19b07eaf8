"""Notices, the emails the portal sends about an order, an invoice, a hold, a statement, an API
key or an invitation: only active people are told, the company's billing address hears the
finance notices, no mail is sent while a row is locked, and one builder composes them all."""

# Optional relations (an order's creator, a hold's invoice...) are set in these stories; a None
# fails the test at once, so mypy need not be told each time.
# mypy: disable-error-code="union-attr, arg-type"

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.core.mail.backends import locmem
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.models import Model
from django.utils import timezone
from pytest_django.fixtures import Settings

from billing.models import CreditHold, Invoice, InvoiceReminder, Statement
from billing.services.invoices import InvoiceLineData, invoice_issue
from billing.services.receivables import receivables_daily
from billing.services.statements import statement_build, statement_notify
from billing.tasks import receivables as billing_tasks
from cards import tasks as cards_tasks
from cards.models import Order, OrderStatus
from cards.services.workflow import order_reject
from portal import tasks as portal_tasks
from portal.models import ApiKey, Company, Role, User
from portal.services.api_keys import api_key_create
from portal.services.memberships import invitation_create
from tests import factories
from tests.billing import statement_data

pytestmark = [pytest.mark.usefixtures("english_and_fast_hashing")]

ROOT = Path(__file__).resolve().parents[2]
OCTOBER = (datetime.date(2025, 10, 1), datetime.date(2025, 10, 31))


@pytest.fixture(autouse=True)
def base_url(settings: Settings) -> None:
    settings.PORTAL_BASE_URL = "https://portal.example"


# --- Small stories ------------------------------------------------------------------------------


def a_company(*, billing_email: str = "") -> Company:
    company = factories.company(approval_threshold="1000.00")
    factories.credit_line(company, "100000.00", net_days=30, grace_days=5)
    if billing_email:
        company.billing_email = billing_email
        company.save(update_fields=["billing_email"])
    return company


def deactivate(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


def order_waiting(company: Company, creator: User) -> Order:
    return factories.submitted(company, creator, quantity=20)  # 2,000 > 1,000: needs approval


def order_rejected(company: Company, creator: User, approver: User) -> Order:
    order = order_waiting(company, creator)
    order_reject(order=order, actor=approver, reason="budget frozen")
    return order


def order_fulfilled(company: Company, creator: User) -> Order:
    order = factories.submitted(company, creator, quantity=5)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.FULFILLED)
    return order


def invoice_overdue(company: Company, days: int, amount: str = "1000.00") -> Invoice:
    value = Decimal(amount)
    invoice = invoice_issue(
        company=company,
        order_number=f"PO-N{time.monotonic_ns() % 10**8:08d}",
        lines=[
            InvoiceLineData(
                description="礼品卡, face value ¥100.00",
                face_value=Decimal("100.00"),
                quantity=int(value / 100),
                unit_price=Decimal("100.0000"),
                amount=value,
            )
        ],
        net_days=30,
        actor=None,
    )
    due = timezone.localdate() - datetime.timedelta(days=days)
    Invoice.objects.filter(pk=invoice.pk).update(
        due_date=due, issue_date=due - datetime.timedelta(days=30)
    )
    invoice.refresh_from_db()
    return invoice


def reminder_of(company: Company) -> InvoiceReminder:
    invoice = invoice_overdue(company, 7)
    receivables_daily(today=timezone.localdate())
    return InvoiceReminder.objects.filter(invoice=invoice).latest("pk")


def hold_of(company: Company) -> CreditHold:
    invoice_overdue(company, 9)
    receivables_daily()
    return CreditHold.objects.get(company=company)


def statement_of(company: Company) -> Statement:
    statement_data.invoice(company, total="100.00", issued=statement_data.shanghai(2025, 10, 2))
    return statement_build(
        company=company,
        period_start=OCTOBER[0],
        period_end=OCTOBER[1],
        trigger=Statement.Trigger.MONTHLY,
    )


def sensitive_key(company: Company, holder: User) -> ApiKey:
    key, _plaintext = api_key_create(
        company=company,
        user=holder,
        name="treasury",
        scopes=[ApiKey.Scope.CODES_EXPORT],
        second_factor_at=time.time(),
    )
    return key


def recipients(messages: Sequence[EmailMessage]) -> list[str]:
    return sorted(address for message in messages for address in message.to)


# --- (1) Only active people are told ------------------------------------------------------------


@pytest.mark.django_db
def test_an_inactive_approver_is_not_asked_to_approve(mailoutbox) -> None:
    company = a_company()
    purchaser = factories.member(company, Role.PURCHASER)
    approver = factories.member(company, Role.APPROVER)
    gone = factories.member(company, Role.APPROVER)
    deactivate(gone)
    order = order_waiting(company, purchaser)

    assert cards_tasks.order_notify_approvers(order.pk) == "sent"

    assert recipients(mailoutbox) == [approver.email]


@pytest.mark.django_db
def test_with_every_approver_inactive_the_active_owners_are_asked(mailoutbox) -> None:
    company = a_company()
    purchaser = factories.member(company, Role.PURCHASER)
    deactivate(factories.member(company, Role.APPROVER))
    owner = factories.member(company, Role.OWNER)
    deactivate(factories.member(company, Role.OWNER))
    order = order_waiting(company, purchaser)

    cards_tasks.order_notify_approvers(order.pk)

    assert recipients(mailoutbox) == [owner.email]


@pytest.mark.django_db
def test_an_inactive_creator_is_not_told_of_the_rejection(mailoutbox) -> None:
    company = a_company()
    purchaser = factories.member(company, Role.PURCHASER)
    order = order_rejected(company, purchaser, factories.member(company, Role.APPROVER))
    deactivate(purchaser)

    cards_tasks.order_notify_creator(order.pk)

    assert mailoutbox == []
    # A message delivered again sends nothing either
    assert cards_tasks.order_notify_creator(order.pk) == "already-sent"


@pytest.mark.django_db
def test_inactive_creators_and_finance_are_not_told_that_cards_are_ready(mailoutbox) -> None:
    company = a_company()
    purchaser = factories.member(company, Role.PURCHASER)
    finance = factories.member(company, Role.FINANCE)
    gone = factories.member(company, Role.FINANCE)
    order = order_fulfilled(company, purchaser)
    deactivate(gone)
    deactivate(purchaser)

    assert cards_tasks.order_notify_ready(order.pk) == "sent"

    assert recipients(mailoutbox) == [finance.email]


@pytest.mark.django_db
def test_an_inactive_finance_member_gets_no_invoice_reminder(mailoutbox) -> None:
    company = a_company()
    finance = factories.member(company, Role.FINANCE)
    deactivate(factories.member(company, Role.FINANCE))

    assert billing_tasks.invoice_reminder_send(reminder_of(company).pk) == "sent"

    assert recipients(mailoutbox) == [finance.email]


@pytest.mark.django_db
def test_an_inactive_finance_member_gets_no_credit_hold_notice(mailoutbox) -> None:
    company = a_company()
    finance = factories.member(company, Role.FINANCE)
    deactivate(factories.member(company, Role.FINANCE))

    assert billing_tasks.credit_hold_notify(hold_of(company).pk, "placed") == "sent"

    assert recipients(mailoutbox) == [finance.email]


@pytest.mark.django_db
def test_an_inactive_finance_member_is_not_told_of_the_statement(
    django_capture_on_commit_callbacks,
) -> None:
    company = a_company()
    finance = factories.member(company, Role.FINANCE)
    deactivate(factories.member(company, Role.FINANCE))

    with django_capture_on_commit_callbacks(execute=True):
        statement_of(company)

    assert recipients(mail.outbox) == [finance.email]


@pytest.mark.django_db
def test_an_inactive_owner_is_not_told_of_a_sensitive_api_key(mailoutbox) -> None:
    company = a_company()
    owner = factories.member(company, Role.OWNER)
    deactivate(factories.member(company, Role.OWNER))
    key = sensitive_key(company, factories.member(company, Role.FINANCE))

    assert portal_tasks.api_key_created_notify_owners(key.pk) == "sent"

    assert recipients(mailoutbox) == [owner.email]


# --- (2) The company's billing address hears the finance notices ---------------------------------


@pytest.mark.django_db
def test_the_billing_address_gets_the_invoice_reminder(mailoutbox) -> None:
    company = a_company(billing_email="ap@acme.example")
    finance = factories.member(company, Role.FINANCE)

    billing_tasks.invoice_reminder_send(reminder_of(company).pk)

    assert recipients(mailoutbox) == sorted(["ap@acme.example", finance.email])


@pytest.mark.django_db
def test_the_billing_address_gets_the_credit_hold_notice(mailoutbox) -> None:
    company = a_company(billing_email="ap@acme.example")
    finance = factories.member(company, Role.FINANCE)

    billing_tasks.credit_hold_notify(hold_of(company).pk, "placed")

    assert recipients(mailoutbox) == sorted(["ap@acme.example", finance.email])


@pytest.mark.django_db
def test_the_billing_address_is_told_of_the_statement(django_capture_on_commit_callbacks) -> None:
    company = a_company(billing_email="ap@acme.example")
    finance = factories.member(company, Role.FINANCE)

    with django_capture_on_commit_callbacks(execute=True):
        statement_of(company)

    assert recipients(mail.outbox) == sorted(["ap@acme.example", finance.email])


@pytest.mark.django_db
def test_the_billing_address_alone_hears_the_statement_when_nobody_else_can(
    django_capture_on_commit_callbacks,
) -> None:
    company = a_company(billing_email="ap@acme.example")
    deactivate(factories.member(company, Role.OWNER))

    with django_capture_on_commit_callbacks(execute=True):
        statement_of(company)

    assert recipients(mail.outbox) == ["ap@acme.example"]


@pytest.mark.django_db
def test_an_address_is_told_once_whatever_its_case_and_the_list_is_sorted() -> None:
    from portal.notices import notice_recipients

    company = a_company(billing_email="Finance@Acme.example")
    factories.member(company, Role.FINANCE, email="finance@acme.example")
    factories.member(company, Role.FINANCE, email="b.finance@acme.example")

    told = notice_recipients(company, roles=[Role.FINANCE], include_billing_email=True)

    assert told == ["b.finance@acme.example", "finance@acme.example"]


# --- (3) No mail is sent while a row is locked --------------------------------------------------


class LockProbeBackend(locmem.EmailBackend):
    """The test mail backend, which first tries to lock the notice's row from a second database
    connection (``FOR UPDATE NOWAIT``) and notes whether it could."""

    row: ClassVar[tuple[type[Model], int] | None] = None
    seen: ClassVar[list[str]] = []

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if LockProbeBackend.row is not None:
            model, pk = LockProbeBackend.row
            LockProbeBackend.seen.append(_try_lock(model, pk))
        return super().send_messages(email_messages)


def _try_lock(model: type[Model], pk: int) -> str:
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    table = other.ops.quote_name(model._meta.db_table)
    try:
        with other.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [pk])
            return "free" if cursor.fetchone() else "absent"
    except OperationalError as exc:
        return type(exc.__cause__).__name__
    finally:
        other.close()


def _approval(company: Company, people: dict[str, User]) -> tuple[Model, Callable[[], str]]:
    order = order_waiting(company, people[Role.PURCHASER])
    return order, lambda: cards_tasks.order_notify_approvers(order.pk)


def _rejection(company: Company, people: dict[str, User]) -> tuple[Model, Callable[[], str]]:
    order = order_rejected(company, people[Role.PURCHASER], people[Role.APPROVER])
    return order, lambda: cards_tasks.order_notify_creator(order.pk)


def _ready(company: Company, people: dict[str, User]) -> tuple[Model, Callable[[], str]]:
    order = order_fulfilled(company, people[Role.PURCHASER])
    return order, lambda: cards_tasks.order_notify_ready(order.pk)


def _reminder(company: Company, people: dict[str, User]) -> tuple[Model, Callable[[], str]]:
    reminder = reminder_of(company)
    return reminder, lambda: billing_tasks.invoice_reminder_send(reminder.pk)


def _hold(company: Company, people: dict[str, User]) -> tuple[Model, Callable[[], str]]:
    hold = hold_of(company)
    return hold, lambda: billing_tasks.credit_hold_notify(hold.pk, "placed")


def _api_key(company: Company, people: dict[str, User]) -> tuple[Model, Callable[[], str]]:
    key = sensitive_key(company, people[Role.FINANCE])
    return key, lambda: portal_tasks.api_key_created_notify_owners(key.pk)


def _invitation(company: Company, people: dict[str, User]) -> tuple[Model, Callable[[], str]]:
    invitation = invitation_create(
        company=company,
        email="new.member@example.com",
        role=Role.VIEWER,
        invited_by=people[Role.OWNER],
    )
    return invitation, lambda: portal_tasks.invitation_send_email(invitation.pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "story",
    [_approval, _rejection, _ready, _reminder, _hold, _api_key, _invitation],
    ids=["approval", "rejection", "ready", "reminder", "hold", "api-key", "invitation"],
)
def test_no_notice_is_sent_while_its_row_is_locked(
    story: Callable[[Company, dict[str, User]], tuple[Model, Callable[[], str]]],
    settings: Settings,
    no_celery_worker: None,
) -> None:
    # No worker runs: it would send the notice the story queues on commit before the test does.
    company = a_company()
    people = factories.team(company)
    row, send = story(company, people)
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.LockProbeBackend"}}
    LockProbeBackend.row = (type(row), row.pk)
    LockProbeBackend.seen = []
    try:
        assert send() == "sent"
        # and a second delivery of the same message finds it sent
        assert send() == "already-sent"
    finally:
        LockProbeBackend.row = None

    assert LockProbeBackend.seen == ["free"]
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_the_statement_notice_is_sent_with_no_row_locked(settings: Settings) -> None:
    company = a_company()
    factories.member(company, Role.FINANCE)
    statement = statement_of(company)
    mail.outbox.clear()
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.LockProbeBackend"}}
    LockProbeBackend.row = (Statement, statement.pk)
    LockProbeBackend.seen = []
    try:
        assert statement_notify(statement_id=statement.pk) is True
    finally:
        LockProbeBackend.row = None
    assert LockProbeBackend.seen == ["free"]


# --- (4) One builder -----------------------------------------------------------------------------

# Rendering in another language is legitimate for documents (a statement in the company's
# language, an upload's messages in the uploader's): these modules override the language for
# that, never to compose an email.
DOCUMENT_LANGUAGE_MODULES = {
    "billing/services/statements/build.py",
    "billing/services/statements/files.py",
    "cards/services/uploads/files.py",
    "cards/services/uploads/messages.py",
    "cards/services/uploads/scanner.py",
}


def _application_modules() -> list[Path]:
    skip = {".venv", "tests", "var", "node_modules", "migrations", "bench", "scripts"}
    return sorted(
        path for path in ROOT.rglob("*.py") if not skip.intersection(path.relative_to(ROOT).parts)
    )


def test_only_the_notices_module_composes_and_sends_notices() -> None:
    # Given every application module, when we look for a second bilingual builder or a
    # mail sent past the notices module
    composing, sending = [], []
    for path in _application_modules():
        name = path.relative_to(ROOT).as_posix()
        if name == "portal/notices.py":
            continue
        text = path.read_text()
        if re.search(r'for \w+ in \(\s*"zh-hans",\s*"en"\s*\)', text) or (
            "translation.override" in text
            and "render_to_string" in text
            and name not in DOCUMENT_LANGUAGE_MODULES
        ):
            composing.append(name)
        if re.search(r"\b(send_mail|send_mass_mail|EmailMessage|EmailMultiAlternatives)\b", text):
            sending.append(name)
    # Then there is only the one
    assert composing == []
    assert sending == []
