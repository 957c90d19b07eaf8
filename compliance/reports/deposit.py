"""Report 1: the deposit (escrow) report, quarterly.

The regime asks an issuer to keep in an escrow account, through each quarter, a share of the
prepaid balance it owed at the end of the previous quarter: that balance x the ratio of its
category (``settings.COMPLIANCE_DEPOSIT_RATIO``). The report of quarter Q states the balance
outstanding at the end of Q - 1 from the ledger, the required deposit, the deposit recorded for Q
(the latest record on or before Q's last day: the escrow balance plus any guarantee that counts
towards it, as an operator entered them) and the shortfall; and, for the next report, the balance
at the end of Q and the deposit it will require.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from billing.models import Account
from billing.money import ZERO, quantize
from compliance.content import Figure, Period, ReportContent, ReportKind, ReportTable
from compliance.ledger import prepaid_outstanding
from compliance.models import DepositRecord
from portal import days


def deposit_required(outstanding: Decimal, ratio: Decimal | None = None) -> Decimal:
    return quantize(outstanding * (settings.COMPLIANCE_DEPOSIT_RATIO if ratio is None else ratio))


def deposit_record_as_of(day: object) -> DepositRecord | None:
    """The deposit record that counts on ``day``: the latest date on or before it, and for that
    date the one recorded last (a correction is a later record for the same date)."""
    return (
        DepositRecord.objects.filter(as_of__lte=day)
        .select_related("recorded_by")
        .order_by("-as_of", "-recorded_at", "-id")
        .first()
    )


def compute(period: Period) -> ReportContent:
    base_date = period.start - datetime.timedelta(days=1)
    outstanding = prepaid_outstanding(days.day_end(base_date))
    ratio = settings.COMPLIANCE_DEPOSIT_RATIO
    required = deposit_required(outstanding["total"], ratio)
    record = deposit_record_as_of(period.end)
    escrow = record.escrow_balance if record else ZERO
    guarantee = record.guarantee_amount if record else ZERO
    deposit = escrow + guarantee
    shortfall = max(required - deposit, ZERO)
    at_end = prepaid_outstanding(days.day_end(period.end))["total"]
    figures = [
        Figure("as_of", _("Balance outstanding as of"), base_date),
        Figure("card_liability", _("Live card balances"), outstanding[Account.Kind.CARD_LIABILITY]),
        Figure(
            "expired_liability",
            _("Expired card balances still owed"),
            outstanding[Account.Kind.EXPIRED_LIABILITY],
        ),
        Figure(
            "cards_to_issue",
            _("Cards sold, not yet issued"),
            outstanding[Account.Kind.CARDS_TO_ISSUE],
        ),
        Figure("outstanding", _("Prepaid balance outstanding"), outstanding["total"]),
        Figure("ratio", _("Required ratio"), ratio),
        Figure("required", _("Required deposit"), required),
        Figure("deposit_as_of", _("Deposit recorded as of"), record.as_of if record else ""),
        Figure("escrow_balance", _("Escrow bank balance"), escrow),
        Figure("guarantee", _("Guarantee counting towards the deposit"), guarantee),
        Figure("deposit", _("Deposit recorded"), deposit),
        Figure("shortfall", _("Shortfall"), shortfall),
        Figure("outstanding_at_end", _("Prepaid balance outstanding at the quarter end"), at_end),
        Figure(
            "required_next", _("Deposit required for the next quarter"), deposit_required(at_end)
        ),
    ]
    records = (
        DepositRecord.objects.filter(as_of__gte=period.start, as_of__lte=period.end)
        .select_related("recorded_by")
        .order_by("as_of", "recorded_at", "id")
    )
    table = ReportTable(
        "deposit_records",
        _("Deposit records of the quarter"),
        [
            _("As of"),
            _("Escrow bank balance"),
            _("Guarantee"),
            _("Deposit"),
            _("Escrow bank"),
            _("Recorded by"),
            _("Recorded at"),
            _("Note"),
        ],
        [
            [
                r.as_of,
                r.escrow_balance,
                r.guarantee_amount,
                r.deposit_total,
                r.bank,
                r.recorded_by.email,
                days.local(r.recorded_at).date(),
                r.note,
            ]
            for r in records
        ],
    )
    notes = [
        _(
            "The prepaid balance outstanding is read from the ledger: card liability, "
            "expired-balance liability and cards sold not yet issued, counting the entries made "
            "up to the end of the previous quarter."
        ),
    ]
    if record is None:
        notes.append(_("No deposit was recorded on or before the quarter end."))
    return ReportContent(figures=figures, tables=[table], notes=notes)


KIND = ReportKind(
    key="deposit", title=_("Deposit (escrow) report"), period="quarter", compute=compute
)
