"""Reminders 30 and 7 days before expiry: one email per company and threshold to its finance
contacts with the count and total, one per card to recipients delivered by link (email and SMS),
each sent once however often the daily task runs; never for registered cards or cards that
cannot be spent."""

# mypy: disable-error-code="union-attr"

from __future__ import annotations

import pytest

from cards import tasks
from cards.models import (
    Card,
    DeliveryMethod,
    DeliveryStatus,
    ExpiryAudience,
    ExpiryNotice,
    ExpiryNoticeCard,
    RecipientDelivery,
)
from cards.services import recipients
from cards.services.expiry import expiry_notice_notify, expiry_reminders_run
from portal import sms
from portal.models import OutboxMessage

from . import helpers
from .helpers import DAY, bearer_product, buyer, expiry_of, issued, line, registered_product

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def cards(mailoutbox) -> dict:
    """One company: two bearer cards by file (100 each), one by link to a recipient (200), a
    registered card; another company's bearer card (500)."""
    sms.outbox.clear()
    acme = buyer("Acme")
    by_file = issued(acme, [line(bearer_product(), "100", 2)])
    by_link = issued(
        acme,
        [
            line(
                bearer_product(),
                "200",
                recipient_name="Wang Xiaoming",
                recipient_email="xiaoming@example.com",
                recipient_mobile="13800138000",
            )
        ],
        delivery_method=DeliveryMethod.RECIPIENTS,
    )
    recipients.deliveries_create(order=by_link[0].batch.order)
    delivery = RecipientDelivery.objects.get(card=by_link[0])
    assert recipients.delivery_send(delivery_id=delivery.pk) == "sent"
    issued(acme, [line(registered_product(), "1000")], registered=True)
    other = issued(buyer("Other"), [line(bearer_product(), "500")])
    mailoutbox.clear()
    sms.outbox.clear()
    expires_at = expiry_of(by_file[0])
    return {
        "acme": acme,
        "by_file": by_file,
        "by_link": by_link,
        "other": other,
        "expires_at": expires_at,
    }


def send_all() -> list[str]:
    return [
        expiry_notice_notify(notice_id=pk)
        for pk in ExpiryNotice.objects.order_by("pk").values_list("pk", flat=True)
    ]


def test_thirty_days_before_each_company_gets_one_email_with_count_and_total(
    cards, mailoutbox
) -> None:
    now = cards["expires_at"] - 29 * DAY

    result = expiry_reminders_run(now=now)

    assert result["notices"] == {"company": 2, "recipient": 1}
    acme = ExpiryNotice.objects.get(audience=ExpiryAudience.COMPANY, company=cards["acme"].company)
    assert (acme.days_before, acme.card_count, str(acme.total)) == (30, 3, "400.00")
    assert OutboxMessage.objects.filter(task="cards.tasks.expiry_notice_send").count() == 3

    assert send_all() == ["sent", "sent", "sent"]
    finance = cards["acme"].people["finance"].email
    [to_acme] = [mail for mail in mailoutbox if finance in mail.to]
    assert " / " in to_acme.subject  # Chinese, then English, like every notice
    assert "3 cards expire in 30 days" in to_acme.subject
    assert "3 e-cards bought by your company, holding ¥400.00 in all" in to_acme.body
    assert "https://portal.example/cards/" in to_acme.body
    [to_recipient] = [mail for mail in mailoutbox if mail.to == ["xiaoming@example.com"]]
    assert "Your e-card expires in 30 days" in to_recipient.subject
    assert "still holds ¥200.00" in to_recipient.body
    [text] = sms.outbox
    assert text.to == "13800138000"
    assert len(mailoutbox) == 3


def test_each_reminder_goes_out_once_however_often_the_task_runs(cards, mailoutbox) -> None:
    now = cards["expires_at"] - 29 * DAY
    expiry_reminders_run(now=now)
    send_all()

    again = expiry_reminders_run(now=now + DAY)

    assert again["notices"] == {"company": 0, "recipient": 0}
    assert send_all() == ["already-sent"] * 3
    assert len(mailoutbox) == 3
    # Seven days before, the second reminder goes out, once too.
    seven = cards["expires_at"] - 6 * DAY
    assert expiry_reminders_run(now=seven)["notices"] == {"company": 2, "recipient": 1}
    assert expiry_reminders_run(now=seven + DAY)["notices"] == {"company": 0, "recipient": 0}
    send_all()
    assert len(mailoutbox) == 6
    assert ExpiryNoticeCard.objects.filter(days_before=7).count() == 4 + 1  # companies, recipient


def test_a_card_already_inside_seven_days_gets_only_the_seven_day_reminder(cards) -> None:
    expiry_reminders_run(now=cards["expires_at"] - 3 * DAY)
    assert set(ExpiryNotice.objects.values_list("days_before", flat=True)) == {7}


def test_cards_that_cannot_be_spent_are_not_reminded_about(cards) -> None:
    helpers.spend(cards["by_file"][0], "100.00", helpers.merchant())
    Card.objects.filter(pk=cards["other"][0].pk).update(status="frozen")

    expiry_reminders_run(now=cards["expires_at"] - 29 * DAY)

    [acme] = ExpiryNotice.objects.filter(audience=ExpiryAudience.COMPANY)
    assert (acme.card_count, str(acme.total)) == (2, "300.00")


def test_a_recipient_whose_link_never_arrived_is_not_reminded(cards) -> None:
    RecipientDelivery.objects.update(status=DeliveryStatus.BOUNCED)
    result = expiry_reminders_run(now=cards["expires_at"] - 29 * DAY)
    assert result["notices"]["recipient"] == 0


def test_the_daily_tasks_are_scheduled(settings) -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["card-expiry-reminders-daily"]["task"] == tasks.expiry_reminders_daily.name
    assert schedule["cards-expire-daily"]["task"] == tasks.cards_expire_daily.name
    assert tasks.expiry_reminders_daily()["notices"] == {"company": 0, "recipient": 0}
