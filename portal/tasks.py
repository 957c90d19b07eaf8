"""Thin tasks: they take ids and call one service (emails: ``portal.notices``)."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task

from portal.services import api_keys, memberships, outbox


@shared_task(
    acks_late=True,
    # A mail server that is down or slow must not lose the invitation: retry with back-off.
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def invitation_send_email(invitation_id: int) -> str:
    """Email the invitation link (rebuilt from the id: no secret travels through the broker);
    a redelivered message sends nothing twice."""
    return memberships.invitation_email_send(invitation_id=invitation_id)


@shared_task(acks_late=True)
def outbox_relay() -> int:
    """Publish the follow-ups that could not be published after their commit (Celery beat)."""
    return outbox.outbox_relay()


@shared_task(ignore_result=False)
def ping() -> str:
    """Answers from a worker: proves that a worker is consuming (the tests wait on it)."""
    return "pong"


@shared_task(
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
    ignore_result=True,
)
def api_key_created_notify_owners(key_id: int) -> str:
    """Tell the company's owners that a key able to export codes or approve orders was made."""
    return api_keys.api_key_owners_notify(key_id=key_id)
