"""Reminders before expiry: ``settings.CARD_EXPIRY_REMINDER_DAYS`` (30 and 7) days before a
bearer card expires, its buyer's finance contacts and, for a card delivered by link, its recipient
are told, each once.

Once: every card told about is recorded (``ExpiryNoticeCard``) with the audience, the threshold
and the expiry date, under a unique index; a second run (or two at once) finds the cards recorded
and sends nothing. A company gets one email per threshold and run, with the count and total of
its cards reaching that threshold, never one per card; a recipient gets one per card. A card
already inside a smaller threshold gets only that one (a card expiring in 5 days is not told
"30 days" as well). A reactivated card has a new expiry date and is reminded again before it.

Only cards that can still be spent are reminded about: active, with money (so never a canary
card, which holds none and is never sold). The emails are in
Chinese, then English, like every notice (``portal.notices``: we do not know each reader's
language); the text message is in the portal's language.
"""

from __future__ import annotations

import datetime
import logging
from smtplib import SMTPRecipientsRefused
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from billing.money import ZERO, format_cny
from billing.services.receivables.notices import finance_recipients
from cards.models import (
    Card,
    CardStatus,
    DeliveryStatus,
    ExpiryAudience,
    ExpiryNotice,
    ExpiryNoticeCard,
    RecipientDelivery,
)
from portal import sms
from portal.notices import (
    Notice,
    NoticeMarker,
    notice_compose,
    notice_link,
    notice_mail,
    notice_send,
    notice_sms_text,
)
from portal.services.outbox import outbox_enqueue

from .base import bearer_cards

logger = logging.getLogger(__name__)

# Deliveries whose link reached the recipient (the address works).
LINK_DELIVERED = (DeliveryStatus.SENT, DeliveryStatus.OPENED, DeliveryStatus.REVEALED)


def reminder_windows(
    now: datetime.datetime,
) -> list[tuple[int, datetime.datetime, datetime.datetime]]:
    """(days, after, until) per threshold, largest first: a card expiring in ``(after, until]``
    is due for that threshold's reminder. Each window ends where the next smaller one starts."""
    thresholds = sorted(settings.CARD_EXPIRY_REMINDER_DAYS, reverse=True)
    windows = []
    for i, days in enumerate(thresholds):
        smaller = thresholds[i + 1] if i + 1 < len(thresholds) else 0
        windows.append(
            (days, now + datetime.timedelta(days=smaller), now + datetime.timedelta(days=days))
        )
    return windows


def cards_to_remind(
    *, audience: str, days: int, after: datetime.datetime, until: datetime.datetime
) -> QuerySet[Card]:
    """Spendable bearer cards expiring in ``(after, until]`` not yet told about to ``audience``
    at ``days`` for their current expiry date."""
    told = ExpiryNoticeCard.objects.filter(
        card=OuterRef("pk"), audience=audience, days_before=days, expires_at=OuterRef("expires_at")
    )
    return (
        bearer_cards()
        .filter(
            status=CardStatus.ACTIVE,
            balance__gt=ZERO,
            is_canary=False,
            expires_at__gt=after,
            expires_at__lte=until,
        )
        .exclude(Exists(told))
    )


def _notice_create(
    *,
    audience: str,
    days: int,
    company_id: int,
    cards: QuerySet[Card],
    delivery_id: int | None = None,
    now: datetime.datetime,
) -> ExpiryNotice | None:
    """Record one notice and the cards it tells about (those no other notice took first), and
    queue its sending on commit. None when every card was already told about."""
    with transaction.atomic(durable=True):
        notice = ExpiryNotice.objects.create(
            audience=audience,
            days_before=days,
            company_id=company_id,
            delivery_id=delivery_id,
            created_at=now,
        )
        select_sql, params = cards.order_by().values("id", "expires_at").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {ExpiryNoticeCard._meta.db_table} "  # noqa: S608
                "(notice_id, card_id, audience, days_before, expires_at) "
                f"SELECT %s, due.id, %s, %s, due.expires_at FROM ({select_sql}) AS due "
                "ON CONFLICT DO NOTHING",
                [notice.pk, audience, days, *params],
            )
            inserted = cursor.rowcount
        if not inserted:
            notice.delete()
            return None
        totals = notice.cards.aggregate(
            count=Count("pk"),
            total=Sum("card__balance"),
            first=Min("card__expires_at"),
            last=Max("card__expires_at"),
        )
        notice.card_count = totals["count"]
        notice.total = totals["total"] or ZERO
        notice.first_expiry = totals["first"]
        notice.last_expiry = totals["last"]
        notice.save(update_fields=["card_count", "total", "first_expiry", "last_expiry"])
        from cards.tasks import expiry_notice_send

        outbox_enqueue(expiry_notice_send, notice.pk)
    return notice


def expiry_reminders_run(*, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Record and queue today's reminders (module docstring). Idempotent."""
    now = now or timezone.now()
    sent = {ExpiryAudience.COMPANY.value: 0, ExpiryAudience.RECIPIENT.value: 0}
    for days, after, until in reminder_windows(now):
        due = cards_to_remind(audience=ExpiryAudience.COMPANY, days=days, after=after, until=until)
        companies = sorted(set(due.order_by().values_list("batch__company_id", flat=True)))
        for company_id in companies:
            notice = _notice_create(
                audience=ExpiryAudience.COMPANY,
                days=days,
                company_id=company_id,
                cards=due.filter(batch__company_id=company_id),
                now=now,
            )
            sent[ExpiryAudience.COMPANY] += notice is not None
        due = cards_to_remind(
            audience=ExpiryAudience.RECIPIENT, days=days, after=after, until=until
        )
        deliveries = (
            RecipientDelivery.objects.filter(card__in=due, status__in=LINK_DELIVERED)
            .exclude(Q(email="") & Q(mobile=""))
            .order_by("pk")
            .values_list("pk", "card_id", "order__company_id")
        )
        for delivery_id, card_id, company_id in deliveries.iterator(chunk_size=2000):
            notice = _notice_create(
                audience=ExpiryAudience.RECIPIENT,
                days=days,
                company_id=company_id,
                delivery_id=delivery_id,
                cards=due.filter(pk=card_id),
                now=now,
            )
            sent[ExpiryAudience.RECIPIENT] += notice is not None
    result = {"ran_at": now.isoformat(), "notices": sent}
    logger.info("expiry reminders %s", result)
    return result


# --- Sending ---------------------------------------------------------------------------------


def _local_date(moment: datetime.datetime | None) -> str:
    return timezone.localtime(moment).date().isoformat() if moment else "-"


def _company_notify(notice_id: int) -> str:
    marker = NoticeMarker(ExpiryNotice, notice_id, "emailed_at")

    def prepare() -> Notice | str:
        notice = ExpiryNotice.objects.select_related("company").filter(pk=notice_id).first()
        if notice is None:
            return "missing"
        if marker.is_set(notice):
            return "already-sent"
        to = finance_recipients(notice.company)
        if not to:
            return "no-contacts"
        subject, body = notice_compose(
            "emails/card_expiry_company",
            {
                "company": notice.company,
                "count": notice.card_count,
                "total": format_cny(notice.total),
                "days": notice.days_before,
                "first": _local_date(notice.first_expiry),
                "last": _local_date(notice.last_expiry),
                "link": notice_link("cards:card_list"),
            },
        )
        return Notice(to=to, subject=subject, body=body)

    return notice_send(prepare=prepare, marker=marker)


def _recipient_notify(notice_id: int) -> str:
    """Email and/or text the recipient. Like ``notice_send``: prepared in a short transaction,
    sent with nothing locked, marked after. A refused address or number is not retried."""
    marker = NoticeMarker(ExpiryNotice, notice_id, "emailed_at")
    with transaction.atomic(durable=True):
        notice = (
            ExpiryNotice.objects.select_related(
                "company", "delivery__card", "delivery__line__product"
            )
            .filter(pk=notice_id)
            .first()
        )
        if notice is None or notice.delivery is None:
            return "missing"
        if marker.is_set(notice):
            return "already-sent"
        delivery = notice.delivery
        card = delivery.card
        if card.status != CardStatus.ACTIVE or card.balance <= ZERO:
            return "skipped"
        context = {
            "name": delivery.recipient_name,
            "company": notice.company.legal_name,
            "product": delivery.line.product,
            "last4": card.last4,
            "balance": card.balance,
            "days": notice.days_before,
            "expires_on": _local_date(card.expires_at),
        }
        mail = notice_compose("emails/card_expiry_recipient", context) if delivery.email else None
        text = (
            notice_sms_text("emails/card_expiry_recipient_sms", context) if delivery.mobile else ""
        )
    refused = 0
    if mail is not None:
        try:
            notice_mail(Notice(to=[delivery.email], subject=mail[0], body=mail[1]))
        except SMTPRecipientsRefused:
            refused += 1
    if text:
        try:
            sms.send_sms(delivery.mobile, text)
        except sms.SmsRecipientRefused:
            refused += 1
    marker.set()
    channels = int(mail is not None) + int(bool(text))
    return "refused" if refused == channels else "sent"


def expiry_notice_notify(*, notice_id: int) -> str:
    """Send one recorded reminder, once: ``sent``, ``already-sent``, ``no-contacts``,
    ``skipped`` (the card cannot be spent any more), ``refused`` or ``missing``. Mail and SMS
    errors worth retrying propagate, with nothing marked, for the task to retry."""
    audience = ExpiryNotice.objects.filter(pk=notice_id).values_list("audience", flat=True).first()
    if audience is None:
        return "missing"
    if audience == ExpiryAudience.RECIPIENT:
        return _recipient_notify(notice_id)
    return _company_notify(notice_id)
