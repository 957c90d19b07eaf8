"""Thin tasks: they take ids, check state, and call one service or send one message."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from portal.models import Invitation
from portal.services import outbox
from portal.services.memberships import invitation_token


@shared_task(
    acks_late=True,
    # A mail server that is down or slow must not lose the invitation: retry with back-off.
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=8,
)
def invitation_send_email(invitation_id: int) -> str:
    """Email the invitation link. The link is rebuilt here from the invitation's id, so no secret
    travels through the broker; a redelivered message sends nothing twice."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("company", "invited_by")
            .filter(pk=invitation_id)
            .first()
        )
        if invitation is None or not invitation.is_open:
            return "skipped"
        if invitation.email_sent_at is not None:
            return "already-sent"
        link = settings.PORTAL_BASE_URL.rstrip("/") + reverse(
            "portal:invitation_open", kwargs={"token": invitation_token(invitation)}
        )
        context = {"invitation": invitation, "link": link}
        # Bilingual: we do not know the invitee's language yet.
        bodies, subjects = [], []
        for language in ("zh-hans", "en"):
            with translation.override(language):
                bodies.append(render_to_string("emails/invitation.txt", context))
                subjects.append(render_to_string("emails/invitation_subject.txt", context).strip())
        send_mail(
            subject=" / ".join(subjects),
            message="\n\n----\n\n".join(bodies),
            from_email=None,
            recipient_list=[invitation.email],
        )
        invitation.email_sent_at = timezone.now()
        invitation.save(update_fields=["email_sent_at"])
    return "sent"


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
    """Tell the company's owners that a key able to export codes or approve orders was made.
    Bilingual, like the other account emails. The key's secret is never in it."""
    from portal.models import ApiKey, Membership, Role
    from portal.policy import SENSITIVE_SCOPES

    key = ApiKey.objects.select_related("company", "user").filter(pk=key_id).first()
    if key is None:
        return "skipped"
    owners = sorted(
        {
            m.user.email
            for m in Membership.objects.filter(company=key.company, role=Role.OWNER)
            .select_related("user")
            .filter(user__is_active=True)
            if m.user.email
        }
    )
    if not owners:
        return "no-owners"
    labels = dict(ApiKey.Scope.choices)
    link = settings.PORTAL_BASE_URL.rstrip("/") + reverse("portal:api_keys")
    bodies, subjects = [], []
    for language in ("zh-hans", "en"):
        with translation.override(language):
            context = {
                "key": key,
                "link": link,
                "scopes": [str(labels[s]) for s in key.scopes if s in labels],
                "sensitive": [str(labels[s]) for s in key.scopes if s in SENSITIVE_SCOPES],
            }
            bodies.append(render_to_string("emails/api_key_created.txt", context))
            subjects.append(render_to_string("emails/api_key_created_subject.txt", context).strip())
    send_mail(
        subject=" / ".join(subjects),
        message="\n\n----\n\n".join(bodies),
        from_email=None,
        recipient_list=owners,
    )
    return "sent"
