"""Delivery to recipients: one delivery per card, links by email and SMS, the one-time page,
resend and change of recipient, bounces and retries, and who may do what."""

# Deliveries and cards looked up here exist; a None fails the test at once.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import datetime
import hashlib
import html
import re
import threading
from dataclasses import dataclass
from smtplib import SMTPRecipientsRefused, SMTPServerDisconnected
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone, translation

from cards import codes, tasks
from cards.models import (
    Card,
    CardProduct,
    CardStatus,
    Chunk,
    DeliveryMethod,
    DeliveryStatus,
    Order,
    OrderStatus,
    RecipientDelivery,
)
from cards.services import issuance, recipients
from cards.services.orders import LineInput, order_create
from cards.services.recipients import RecipientAction
from cards.services.workflow import order_begin_fulfilment, order_submit
from cards.views import recipient as views_recipient
from portal import sms
from portal.models import AuditEvent, Company, Role, User
from tests import factories
from tests.conftest import outbox_queued, sign_in

# No worker runs during these tests: a shared one started by an earlier test of this process
# would take the deliveries and notices they queue on commit and send them itself.
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("english_and_fast_hashing", "no_celery_worker"),
]

BASE = "https://portal.example"
LINK = re.compile(r"https://portal\.example/r/([A-Za-z0-9_-]+)/")
NEEDS_2FA = {Role.OWNER, Role.APPROVER, Role.FINANCE}


@pytest.fixture(autouse=True)
def isolated(settings: Any) -> None:
    settings.PORTAL_BASE_URL = BASE
    settings.ISSUANCE_CHUNK_SIZE = 40
    # The failure counter of the link page lives in the cache: one fresh cache per test.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "r"}
    }
    sms.outbox.clear()


@dataclass
class Shop:
    company: Company
    people: dict[str, User]
    product: CardProduct

    def client(self, role: str) -> Client:
        client = Client()
        sign_in(client, self.people[role], second_factor=role in NEEDS_2FA)
        return client


@pytest.fixture
def shop() -> Shop:
    company = factories.company("Acme Gifts Co., Ltd.", approval_threshold="1000000.00")
    factories.credit_line(company, "100000.00")
    return Shop(company=company, people=factories.team(company), product=factories.product())


def fulfilled(shop: Shop, lines: list[LineInput] | None = None) -> Order:
    """A recipients order, funded and generated in-process (as tests/cards/test_issuance.py)."""
    lines = lines or [
        LineInput(
            product=str(shop.product.public_id),
            face_value="100",
            quantity=1,
            recipient_name="Wang Xiaoming",
            recipient_email="xiaoming@example.com",
            recipient_mobile="13800138000",
        ),
        LineInput(
            product=str(shop.product.public_id),
            face_value="200",
            quantity=2,
            recipient_name="Li Na",
            recipient_email="lina@example.com",
        ),
        LineInput(
            product=str(shop.product.public_id),
            face_value="500",
            quantity=1,
            recipient_name="Zhang Wei",
            recipient_mobile="13900139000",
        ),
    ]
    order = order_create(
        company=shop.company,
        actor=shop.people["purchaser"],
        lines=lines,
        delivery_method=DeliveryMethod.RECIPIENTS,
    )
    order = order_submit(order=order, actor=shop.people["purchaser"])
    assert order.status == OrderStatus.FUNDED
    order_begin_fulfilment(order_id=order.pk)
    for chunk in Chunk.objects.filter(batch__order=order).order_by("pk"):
        issuance.chunk_generate(chunk_id=chunk.pk)
    for batch in order.batches.all():
        issuance.batch_finalise(batch_id=batch.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    return order


def send_pending(order: Order) -> list[str]:
    return [
        tasks.recipient_delivery_send(pk)
        for pk in RecipientDelivery.objects.filter(order=order, status=DeliveryStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    ]


@pytest.fixture
def delivered(shop: Shop, mailoutbox: list[Any]) -> Order:
    """A fulfilled order whose links went out."""
    order = fulfilled(shop)
    recipients.deliveries_create(order=order)
    assert send_pending(order) == ["sent"] * 4
    return order


def delivery_of(order: Order, email: str = "", mobile: str = "") -> RecipientDelivery:
    deliveries = RecipientDelivery.objects.filter(order=order).select_related("card")
    if email:
        deliveries = deliveries.filter(email=email)
    if mobile:
        deliveries = deliveries.filter(mobile=mobile)
    delivery = deliveries.order_by("card__serial").first()
    assert delivery is not None
    return delivery


def token_in(text: str) -> str:
    match = LINK.search(text)
    assert match, text
    return match.group(1)


def last_email_token(mailoutbox: list[Any], to: str) -> str:
    mail = [m for m in mailoutbox if m.to == [to]][-1]
    return token_in(mail.body)


def text_of(response: Any) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def open_link(client: Client, token: str) -> Any:
    first = client.get(f"/r/{token}/")
    assert first.status_code == 302
    assert first["Location"] == "/r/"
    return client.get("/r/")


def code_of(card: Card) -> str:
    return codes.reveal(
        serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
    )


def shown_code(response: Any) -> str:
    """The code as the page shows it: the text of its groups, without the markup."""
    match = re.search(r'data-testid="code"[^>]*>(.*?)</code>', response.content.decode(), re.S)
    assert match, "no code on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


def shows_code(response: Any, card: Card) -> bool:
    """Whether the page carries the card's code in any form: as text, in groups or not, or in
    an attribute (the copy button's value)."""
    code = code_of(card)
    content = response.content.decode()
    text = re.sub(r"<[^>]+>|\s", "", content)
    plain = code.replace("-", "")
    return code in text or plain in text or plain in content


def section(response: Any) -> str:
    """The delivery section of the order page."""
    content = response.content.decode()
    start = content.index('data-testid="recipient-deliveries"')
    return content[start : content.index("</section>", start)]


# --- Creating deliveries -------------------------------------------------------------------------


def queued(callbacks: list[Any], task: Any) -> list[tuple[Any, ...]]:
    """The arguments of each follow-up of ``task`` queued through the outbox, to be published
    on commit."""
    return outbox_queued(callbacks, task)


def test_a_fulfilled_recipients_order_queues_the_creation_of_its_deliveries(
    shop, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = fulfilled(shop)
    assert queued(callbacks, tasks.recipient_deliveries_create) == [(order.pk,)]


def test_a_file_order_queues_no_delivery_and_creates_none(
    shop, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = factories.submitted(shop.company, shop.people["purchaser"], quantity=2)
        order_begin_fulfilment(order_id=order.pk)
        for chunk in Chunk.objects.filter(batch__order=order):
            issuance.chunk_generate(chunk_id=chunk.pk)
        for batch in order.batches.all():
            issuance.batch_finalise(batch_id=batch.pk)
    assert queued(callbacks, tasks.recipient_deliveries_create) == []
    assert recipients.deliveries_create(order=order) == 0


def test_one_delivery_per_card_and_a_second_run_creates_nothing(
    shop, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    order = fulfilled(shop)
    sent: list[Any] = []
    monkeypatch.setattr(tasks.recipient_delivery_send, "delay", lambda *a: sent.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.recipient_deliveries_create(order.pk) == 4
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.recipient_deliveries_create(order.pk) == 0
    deliveries = list(RecipientDelivery.objects.filter(order=order).order_by("card__serial"))
    assert [(d.recipient_name, d.email, d.mobile) for d in deliveries] == [
        ("Wang Xiaoming", "xiaoming@example.com", "13800138000"),
        ("Li Na", "lina@example.com", ""),
        ("Li Na", "lina@example.com", ""),
        ("Zhang Wei", "", "13900139000"),
    ]
    assert {d.card.batch.order_id for d in deliveries} == {order.pk}
    assert all(d.status == DeliveryStatus.PENDING and d.token_digest is None for d in deliveries)
    # Sends are queued after the commit, with the delivery's id only
    assert sorted(sent) == sorted((d.pk,) for d in deliveries)
    assert AuditEvent.objects.filter(action=RecipientAction.DELIVERIES_CREATED).count() == 1


# --- Sending -------------------------------------------------------------------------------------


def test_each_recipient_gets_a_bilingual_email_and_or_an_sms_with_their_own_link(
    delivered, mailoutbox
) -> None:
    assert sorted(m.to[0] for m in mailoutbox) == [
        "lina@example.com",
        "lina@example.com",
        "xiaoming@example.com",
    ]
    assert sorted(m.to for m in sms.outbox) == ["13800138000", "13900139000"]
    mail = next(m for m in mailoutbox if m.to == ["xiaoming@example.com"])
    chinese, english = mail.body.split("\n\n----\n\n")
    assert "Hello Wang Xiaoming," in english
    assert "Acme Gifts Co., Ltd. sent you a Gift card e-card of ¥100.00." in english
    assert "the code is shown only once" in english.lower()
    assert token_in(chinese) == token_in(english)
    assert "Acme Gifts Co., Ltd. sent you an e-card of ¥100.00" in mail.subject
    # The SMS of the same card carries the same link; every card has a different one
    text = next(m.body for m in sms.outbox if m.to == "13800138000")
    assert token_in(text) == token_in(mail.body)
    tokens = {token_in(m.body) for m in mailoutbox} | {token_in(m.body) for m in sms.outbox}
    assert len(tokens) == 4
    for d in RecipientDelivery.objects.filter(order=delivered):
        assert d.status == DeliveryStatus.SENT
        assert d.send_count == 1
        assert d.sent_at is not None
        assert d.token_expires_at is not None
        assert d.sent_at is not None
        days = (d.token_expires_at - d.sent_at) / datetime.timedelta(days=1)
        assert days == pytest.approx(30)


def test_a_redelivered_send_task_sends_nothing_twice(shop, mailoutbox) -> None:
    order = fulfilled(shop)
    recipients.deliveries_create(order=order)
    delivery = delivery_of(order, email="xiaoming@example.com")
    assert tasks.recipient_delivery_send(delivery.pk) == "sent"
    assert tasks.recipient_delivery_send(delivery.pk) == "skipped"
    assert tasks.recipient_delivery_send(0) == "missing"
    assert len(mailoutbox) == 1
    assert len(sms.outbox) == 1
    delivery.refresh_from_db()
    assert delivery.send_count == 1


def test_a_refused_address_marks_the_delivery_bounced(shop, mailoutbox, monkeypatch) -> None:
    order = fulfilled(shop)
    recipients.deliveries_create(order=order)

    def refuse(**kwargs: Any) -> None:
        raise SMTPRecipientsRefused({kwargs["recipient_list"][0]: (550, b"No such user")})

    monkeypatch.setattr("portal.notices.send_mail", refuse)
    email_only = delivery_of(order, email="lina@example.com")
    assert tasks.recipient_delivery_send(email_only.pk) == "bounced"
    email_only.refresh_from_db()
    assert email_only.status == DeliveryStatus.BOUNCED
    assert email_only.bounced_at is not None
    assert email_only.token_digest is None
    assert "550 No such user" in email_only.last_error
    # With a mobile as well, the SMS still carries the link: sent, with the bounce noted
    both = delivery_of(order, email="xiaoming@example.com")
    assert tasks.recipient_delivery_send(both.pk) == "sent"
    both.refresh_from_db()
    assert both.status == DeliveryStatus.SENT
    assert both.bounced_at is not None
    assert len(sms.outbox) == 1


def test_a_failing_mail_server_is_retried_then_the_delivery_fails(shop, monkeypatch) -> None:
    order = fulfilled(shop)
    recipients.deliveries_create(order=order)
    delivery = delivery_of(order, email="lina@example.com")
    attempts: list[int] = []

    def down(**kwargs: Any) -> None:
        attempts.append(1)
        raise SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr("portal.notices.send_mail", down)
    # An attempt that is not the last: noted, still pending, nothing stored
    result = tasks.recipient_delivery_send.apply(args=(delivery.pk,), retries=0, throw=False)
    delivery.refresh_from_db()
    assert delivery.token_digest is None
    assert delivery.send_count == 0
    # Retried (eagerly here) until the last attempt, which marks it failed
    assert len(attempts) == tasks.RECIPIENT_SEND_MAX_RETRIES + 1
    assert delivery.status == DeliveryStatus.FAILED
    assert "SMTPServerDisconnected" in delivery.last_error
    assert "Connection" not in repr(result.result)
    # A resend is the way out
    monkeypatch.undo()
    recipients.delivery_resend(delivery=delivery, actor=shop.people["purchaser"])
    assert tasks.recipient_delivery_send(delivery.pk) == "sent"


# --- The one-time page ---------------------------------------------------------------------------


def test_the_link_moves_the_token_into_the_session_and_out_of_the_address(
    delivered, mailoutbox
) -> None:
    token = last_email_token(mailoutbox, "xiaoming@example.com")
    client = Client()
    first = client.get(f"/r/{token}/")
    assert first.status_code == 302
    assert first["Location"] == "/r/"
    assert first["Referrer-Policy"] == "same-origin"
    assert "no-store" in first["Cache-Control"]
    page = client.get("/r/")
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "same-origin"
    assert "no-store" in page["Cache-Control"]
    assert token not in page.content.decode()
    card = delivery_of(delivered, email="xiaoming@example.com").card
    text = text_of(page)
    assert "From Acme Gifts Co., Ltd." in text
    assert "¥100.00" in text
    assert card.serial_display in text
    assert timezone.localtime(card.expires_at).strftime("%Y-%m-%d") in text
    assert f"···{card.last4}" in text
    assert "Show my code" in text
    assert not shows_code(page, card)


def test_opening_the_link_marks_the_delivery_opened(delivered, mailoutbox) -> None:
    open_link(Client(), last_email_token(mailoutbox, "xiaoming@example.com"))
    delivery = delivery_of(delivered, email="xiaoming@example.com")
    assert delivery.status == DeliveryStatus.OPENED
    assert delivery.opened_at is not None


def test_the_code_is_shown_once_then_only_its_last_four(delivered, mailoutbox) -> None:
    client = Client()
    open_link(client, last_email_token(mailoutbox, "xiaoming@example.com"))
    card = delivery_of(delivered, email="xiaoming@example.com").card
    shown = client.post("/r/")
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    assert shown_code(shown) == code_of(card)
    assert "This is the only time the code is shown" in text_of(shown)
    delivery = delivery_of(delivered, email="xiaoming@example.com")
    assert delivery.status == DeliveryStatus.REVEALED
    assert delivery.revealed_at is not None
    # Again, by POST or GET: the last four only, and when it was shown
    for again in (client.post("/r/"), client.get("/r/")):
        text = text_of(again)
        assert not shows_code(again, card)
        assert f"···{card.last4}" in text
        when = timezone.localtime(delivery.revealed_at).strftime("%Y-%m-%d %H:%M")
        assert f"The code was already shown on {when}" in text
        assert "contact Acme Gifts Co., Ltd." in text
        assert "Show my code" not in text
    event = AuditEvent.objects.get(action=RecipientAction.CODE_REVEALED)
    assert event.actor_label == "recipient"
    assert event.changes == {"order": delivered.number, "serial": card.serial_display}


def test_a_second_browser_with_the_same_link_sees_only_the_last_four(delivered, mailoutbox) -> None:
    token = last_email_token(mailoutbox, "lina@example.com")
    first = Client()
    open_link(first, token)
    first.post("/r/")
    other = Client()
    page = open_link(other, token)
    card = RecipientDelivery.objects.get(token_digest=hashlib.sha256(token.encode()).digest()).card
    assert f"···{card.last4}" in text_of(page)
    assert not shows_code(other.post("/r/"), card)


def test_unknown_and_expired_links_get_the_same_page(delivered, mailoutbox) -> None:
    unknown = open_link(Client(), "x" * 43)
    token = last_email_token(mailoutbox, "xiaoming@example.com")
    RecipientDelivery.objects.filter(email="xiaoming@example.com").update(
        token_expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    expired = open_link(Client(), token)
    for page in (unknown, expired):
        assert page.status_code == 404
        assert "This link cannot be used" in text_of(page)
        assert "no-store" in page["Cache-Control"]
    assert text_of(unknown).replace(" ", "") == text_of(expired).replace(" ", "")
    # Without any link in the session there is nothing to show either
    assert Client().get("/r/").status_code == 404
    assert Client().post("/r/").status_code == 404


def test_failed_links_are_limited_per_address(delivered, mailoutbox, monkeypatch, caplog) -> None:
    monkeypatch.setattr(views_recipient, "LINK_FAILURE_LIMIT", 3)
    client = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(3):
        assert open_link(client, f"guess{n}" * 6).status_code == 404
    token = last_email_token(mailoutbox, "xiaoming@example.com")
    blocked = open_link(client, token)
    assert blocked.status_code == 429
    assert "Too many attempts" in text_of(blocked)
    # Error answers are logged with their path: the token's path only ever redirects
    assert token not in caplog.text
    # Another address is not affected
    assert open_link(Client(REMOTE_ADDR="198.51.100.7"), token).status_code == 200


def test_behind_the_proxy_failed_links_are_limited_per_forwarded_client(
    delivered, mailoutbox, monkeypatch, settings
) -> None:
    # Given the portal behind one trusted proxy, which every request comes through
    settings.TRUSTED_PROXY_COUNT = 1
    monkeypatch.setattr(views_recipient, "LINK_FAILURE_LIMIT", 3)

    def via_proxy(client_address: str) -> Client:
        return Client(REMOTE_ADDR="10.0.0.5", headers={"X-Forwarded-For": client_address})

    # When one client guesses links until blocked
    for n in range(3):
        assert open_link(via_proxy("203.0.113.29"), f"guess{n}" * 6).status_code == 404
    token = last_email_token(mailoutbox, "xiaoming@example.com")
    assert open_link(via_proxy("203.0.113.29"), token).status_code == 429

    # Then a recipient coming through the same proxy from elsewhere still sees the card
    assert open_link(via_proxy("198.51.100.27"), token).status_code == 200


def test_without_a_proxy_a_forwarded_header_does_not_get_around_the_link_limit(
    delivered, mailoutbox, monkeypatch, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    monkeypatch.setattr(views_recipient, "LINK_FAILURE_LIMIT", 3)
    for n in range(3):
        guesser = Client(REMOTE_ADDR="203.0.113.19", headers={"X-Forwarded-For": f"192.0.2.{n}"})
        assert open_link(guesser, f"guess{n}" * 6).status_code == 404
    token = last_email_token(mailoutbox, "xiaoming@example.com")
    spoofing = Client(REMOTE_ADDR="203.0.113.19", headers={"X-Forwarded-For": "192.0.2.200"})
    assert open_link(spoofing, token).status_code == 429


def test_a_frozen_cards_code_is_not_shown(delivered, mailoutbox) -> None:
    delivery = delivery_of(delivered, email="xiaoming@example.com")
    Card.objects.filter(pk=delivery.card_id).update(status=CardStatus.FROZEN)
    client = Client()
    open_link(client, last_email_token(mailoutbox, "xiaoming@example.com"))
    page = client.post("/r/")
    assert not shows_code(page, delivery.card)
    assert "not usable at the moment" in text_of(page)
    delivery.refresh_from_db()
    assert delivery.revealed_at is None


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_reveals_show_the_code_once(shop, mailoutbox) -> None:
    order = fulfilled(shop)
    recipients.deliveries_create(order=order)
    send_pending(order)
    token = last_email_token(mailoutbox, "xiaoming@example.com")
    digest = hashlib.sha256(token.encode()).digest()
    barrier = threading.Barrier(4)
    results: list[Any] = []
    lock = threading.Lock()

    def reveal() -> None:
        try:
            with translation.override("en"):
                barrier.wait(timeout=30)
                outcome = recipients.link_reveal(digest=digest)
            with lock:
                results.append(outcome.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=reveal) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    card = delivery_of(order, email="xiaoming@example.com").card
    assert sorted(results, key=str) == sorted([code_of(card), None, None, None], key=str)
    assert AuditEvent.objects.filter(action=RecipientAction.CODE_REVEALED).count() == 1


# --- Secrets stay out of the database, logs and results ------------------------------------------


def test_no_token_or_code_is_stored_or_logged_in_plain(shop, mailoutbox, caplog) -> None:
    caplog.set_level("DEBUG")
    order = fulfilled(shop)
    recipients.deliveries_create(order=order)
    results = send_pending(order)
    token = last_email_token(mailoutbox, "xiaoming@example.com")
    client = Client()
    open_link(client, token)
    client.post("/r/")
    card = delivery_of(order, email="xiaoming@example.com").card
    code = code_of(card)
    # The stored digest is the token's SHA-256
    delivery = delivery_of(order, email="xiaoming@example.com")
    assert delivery.token_digest is not None
    assert bytes(delivery.token_digest) == hashlib.sha256(token.encode()).digest()
    secrets_ = [token, code, code.replace("-", "")]
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            for (row,) in cursor.fetchall():
                assert not any(s in row for s in secrets_), table
    assert not any(s in caplog.text for s in secrets_)
    assert set(results) == {"sent"}


def test_the_console_sms_backend_logs_no_link(shop, mailoutbox, caplog, settings) -> None:
    settings.SMS_BACKEND = "portal.sms.ConsoleSmsBackend"
    caplog.set_level("INFO")
    order = fulfilled(shop)
    recipients.deliveries_create(order=order)
    send_pending(order)
    assert "139****9000" in caplog.text
    assert "/r/" not in caplog.text
    assert sms.outbox == []


# --- Resend --------------------------------------------------------------------------------------


def test_resend_replaces_the_link_and_is_audited(delivered, mailoutbox, shop) -> None:
    old = last_email_token(mailoutbox, "xiaoming@example.com")
    delivery = delivery_of(delivered, email="xiaoming@example.com")
    response = shop.client("purchaser").post(
        f"/orders/{delivered.number}/recipients/{delivery.public_id}/resend/"
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"/orders/{delivered.number}/#recipients")
    # The old link is dead at once, before the new one is even sent
    assert open_link(Client(), old).status_code == 404
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert tasks.recipient_delivery_send(delivery.pk) == "sent"
    new = last_email_token(mailoutbox, "xiaoming@example.com")
    assert new != old
    assert open_link(Client(), new).status_code == 200
    assert open_link(Client(), old).status_code == 404
    delivery.refresh_from_db()
    assert delivery.send_count == 2
    event = AuditEvent.objects.get(action=RecipientAction.LINK_RESENT)
    assert event.object_id == str(delivered.public_id)
    assert event.actor == shop.people["purchaser"]
    assert event.changes["recipient"]["email"] == "xi***@example.com"
    assert old not in str(event.changes)
    assert new not in str(event.changes)


def test_resend_is_limited(delivered, mailoutbox, shop, settings) -> None:
    settings.RECIPIENT_MAX_SENDS = 2
    delivery = delivery_of(delivered, email="xiaoming@example.com")
    purchaser = shop.people["purchaser"]
    recipients.delivery_resend(delivery=delivery, actor=purchaser)
    # While a link is on its way, another resend waits
    with pytest.raises(Exception, match="already on its way"):
        recipients.delivery_resend(delivery=delivery, actor=purchaser)
    tasks.recipient_delivery_send(delivery.pk)
    client = shop.client("purchaser")
    url = f"/orders/{delivered.number}/recipients/{delivery.public_id}/resend/"
    page = client.post(url, follow=True)
    assert "was sent 2 times, the most allowed" in text_of(page)
    delivery.refresh_from_db()
    assert delivery.send_count == 2
    assert delivery.status == DeliveryStatus.SENT
    assert AuditEvent.objects.filter(action=RecipientAction.LINK_RESENT).count() == 1


def test_no_resend_after_the_code_was_shown(delivered, mailoutbox, shop) -> None:
    client = Client()
    open_link(client, last_email_token(mailoutbox, "xiaoming@example.com"))
    client.post("/r/")
    delivery = delivery_of(delivered, email="xiaoming@example.com")
    with pytest.raises(Exception, match="already saw the code"):
        recipients.delivery_resend(delivery=delivery, actor=shop.people["owner"])


# --- Change of recipient -------------------------------------------------------------------------


def test_change_of_recipient_sends_a_fresh_link_to_the_new_person(
    delivered, mailoutbox, shop
) -> None:
    old = last_email_token(mailoutbox, "lina@example.com")
    delivery = RecipientDelivery.objects.get(token_digest=hashlib.sha256(old.encode()).digest())
    page = shop.client("owner").post(
        f"/orders/{delivered.number}/recipients/{delivery.public_id}/change/",
        {"name": "Chen Jie", "email": " Chen.Jie@Example.com ", "mobile": "+86 137 0013 7000"},
        follow=True,
    )
    assert "now goes to Chen Jie" in text_of(page)
    delivery.refresh_from_db()
    assert (delivery.recipient_name, delivery.email, delivery.mobile) == (
        "Chen Jie",
        "chen.jie@example.com",
        "13700137000",
    )
    assert delivery.recipient_changes == 1
    assert open_link(Client(), old).status_code == 404
    assert tasks.recipient_delivery_send(delivery.pk) == "sent"
    new = last_email_token(mailoutbox, "chen.jie@example.com")
    assert token_in(sms.outbox[-1].body) == new
    assert sms.outbox[-1].to == "13700137000"
    assert open_link(Client(), new).status_code == 200
    event = AuditEvent.objects.get(action=RecipientAction.RECIPIENT_CHANGED)
    assert event.changes["old"] == {"name": "Li Na", "email": "li***@example.com", "mobile": ""}
    assert event.changes["new"] == {
        "name": "Chen Jie",
        "email": "ch***@example.com",
        "mobile": "137****7000",
    }
    assert event.object_id == str(delivered.public_id)


def test_change_of_recipient_is_refused_after_the_code_was_shown(
    delivered, mailoutbox, shop
) -> None:
    client = Client()
    open_link(client, last_email_token(mailoutbox, "xiaoming@example.com"))
    client.post("/r/")
    delivery = delivery_of(delivered, email="xiaoming@example.com")
    page = shop.client("purchaser").post(
        f"/orders/{delivered.number}/recipients/{delivery.public_id}/change/",
        {"name": "Someone Else", "email": "else@example.com"},
        follow=True,
    )
    assert "already saw the code" in text_of(page)
    delivery.refresh_from_db()
    assert delivery.email == "xiaoming@example.com"
    assert delivery.recipient_changes == 0


def test_changes_of_recipient_are_limited_and_checked(delivered, shop, settings) -> None:
    settings.RECIPIENT_MAX_CHANGES = 1
    delivery = delivery_of(delivered, mobile="13900139000")
    purchaser = shop.people["purchaser"]
    with pytest.raises(Exception, match="11 digits starting with 1"):
        recipients.delivery_change_recipient(
            delivery=delivery, actor=purchaser, name="Zhang Wei", email="", mobile="12345"
        )
    with pytest.raises(Exception, match="email or mobile"):
        recipients.delivery_change_recipient(
            delivery=delivery, actor=purchaser, name="Zhang Wei", email="", mobile=""
        )
    with pytest.raises(Exception, match="same recipient"):
        recipients.delivery_change_recipient(
            delivery=delivery, actor=purchaser, name="Zhang Wei", email="", mobile="13900139000"
        )
    recipients.delivery_change_recipient(
        delivery=delivery, actor=purchaser, name="Zhang Wei", email="", mobile="13900139001"
    )
    with pytest.raises(Exception, match="changed 1 times, the most allowed"):
        recipients.delivery_change_recipient(
            delivery=delivery, actor=purchaser, name="Zhang Wei", email="", mobile="13900139002"
        )
    delivery.refresh_from_db()
    assert delivery.mobile == "13900139001"


# --- Who may do what -----------------------------------------------------------------------------


def test_the_order_page_lists_recipients_masked_with_counts(delivered, mailoutbox, shop) -> None:
    client = Client()
    open_link(client, last_email_token(mailoutbox, "xiaoming@example.com"))
    client.post("/r/")
    part = section(shop.client("purchaser").get(f"/orders/{delivered.number}/"))
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", part)))
    assert "xi***@example.com" in text
    assert "138****8000" in text
    assert "xiaoming@example.com" not in text
    assert "13800138000" not in text
    assert "Code shown 1" in text
    assert "Sent 3" in text
    assert part.count('data-testid="delivery-row"') == 4
    # The revealed card has no actions left; the three others can be resent and changed
    assert part.count('data-testid="resend"') == 3
    assert part.count('data-testid="change-recipient"') == 3


def test_a_viewer_sees_the_deliveries_but_cannot_act(delivered, shop) -> None:
    viewer = shop.client("viewer")
    part = section(viewer.get(f"/orders/{delivered.number}/"))
    assert part.count('data-testid="delivery-row"') == 4
    assert 'data-testid="resend"' not in part
    delivery = delivery_of(delivered, email="lina@example.com")
    base = f"/orders/{delivered.number}/recipients/{delivery.public_id}"
    assert viewer.post(f"{base}/resend/").status_code == 403
    assert viewer.post(f"{base}/change/", {"email": "x@example.com"}).status_code == 403
    # Finance and approvers cannot either; the service refuses them too
    assert shop.client("finance").post(f"{base}/resend/").status_code == 403
    with pytest.raises(Exception, match="Only owners and purchasers"):
        recipients.delivery_resend(delivery=delivery, actor=shop.people["approver"])
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_another_companys_delivery_is_not_found(delivered, shop) -> None:
    other = factories.company("Other Co.")
    owner = factories.member(other, Role.OWNER)
    own_order = factories.draft(other, owner, quantity=1)
    client = Client()
    sign_in(client, owner, second_factor=True)
    delivery = delivery_of(delivered, email="lina@example.com")
    for number in (delivered.number, own_order.number):
        base = f"/orders/{number}/recipients/{delivery.public_id}"
        assert client.post(f"{base}/resend/").status_code == 404
        assert client.post(f"{base}/change/", {"email": "x@example.com"}).status_code == 404
    delivery.refresh_from_db()
    assert (delivery.email, delivery.send_count) == ("lina@example.com", 1)


def test_a_file_order_page_has_no_delivery_section(shop) -> None:
    order = factories.submitted(shop.company, shop.people["purchaser"], quantity=1)
    page = shop.client("purchaser").get(f"/orders/{order.number}/")
    assert page.status_code == 200
    assert 'data-testid="recipient-deliveries"' not in page.content.decode()


def test_the_operators_delivery_list_masks_recipients_and_never_shows_the_link(
    client: Client, delivered: Order, mailoutbox: list[Any]
) -> None:
    from portal.models import User

    ops = User.objects.create_user("ops-d@issuer.example", "x", is_staff=True, is_superuser=True)
    sign_in(client, ops, second_factor=True)
    delivery = RecipientDelivery.objects.filter(order=delivered).exclude(email="").first()
    assert delivery is not None
    page = client.get("/ops/cards/recipientdelivery/").content.decode()
    assert delivered.number in page
    assert delivery.card.serial_display in page
    assert delivery.email not in page
    token = last_email_token(mailoutbox, delivery.email)
    assert token not in page
    detail = client.get(f"/ops/cards/recipientdelivery/{delivery.pk}/change/").content.decode()
    assert token not in detail
    assert code_of(delivery.card).replace("-", "") not in detail.replace("-", "")
