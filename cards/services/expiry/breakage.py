"""Breakage: income from expired balances nobody will claim, only by operators' decision.

Never automatic. One operator proposes a decision for the balances of cards expired before
now - ``settings.BREAKAGE_HOLDING_MONTHS`` (still expired, balance > 0, not in another live
decision); the cards and their balances are recorded with it. A second operator (never the
proposer: the service refuses it, and a database CHECK too) reviews it: approving posts
expired-balance liability +X / breakage income -X, rejecting posts nothing. A posted decision is
undone by a reversing entry for what is still recognised (cards that came back were reversed one
by one when they did: ``base.expired_balance_restore``). Card balances never change here.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import Account
from billing.money import ZERO
from billing.services.ledger import account_get, journal_post
from cards.models import BreakageCard, BreakageDecision, BreakageStatus, Card, CardStatus
from cards.services.issuance import add_months
from portal.errors import DomainError, StateConflict
from portal.models import User
from portal.services.audit import audit_record

from .base import ExpiryAction, bearer_cards, reason_required


def breakage_cutoff(now: datetime.datetime | None = None) -> datetime.datetime:
    """Cards that expired before this instant have waited the holding period."""
    return add_months(now or timezone.now(), -settings.BREAKAGE_HOLDING_MONTHS)


def breakage_candidates(expired_before: datetime.datetime) -> QuerySet[Card]:
    """Expired bearer cards with money, expired before ``expired_before``, not covered by a live
    decision (proposed, or posted and not reversed for that card)."""
    return (
        bearer_cards()
        .filter(status=CardStatus.EXPIRED, balance__gt=ZERO, expires_at__lt=expired_before)
        .exclude(pk__in=BreakageCard.objects.filter(live=True).values("card_id"))
    )


@dataclass(frozen=True)
class BreakagePreview:
    expired_before: datetime.datetime
    count: int
    total: Decimal


def breakage_preview(now: datetime.datetime | None = None) -> BreakagePreview:
    """What a proposal made now would cover: the cut-off, the number of cards and their total."""
    cutoff = breakage_cutoff(now)
    totals = breakage_candidates(cutoff).aggregate(count=Count("pk"), total=Sum("balance"))
    return BreakagePreview(cutoff, totals["count"], totals["total"] or ZERO)


@transaction.atomic
def breakage_propose(
    *, operator: User, reason: str, ip: str | None = None, now: datetime.datetime | None = None
) -> BreakageDecision:
    """Record a proposal covering every candidate card now (set-based: one INSERT ... SELECT),
    with the balances they have. Two proposals at once cannot cover the same card (the unique
    index on live rows; the later one skips what the first took)."""
    reason = reason_required(reason)
    now = now or timezone.now()
    cutoff = breakage_cutoff(now)
    decision = BreakageDecision.objects.create(
        expired_before=cutoff,
        card_count=0,
        total=ZERO,
        reason=reason[:500],
        proposed_by=operator,
        proposed_at=now,
    )
    candidates = breakage_candidates(cutoff).order_by().values("id", "balance")
    select_sql, params = candidates.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BreakageCard._meta.db_table} (decision_id, card_id, amount, live) "  # noqa: S608
            f"SELECT %s, candidate.id, candidate.balance, TRUE FROM ({select_sql}) AS candidate "
            "ON CONFLICT DO NOTHING",
            [decision.pk, *params],
        )
    totals = decision.covered.aggregate(count=Count("pk"), total=Sum("amount"))
    if not totals["count"]:
        raise DomainError(
            _(
                "No expired card qualifies: none with money left expired before %(date)s, "
                "outside another decision."
            )
            % {"date": timezone.localtime(cutoff).date().isoformat()},
            code="breakage_nothing",
        )
    decision.card_count = totals["count"]
    decision.total = totals["total"]
    decision.save(update_fields=["card_count", "total"])
    audit_record(
        action=ExpiryAction.BREAKAGE_PROPOSED,
        actor=operator,
        obj=decision,
        ip=ip,
        changes={
            "cards": decision.card_count,
            "total": str(decision.total),
            "expired_before": cutoff.isoformat(),
            "reason": reason,
        },
    )
    return decision


def _lock_decision(decision_id: int) -> BreakageDecision:
    return BreakageDecision.objects.select_for_update().get(pk=decision_id)


def _lock_covered_cards(decision: BreakageDecision, **row_filter: object) -> None:
    """Lock the decision's cards in id order (as every writer of cards does), so that no card
    comes back while the decision is posted or reversed."""
    ids = decision.covered.filter(**row_filter).values("card_id")
    list(Card.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))


@transaction.atomic
def breakage_review(
    *,
    decision_id: int,
    reviewer: User,
    approve: bool,
    note: str = "",
    ip: str | None = None,
    now: datetime.datetime | None = None,
) -> BreakageDecision:
    """A second operator approves (posts the entry) or rejects a proposed decision. Approval is
    refused when any covered card changed since the proposal (reactivated, exchanged): the
    reviewer approves what was proposed, or rejects it and a new one is proposed."""
    now = now or timezone.now()
    decision = _lock_decision(decision_id)
    if decision.status != BreakageStatus.PROPOSED:
        raise StateConflict(
            _("This decision is %(status)s: only a proposed decision can be reviewed.")
            % {"status": decision.get_status_display()},
            code="breakage_not_proposed",
        )
    if reviewer.pk == decision.proposed_by_id:
        raise DomainError(
            _("A second operator must review this decision: you proposed it."),
            code="second_operator_required",
        )
    if not approve:
        note = reason_required(note)
        decision.covered.update(live=False)
        decision.status = BreakageStatus.REJECTED
    else:
        _lock_covered_cards(decision)
        changed = decision.covered.exclude(
            Q(card__status=CardStatus.EXPIRED) & Q(card__balance=F("amount"))
        ).count()
        if changed:
            raise StateConflict(
                _(
                    "%(count)s of the cards changed since the proposal (reactivated or "
                    "exchanged): reject this decision and propose a new one."
                )
                % {"count": changed},
                code="breakage_cards_changed",
            )
        decision.entry = journal_post(
            kind="breakage",
            idempotency_key=f"breakage:{decision.public_id}",
            postings=[
                (account_get(Account.Kind.EXPIRED_LIABILITY), decision.total),
                (account_get(Account.Kind.BREAKAGE_INCOME), -decision.total),
            ],
            reference=str(decision.public_id),
            memo=f"breakage of {decision.card_count} expired cards",
        )
        decision.status = BreakageStatus.POSTED
    decision.reviewed_by = reviewer
    decision.reviewed_at = now
    decision.review_note = note.strip()[:500]
    decision.save(update_fields=["status", "entry", "reviewed_by", "reviewed_at", "review_note"])
    audit_record(
        action=ExpiryAction.BREAKAGE_POSTED if approve else ExpiryAction.BREAKAGE_REJECTED,
        actor=reviewer,
        obj=decision,
        ip=ip,
        changes={"cards": decision.card_count, "total": str(decision.total), "note": note},
    )
    return decision


@transaction.atomic
def breakage_reverse(
    *,
    decision_id: int,
    operator: User,
    reason: str,
    ip: str | None = None,
    now: datetime.datetime | None = None,
) -> BreakageDecision:
    """Undo a posted decision with a reversing entry (breakage income +Y / expired-balance
    liability -Y) for what it still recognises: Y is its total less the cards already reversed
    when they came back. The original entry is never touched."""
    reason = reason_required(reason)
    now = now or timezone.now()
    decision = _lock_decision(decision_id)
    if decision.status != BreakageStatus.POSTED:
        raise StateConflict(
            _("This decision is %(status)s: only a posted decision can be reversed.")
            % {"status": decision.get_status_display()},
            code="breakage_not_posted",
        )
    _lock_covered_cards(decision, live=True)
    remaining: Decimal = decision.covered.filter(live=True).aggregate(s=Sum("amount"))["s"] or ZERO
    if remaining > ZERO:
        decision.reversal_entry = journal_post(
            kind="breakage_reversal",
            idempotency_key=f"breakage-reversal:{decision.public_id}",
            postings=[
                (account_get(Account.Kind.BREAKAGE_INCOME), remaining),
                (account_get(Account.Kind.EXPIRED_LIABILITY), -remaining),
            ],
            reference=str(decision.public_id),
            memo=f"breakage {decision.public_id} reversed",
        )
    decision.covered.filter(live=True).update(live=False)
    decision.status = BreakageStatus.REVERSED
    decision.reversed_by = operator
    decision.reversed_at = now
    decision.reversal_reason = reason[:500]
    decision.save(
        update_fields=[
            "status",
            "reversal_entry",
            "reversed_by",
            "reversed_at",
            "reversal_reason",
        ]
    )
    audit_record(
        action=ExpiryAction.BREAKAGE_REVERSED,
        actor=operator,
        obj=decision,
        ip=ip,
        changes={"reversed": str(remaining), "reason": reason},
    )
    return decision


def breakage_outstanding() -> Decimal:
    """Breakage recognised and not reversed: the amounts of covered cards of posted decisions
    still live. The expired-balance liability is the expired balances less this."""
    total = BreakageCard.objects.filter(
        live=True, decision__status=BreakageStatus.POSTED
    ).aggregate(s=Sum("amount"))["s"]
    return total or ZERO
