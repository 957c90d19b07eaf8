"""Notices: the emails the portal sends about an order, an invoice, a credit hold, a statement,
an API key, an invitation or the ledger. One home for how they are written, who gets them, and
how they are sent.

How they are written: ``notice_compose(template, context)`` renders
``templates/<template>_subject.txt`` and ``templates/<template>.txt`` in Chinese, then in
English (we do not know each reader's language): the subjects joined by `` / ``, the bodies by a
line of ``----``. Links are absolute, built on ``settings.PORTAL_BASE_URL`` by ``notice_link``
(workers have no request to read the host from).

Who gets them: ``notice_recipients`` reads a company's members. Only active people are told
(``User.is_active``; a membership has no state of its own: a removed member has none), each
address once whatever its case, sorted. The finance notices also go to the company's billing
address (``Company.billing_email``).

==========================  =====================================================  ============
notice (template)           who is told                                            billing
                                                                                   address
==========================  =====================================================  ============
order_approval_needed       approvers, else owners; never the order's creator      no
order_rejected              the order's creator                                    no
order_ready                 the order's creator and the finance members            no
invoice_reminder            finance members, else owners                           yes
credit_hold_placed/_lifted  finance members, else owners                           yes
statement email             finance members, else owners                           yes
api_key_created             owners (a key that can export codes or approve)        no
invitation                  the invited address (not a member yet)                 no
ledger_drift                the issuer's operators: active staff and ADMINS        no
==========================  =====================================================  ============

(The one-time link to a card's recipient, ``cards.services.recipients.sending``, is composed
here too but is not a notice: it carries a secret made and stored in the same locked
transaction that sends it.)

How they are sent: ``notice_send`` never sends while a row is locked or a transaction is open.
It (1) runs ``prepare`` in a short transaction of its own, which locks the row if it needs to,
checks the state and the "already notified" marker, and returns the ``Notice`` (recipients and
text) or why there is none; (2) commits; (3) sends; (4) sets the marker with a conditional
UPDATE (``filter(pk=..., marker__isnull=True).update(marker=now)``).

Delivery guarantee: at least once. A failure to send sets no marker, so the task's retry sends
again; a crash between the send and the marker sends again on redelivery. A duplicate otherwise
needs two deliveries of the same message to race between (1) and (4): both send, the marker is
set once. Never zero: the marker is set only after the mail left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from portal.models import Company, Membership, User

logger = logging.getLogger(__name__)

# Chinese first: the portal's customers read it first; English for everyone else.
NOTICE_LANGUAGES = ("zh-hans", "en")
SUBJECT_SEPARATOR = " / "
BODY_SEPARATOR = "\n\n----\n\n"


@dataclass(frozen=True)
class Notice:
    """One message ready to send: its recipients, subject and body."""

    to: list[str]
    subject: str
    body: str


@dataclass(frozen=True)
class NoticeMarker:
    """The "already notified" timestamp of one row: ``model.field`` of the row ``pk``."""

    model: type[models.Model]
    pk: int
    field: str

    def is_set(self, row: models.Model) -> bool:
        return getattr(row, self.field) is not None

    def set(self) -> bool:
        """Set once: False when another delivery set it first."""
        rows = self.model._default_manager.filter(
            pk=self.pk, **{f"{self.field}__isnull": True}
        ).update(**{self.field: timezone.now()})
        return rows == 1


def notice_link(viewname: str, *args: Any, **kwargs: Any) -> str:
    """An absolute link to a portal page, for an email."""
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse(viewname, args=args, kwargs=kwargs)


def notice_compose(template: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and body in Chinese, then English. ``template`` is the path under ``templates/``
    without ``.txt`` (``"emails/order_ready"``); lazy strings in ``context`` are rendered in
    each language."""
    subjects, bodies = [], []
    for language in NOTICE_LANGUAGES:
        with translation.override(language):
            subjects.append(render_to_string(f"{template}_subject.txt", dict(context)).strip())
            bodies.append(render_to_string(f"{template}.txt", dict(context)))
    return SUBJECT_SEPARATOR.join(subjects), BODY_SEPARATOR.join(bodies)


def notice_sms_text(template: str, context: Mapping[str, Any]) -> str:
    """An SMS: too short for two languages, so in the portal's (``settings.LANGUAGE_CODE``).
    ``template`` is the path under ``templates/`` without ``.txt``."""
    with translation.override(settings.LANGUAGE_CODE):
        return render_to_string(f"{template}.txt", dict(context)).strip()


def _unique_sorted(emails: Iterable[str]) -> list[str]:
    by_key: dict[str, str] = {}
    for email in emails:
        email = (email or "").strip()
        if email:
            by_key.setdefault(email.lower(), email)
    return [by_key[key] for key in sorted(by_key)]


def notice_recipients(
    company: Company,
    *,
    roles: Iterable[str] = (),
    fallback_roles: Iterable[str] = (),
    users: Iterable[User | None] = (),
    include_billing_email: bool = False,
    exclude_users: Iterable[User | None] = (),
) -> list[str]:
    """Who gets a notice about ``company``: its active members with one of ``roles`` (when
    there are none, those with one of ``fallback_roles``), the ``users`` named (while they are
    active members), and with ``include_billing_email`` the company's billing address. Never
    ``exclude_users``. Each address once, whatever its case; sorted."""
    excluded = {user.pk for user in exclude_users if user is not None}
    members = (
        Membership.objects.filter(company=company, user__is_active=True)
        .exclude(user__email="")
        .exclude(user_id__in=excluded)
        .select_related("user")
    )
    by_role: dict[str, list[str]] = {}
    member_emails: dict[int, str] = {}
    for membership in members:
        by_role.setdefault(membership.role, []).append(membership.user.email)
        member_emails[membership.user_id] = membership.user.email

    def of(wanted: Iterable[str]) -> list[str]:
        return [email for role in wanted for email in by_role.get(role, [])]

    emails = of(roles) or of(fallback_roles)
    emails += [member_emails[u.pk] for u in users if u is not None and u.pk in member_emails]
    if include_billing_email and company.billing_email:
        emails.append(company.billing_email)
    return _unique_sorted(emails)


def operator_recipients() -> list[str]:
    """The issuer's operators: active staff with an address, and ``settings.ADMINS``."""
    emails = list(
        User.objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    for admin in getattr(settings, "ADMINS", []):
        emails.append(admin[1] if isinstance(admin, (list, tuple)) else str(admin))
    return _unique_sorted(emails)


def notice_mail(notice: Notice) -> None:
    """Send one composed notice (the portal's from-address)."""
    send_mail(
        subject=notice.subject, message=notice.body, from_email=None, recipient_list=notice.to
    )


def notice_send(*, prepare: Callable[[], Notice | str], marker: NoticeMarker | None = None) -> str:
    """Prepare under a short transaction, commit, send with nothing locked, then set ``marker``.

    ``prepare`` locks what it must, re-checks the state and the marker, and returns the
    ``Notice``, or a word saying why there is none (``"skipped"``, ``"already-sent"``...),
    which is returned as it is. A notice nobody can receive sends nothing but sets the marker
    (``"no-recipients"``). Otherwise ``"sent"``. Mail errors propagate, with no marker set, for
    the task to retry. Refuses to run inside a transaction (it would send with its locks held).
    """
    with transaction.atomic(durable=True):
        notice = prepare()
    if isinstance(notice, str):
        return notice
    if notice.to:
        notice_mail(notice)
    if marker is not None and not marker.set():
        logger.info(
            "%s %s: %s was set by another delivery meanwhile",
            marker.model.__name__,
            marker.pk,
            marker.field,
        )
    return "sent" if notice.to else "no-recipients"
