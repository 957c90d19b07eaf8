"""The Celery app's configuration, and tasks run by a real worker process."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.signals import after_task_publish
from django.conf import settings
from django.db import transaction

from portal.celery import app
from portal.models import Company, Invitation, Role, User
from portal.services.memberships import invitation_create, invitation_from_token

EMAIL_WAIT = 20.0


def test_celery_configuration() -> None:
    conf = app.conf
    assert list(conf.accept_content) == ["json"]
    assert list(conf.result_accept_content) == ["json"]
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert {queue.name for queue in conf.task_queues} == {"default", "codes", "statements"}
    assert conf.task_default_queue == "default"
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    options = conf.broker_transport_options
    # Longer than the longest task, or Redis redelivers a message that is still being worked on.
    assert options["visibility_timeout"] >= 3600
    assert options["global_keyprefix"] == settings.REDIS_KEY_PREFIX
    assert conf.broker_url == settings.REDIS_URL
    assert app.tasks["portal.tasks.invitation_send_email"].acks_late is True


def test_tasks_are_routed_to_their_queues() -> None:
    router = app.amqp.router
    assert router.route({}, "cards.tasks.issuance_generate_chunk")["queue"].name == "codes"
    # Ordering notifications are ordinary work: they must not wait behind code generation.
    assert router.route({}, "cards.tasks.order_notify_approvers")["queue"].name == "default"
    assert router.route({}, "billing.tasks.statement_run")["queue"].name == "statements"
    assert router.route({}, "portal.tasks.invitation_send_email")["queue"].name == "default"


@pytest.mark.worker
def test_ping_round_trips_through_the_worker(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    assert app.send_task("portal.tasks.ping").get(timeout=20) == "pong"
    assert celery_worker_process.poll() is None


# --- Helpers -------------------------------------------------------------------------------------


class Published:
    """Every task message this process publishes while the context is open."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def _record(self, sender: str | None = None, body: Any = None, **kwargs: Any) -> None:
        headers = kwargs.get("headers") or {}
        self.messages.append({"task": sender, "body": body, "headers": headers})

    def __enter__(self) -> Published:
        after_task_publish.connect(self._record, weak=False)
        return self

    def __exit__(self, *exc: object) -> None:
        after_task_publish.disconnect(self._record)


def _mail_files(mail_dir: Path) -> set[Path]:
    return {p for p in mail_dir.iterdir() if p.is_file()}


def _wait_for_new_mail(mail_dir: Path, before: set[Path], timeout: float) -> set[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = _mail_files(mail_dir) - before
        if new:
            time.sleep(0.3)  # let the backend finish writing
            return _mail_files(mail_dir) - before
        time.sleep(0.2)
    return set()


def _read_mail(path: Path) -> tuple[str, str]:
    """(recipients, decoded text body) of the file backend's message(s) in this file."""
    raw = path.read_bytes().split(b"\n" + b"-" * 79)[0]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(message["To"]), body.get_content()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _redis_contents() -> str:
    """Every key and value this test run holds in Redis (broker queues, unacked messages,
    results), as one text to search."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = settings.REDIS_KEY_PREFIX
    keys = set(client.scan_iter(match=f"{prefix}*", count=1000))
    keys |= set(client.scan_iter(match=f"*{prefix}*", count=1000))
    assert keys, "no keys with this run's prefix: is the broker using it?"
    parts: list[bytes | str] = []
    for key in keys:
        parts.append(key)
        kind = _text(client.type(key))
        if kind == "string":
            parts.append(client.get(key) or b"")
        elif kind == "list":
            parts.extend(client.lrange(key, 0, -1))
        elif kind == "hash":
            for field, value in client.hgetall(key).items():
                parts.extend([field, value])
        elif kind == "set":
            parts.extend(client.smembers(key))
        elif kind == "zset":
            parts.extend(m for m in client.zrange(key, 0, -1) if isinstance(m, bytes | str))
    return "\n".join(_text(part) for part in parts)


@pytest.fixture
def inviter() -> tuple[Company, User]:
    owner = User.objects.create_user(email="owner@celery.example", password="x" * 16)
    company = Company.objects.create(
        legal_name="任务测试有限公司", credit_code="91350100M000100Y43", status="active"
    )
    company.memberships.create(user=owner, role=Role.OWNER)
    return company, owner


# --- Invitation email ----------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_invitation_email_is_sent_by_the_worker_once(
    celery_worker_process: subprocess.Popen[bytes],
    mail_dir: Path,
    inviter: tuple[Company, User],
) -> None:
    company, owner = inviter
    before = _mail_files(mail_dir)
    with Published() as published, transaction.atomic():
        invitation = invitation_create(
            company=company, email="New.Buyer@Celery.Example", role=Role.PURCHASER, invited_by=owner
        )
        # Queued on commit, not before.
        assert published.messages == []

    # The message carries the invitation's id and nothing secret.
    assert len(published.messages) == 1
    message = published.messages[0]
    assert message["task"] == "portal.tasks.invitation_send_email"
    args, kwargs, _embed = message["body"]
    assert list(args) == [invitation.pk]
    assert kwargs == {}
    serialized = json.dumps(message, default=str)
    assert invitation.email not in serialized
    assert str(invitation.public_id) not in serialized

    new = _wait_for_new_mail(mail_dir, before, EMAIL_WAIT)
    assert len(new) == 1, f"expected one email, got {sorted(p.name for p in new)}"
    recipients, body = _read_mail(new.pop())
    assert recipients == "new.buyer@celery.example"
    assert company.legal_name in body
    # The link (in both languages' text) opens this invitation.
    links = set(re.findall(r"http://testserver/invite/([^/\s]+)/", body))
    assert len(links) == 1, body
    token = links.pop()
    assert invitation_from_token(token) == invitation
    assert token not in serialized

    deadline = time.monotonic() + EMAIL_WAIT
    invitation.refresh_from_db()
    while invitation.email_sent_at is None and time.monotonic() < deadline:
        time.sleep(0.2)
        invitation.refresh_from_db()
    assert invitation.email_sent_at is not None

    # Nothing in Redis (queues, unacked messages, results) holds the link's secret.
    stored = _redis_contents()
    assert token not in stored
    assert token.split(":")[-1] not in stored

    # A redelivered message sends nothing twice.
    before = _mail_files(mail_dir)
    result = app.send_task(
        "portal.tasks.invitation_send_email", args=[invitation.pk], ignore_result=False
    )
    assert result.get(timeout=20) == "already-sent"
    assert _wait_for_new_mail(mail_dir, before, 3) == set()
    sent_at = invitation.email_sent_at
    invitation.refresh_from_db()
    assert invitation.email_sent_at == sent_at


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_rolled_back_invitation_queues_nothing(
    celery_worker_process: subprocess.Popen[bytes],
    mail_dir: Path,
    inviter: tuple[Company, User],
) -> None:
    company, owner = inviter
    before = _mail_files(mail_dir)

    class Abort(Exception):
        pass

    def invite_then_fail() -> None:
        with transaction.atomic():
            invitation_create(
                company=company, email="gone@celery.example", role=Role.VIEWER, invited_by=owner
            )
            raise Abort

    with Published() as published, pytest.raises(Abort):
        invite_then_fail()

    assert published.messages == []
    assert not Invitation.objects.filter(email="gone@celery.example").exists()
    # The worker is alive and consuming, and still sends no email for it.
    assert app.send_task("portal.tasks.ping").get(timeout=20) == "pong"
    assert _wait_for_new_mail(mail_dir, before, 4) == set()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_invitation_task_skips_a_missing_or_revoked_invitation(
    celery_worker_process: subprocess.Popen[bytes],
    mail_dir: Path,
    inviter: tuple[Company, User],
) -> None:
    company, owner = inviter
    before = _mail_files(mail_dir)
    missing = app.send_task("portal.tasks.invitation_send_email", args=[10**9], ignore_result=False)
    assert missing.get(timeout=20) == "skipped"
    invitation = Invitation.objects.create(
        company=company,
        email="revoked@celery.example",
        role=Role.VIEWER,
        invited_by=owner,
        expires_at="2999-01-01T00:00:00Z",
        revoked_at="2000-01-01T00:00:00Z",
    )
    result = app.send_task(
        "portal.tasks.invitation_send_email", args=[invitation.pk], ignore_result=False
    )
    assert result.get(timeout=20) == "skipped"
    assert _wait_for_new_mail(mail_dir, before, 2) == set()
