"""Side effects of the ordering flow: emails to approvers and creators (once each), and the
hand-off to issuance queued only when the funding transaction commits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from cards import tasks
from cards.models import Order, OrderStatus
from cards.services.workflow import order_approve, order_reject
from portal.models import Role
from portal.services import outbox
from tests import factories
from tests.conftest import outbox_queued

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def company():
    company = factories.company("福州示例有限公司", approval_threshold="1000.00")
    factories.credit_line(company)
    return company


@pytest.fixture
def people(company):
    return factories.team(company)


@pytest.fixture(autouse=True)
def base_url(settings: Settings) -> None:
    settings.PORTAL_BASE_URL = "https://portal.example"


def queued(callbacks: list[Any], task: Any) -> list[tuple[Any, ...]]:
    """The arguments of each follow-up of ``task`` queued through the outbox, to be published
    on commit."""
    return outbox_queued(callbacks, task)


def big_order(company, people) -> Order:
    return factories.submitted(company, people["purchaser"], quantity=20)  # 2,000 > 1,000


# --- The hand-off to issuance --------------------------------------------------------------------


def test_a_funded_order_queues_the_start_of_fulfilment_on_commit(
    company, people, django_capture_on_commit_callbacks
) -> None:
    # When an order is funded straight away (under the threshold)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = factories.submitted(company, people["purchaser"], quantity=5)
    # Then the start of card generation waits for the commit, with the order's id only
    assert order.status == OrderStatus.FUNDED
    assert queued(callbacks, tasks.order_start_fulfilment) == [(order.pk,)]


def test_nothing_is_queued_for_issuance_before_funding(
    company, people, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = big_order(company, people)
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert queued(callbacks, tasks.order_start_fulfilment) == []
    assert queued(callbacks, tasks.order_notify_approvers) == [(order.pk,)]


def test_approval_funds_the_order_and_starts_fulfilment_after_commit(
    company, people, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    order = big_order(company, people)
    started: list[int] = []

    def publish(producer: Any, message: Any) -> None:
        if message.task == tasks.order_start_fulfilment.name:
            started.extend(message.args)

    monkeypatch.setattr(outbox, "_send", publish)

    with django_capture_on_commit_callbacks(execute=True):
        order_approve(order=order, actor=people["approver"])
        # Nothing is published while the transaction is open
        assert started == []
    assert started == [order.pk]


def test_the_fulfilment_task_moves_a_funded_order_once(company, people) -> None:
    order = factories.submitted(company, people["purchaser"], quantity=5)
    assert tasks.order_start_fulfilment(order.pk) == OrderStatus.FULFILLING
    assert tasks.order_start_fulfilment(order.pk) == OrderStatus.FULFILLING
    assert tasks.order_start_fulfilment(0) == "missing"


# --- Approvers are told --------------------------------------------------------------------------


def test_approvers_get_one_email_with_the_link(company, people, mailoutbox) -> None:
    second_approver = factories.member(company, Role.APPROVER)
    order = big_order(company, people)
    assert tasks.order_notify_approvers(order.pk) == "sent"
    [mail] = mailoutbox
    assert sorted(mail.to) == sorted([people["approver"].email, second_approver.email])
    assert f"Order {order.number} needs your approval" in mail.subject
    assert f"https://portal.example/orders/{order.number}/" in mail.body
    assert "20 cards, total ¥2,000.00" in mail.body
    # Chinese first, then English, each with the link
    chinese, english = mail.body.split("\n\n----\n\n")
    assert "waits for an approver" in english
    assert f"https://portal.example/orders/{order.number}/" in chinese
    order.refresh_from_db()
    assert order.approvers_notified_at is not None


def test_notifying_approvers_twice_sends_one_email(company, people, mailoutbox) -> None:
    order = big_order(company, people)
    assert tasks.order_notify_approvers(order.pk) == "sent"
    assert tasks.order_notify_approvers(order.pk) == "already-sent"
    assert len(mailoutbox) == 1


def test_without_approvers_the_owners_are_told_but_never_the_creator(mailoutbox) -> None:
    company = factories.company(approval_threshold="1000.00")
    factories.credit_line(company)
    creator = factories.member(company, Role.OWNER)
    other_owner = factories.member(company, Role.OWNER)
    order = factories.submitted(company, creator, quantity=20)
    tasks.order_notify_approvers(order.pk)
    [mail] = mailoutbox
    assert mail.to == [other_owner.email]


def test_an_order_no_longer_waiting_is_not_announced(company, people, mailoutbox) -> None:
    order = big_order(company, people)
    order_approve(order=order, actor=people["approver"])
    assert tasks.order_notify_approvers(order.pk) == "skipped"
    assert tasks.order_notify_approvers(0) == "skipped"
    assert mailoutbox == []


# --- Creators are told of a rejection ------------------------------------------------------------


def test_the_creator_is_emailed_the_rejection_reason_once(
    company, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    order = big_order(company, people)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order_reject(order=order, actor=people["approver"], reason="预算已冻结 / budget frozen")
    assert queued(callbacks, tasks.order_notify_creator) == [(order.pk,)]
    assert tasks.order_notify_creator(order.pk) == "sent"
    assert tasks.order_notify_creator(order.pk) == "already-sent"
    [mail] = mailoutbox
    assert mail.to == [people["purchaser"].email]
    assert f"Order {order.number} was rejected" in mail.subject
    assert "预算已冻结 / budget frozen" in mail.body


def test_an_order_that_was_not_rejected_sends_no_rejection(company, people, mailoutbox) -> None:
    order = big_order(company, people)
    assert tasks.order_notify_creator(order.pk) == "skipped"
    assert mailoutbox == []


def test_amounts_in_emails_are_shown_as_money(company, people, mailoutbox) -> None:
    order = big_order(company, people)
    Order.objects.filter(pk=order.pk).update(total=Decimal("1234567.50"))
    tasks.order_notify_approvers(order.pk)
    assert "¥1,234,567.50" in mailoutbox[0].body


def test_the_approval_email_shows_the_total_as_money_in_both_languages(
    company, people, mailoutbox
) -> None:
    # Given an order of 24,500.00 waiting for approval
    order = big_order(company, people)
    Order.objects.filter(pk=order.pk).update(total=Decimal("24500.00"))

    # When the approvers are told
    tasks.order_notify_approvers(order.pk)

    # Then the Chinese and the English part each show it with the money formatter's separators
    chinese, english = mailoutbox[0].body.split("\n\n----\n\n")
    assert "¥24,500.00" in chinese
    assert "¥24,500.00" in english
    assert "24500" not in mailoutbox[0].body


def test_paying_a_proforma_funds_its_order_after_commit_once(
    company, people, django_capture_on_commit_callbacks
) -> None:
    from billing.services.invoices import proforma_mark_paid
    from cards.audit import CardsAction
    from portal.models import AuditEvent

    order = factories.submitted(company, people["purchaser"], payment_method="bank_transfer")
    assert order.proforma is not None
    assert order.proforma_id is not None
    proforma_id = order.proforma_id
    # When the transfer for its pro-forma is recorded
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invoice = proforma_mark_paid(proforma=order.proforma, actor=None)
    # Then nothing touches the order inside that transaction: its funding waits for the commit
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert queued(callbacks, tasks.order_fund_after_payment) == [(proforma_id, invoice.pk)]
    # And the worker's run funds it, once, however often the message is delivered
    assert tasks.order_fund_after_payment(proforma_id, invoice.pk, None) == "funded"
    assert tasks.order_fund_after_payment(proforma_id, invoice.pk, None) == "funded"
    order.refresh_from_db()
    assert (order.status, order.invoice) == (OrderStatus.FUNDED, invoice)
    assert AuditEvent.objects.filter(action=CardsAction.ORDER_FUNDED).count() == 1
