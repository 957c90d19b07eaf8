"""The console's work queues: what waits for an operator now, each with its count, the time its
oldest item started waiting, and the admin list that shows exactly those items.

Each queue is one aggregate query (a count and a minimum), whatever the number of items; the
items are the ones the models' own states say wait for a person (see docs/operator-console.md):

| queue | items | waiting since |
| --- | --- | --- |
| companies waiting for KYC review | ``Company.status == pending`` | created |
| orders in risk review | ``Order.status == pending_review`` | submitted |
| unmatched bank payments | ``Payment.status == unmatched`` | recorded |
| failed statements | ``Statement.status == failed`` | created |
| failed issuance batches | ``Batch.status == failed`` | created |
| frozen merchant keys | frozen, not revoked | frozen |
| guessing alerts | look-up blocks in force | their window's start |
| card service for a second operator | ``CardServiceRequest.status == pending`` | requested |
| ledger-check alerts | failed runs since the last run that passed | ran |
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Min, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from billing.models import CreditLineProposal, LedgerCheck, Payment, Statement
from cards.models import (
    Batch,
    BatchStatus,
    CardServiceRequest,
    LookupBlock,
    MerchantApiKey,
    Order,
    OrderStatus,
)
from portal.kyc_selectors import companies_awaiting_kyc
from portal.models import Company


@dataclass(frozen=True)
class Queue:
    key: str
    title: str
    help: str
    count: int
    oldest_at: datetime.datetime | None
    url: str
    now: datetime.datetime

    @property
    def waiting(self) -> bool:
        return self.count > 0

    @property
    def age(self) -> datetime.timedelta | None:
        return self.now - self.oldest_at if self.oldest_at is not None else None

    @property
    def age_text(self) -> str:
        """How long the oldest item has waited, in the reader's language ("3 days")."""
        if self.oldest_at is None:
            return ""
        return timesince(self.oldest_at, self.now, depth=1)


def _changelist(name: str, params: dict[str, str] | None = None) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


# --- The items of each queue (the admin list linked from the queue shows exactly these) ---------


def companies_pending() -> QuerySet[Company]:
    """Pending companies, and any whose approval waits for a second operator (KYC)."""
    return companies_awaiting_kyc()


def credit_proposals_waiting() -> QuerySet[CreditLineProposal]:
    return CreditLineProposal.objects.filter(status=CreditLineProposal.Status.PENDING)


def orders_in_review() -> QuerySet[Order]:
    return Order.objects.filter(status=OrderStatus.PENDING_REVIEW)


def payments_unmatched() -> QuerySet[Payment]:
    return Payment.objects.filter(status=Payment.Status.UNMATCHED)


def statements_failed() -> QuerySet[Statement]:
    return Statement.objects.filter(status=Statement.Status.FAILED)


def batches_failed() -> QuerySet[Batch]:
    return Batch.objects.filter(status=BatchStatus.FAILED)


def merchant_keys_frozen() -> QuerySet[MerchantApiKey]:
    return MerchantApiKey.objects.filter(frozen_at__isnull=False, revoked_at__isnull=True)


def lookup_blocks_in_force(now: datetime.datetime | None = None) -> QuerySet[LookupBlock]:
    """Subjects (a key, a merchant, an address, a code prefix) that failed as many card look-ups
    as their limit allows in the current window: someone may be guessing codes."""
    return LookupBlock.objects.filter(until__gt=now or timezone.now())


def card_service_pending() -> QuerySet[CardServiceRequest]:
    return CardServiceRequest.objects.filter(status=CardServiceRequest.Status.PENDING)


def ledger_alerts() -> tuple[QuerySet[LedgerCheck], datetime.datetime | None]:
    """The failed ledger checks since the last one that passed (a later pass clears them), and
    the time of that pass (None when no check ever passed)."""
    last_pass = (
        LedgerCheck.objects.filter(ok=True).order_by("-ran_at").values_list("ran_at", flat=True)
    ).first()
    failed = LedgerCheck.objects.filter(ok=False)
    if last_pass is not None:
        failed = failed.filter(ran_at__gt=last_pass)
    return failed, last_pass


# --- Reading a queue -----------------------------------------------------------------------------


def _oldest(items: QuerySet[Any], since: str) -> tuple[int, datetime.datetime | None]:
    found = items.order_by().aggregate(count=Count("pk"), oldest=Min(since))
    return found["count"], found["oldest"]


@dataclass(frozen=True)
class _Spec:
    key: str
    title: Promise
    help: Promise
    read: Callable[[datetime.datetime], tuple[int, datetime.datetime | None, str]]


def _simple(
    items: Callable[[], QuerySet[Any]], since: str, changelist: str, params: dict[str, str]
) -> Callable[[datetime.datetime], tuple[int, datetime.datetime | None, str]]:
    def read(now: datetime.datetime) -> tuple[int, datetime.datetime | None, str]:
        count, oldest = _oldest(items(), since)
        return count, oldest, _changelist(changelist, params)

    return read


def _read_guessing(now: datetime.datetime) -> tuple[int, datetime.datetime | None, str]:
    # A block lasts until the end of the failure window in which its limit was reached.
    count, last_until = _oldest(lookup_blocks_in_force(now), "until")
    window = datetime.timedelta(seconds=int(settings.MERCHANT_FAILURE_WINDOW_SECONDS))
    oldest = last_until - window if last_until is not None else None
    return count, oldest, _changelist("cards_lookupblock")


def _read_ledger(now: datetime.datetime) -> tuple[int, datetime.datetime | None, str]:
    failed, last_pass = ledger_alerts()
    count, oldest = _oldest(failed, "ran_at")
    params = {"ok__exact": "0"}
    if last_pass is not None:
        params["ran_at__gt"] = last_pass.isoformat()
    return count, oldest, _changelist("billing_ledgercheck", params)


SPECS: tuple[_Spec, ...] = (
    _Spec(
        "kyc",
        _("Companies waiting for KYC review"),
        _("New companies that cannot order until an operator reviews them."),
        _simple(companies_pending, "created_at", "portal_company", {"kyc": "waiting"}),
    ),
    _Spec(
        "credit_proposals",
        _("Credit lines waiting for a second operator"),
        _("Credit lines set or raised above the dual-control amount, for another operator."),
        _simple(
            credit_proposals_waiting,
            "requested_at",
            "billing_creditlineproposal",
            {"status__exact": "pending"},
        ),
    ),
    _Spec(
        "risk_review",
        _("Orders in risk review"),
        _("Orders held for an operator to clear or reject."),
        _simple(orders_in_review, "submitted_at", "cards_riskrevieworder", {}),
    ),
    _Spec(
        "unmatched_payments",
        _("Unmatched bank payments"),
        _("Money received that no invoice or company has been found for."),
        _simple(
            payments_unmatched, "created_at", "billing_payment", {"status__exact": "unmatched"}
        ),
    ),
    _Spec(
        "failed_statements",
        _("Failed statements"),
        _("Statements whose build failed: retry them from the list."),
        _simple(statements_failed, "created_at", "billing_statement", {"status__exact": "failed"}),
    ),
    _Spec(
        "failed_batches",
        _("Failed issuance batches"),
        _("Card generation that stopped: the order's cards are not all there."),
        _simple(batches_failed, "created_at", "cards_batch", {"status__exact": "failed"}),
    ),
    _Spec(
        "frozen_keys",
        _("Frozen merchant keys"),
        _("Merchant API keys frozen by failed look-ups or a canary card, until unfrozen."),
        _simple(
            merchant_keys_frozen,
            "frozen_at",
            "cards_merchantapikey",
            {"frozen_at__isnull": "False", "revoked_at__isnull": "True"},
        ),
    ),
    _Spec(
        "guessing",
        _("Guessing alerts"),
        _("Keys, merchants, addresses or code prefixes blocked after too many failed look-ups."),
        _read_guessing,
    ),
    _Spec(
        "card_service",
        _("Card service waiting for a second operator"),
        _("Voids, reissues and exchanges over the limit, for another operator to decide."),
        _simple(
            card_service_pending,
            "requested_at",
            "cards_cardservicerequest",
            {"status__exact": "pending"},
        ),
    ),
    _Spec(
        "ledger_check",
        _("Ledger-check alerts"),
        _("Nightly checks that found a drift since the last check that passed."),
        _read_ledger,
    ),
)


def work_queues(now: datetime.datetime | None = None) -> list[Queue]:
    """Every queue, in the console's order (one query each, the ledger check two)."""
    now = now or timezone.now()
    queues = []
    for spec in SPECS:
        count, oldest, url = spec.read(now)
        queues.append(
            Queue(
                key=spec.key,
                title=str(spec.title),
                help=str(spec.help),
                count=count,
                oldest_at=oldest,
                url=url,
                now=now,
            )
        )
    return queues
