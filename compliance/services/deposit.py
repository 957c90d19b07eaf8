"""The escrow deposit: operators record its balance; a daily check compares it with what the
ledger says must be deposited (the live monitor)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.money import ZERO, parse_amount
from compliance.audit import ComplianceAction
from compliance.ledger import prepaid_outstanding
from compliance.models import DepositCheck, DepositRecord
from compliance.reports.deposit import deposit_record_as_of, deposit_required
from portal import days
from portal.errors import DomainError
from portal.models import User
from portal.services.audit import audit_record


@transaction.atomic
def deposit_record_create(
    *,
    operator: User,
    as_of: datetime.date,
    escrow_balance: Decimal | str,
    guarantee_amount: Decimal | str = ZERO,
    bank: str = "",
    note: str = "",
    ip: str | None = None,
) -> DepositRecord:
    """Record the escrow account's balance on ``as_of`` (as read from the bank) and the guarantee
    that counts towards the deposit. Never edited: a correction is a new record for the date."""
    escrow = parse_amount(escrow_balance, field=_("Escrow bank balance"))
    guarantee = parse_amount(guarantee_amount or ZERO, field=_("Guarantee"))
    for label, value in ((_("Escrow bank balance"), escrow), (_("Guarantee"), guarantee)):
        if value < ZERO:
            raise DomainError(
                _("%(field)s: %(value)s is negative; a balance is 0 or more.")
                % {"field": label, "value": value},
                code="negative_amount",
            )
    if as_of > days.today():
        raise DomainError(
            _("As of: %(date)s is in the future; record a balance the bank has shown.")
            % {"date": as_of.isoformat()},
            code="future_date",
        )
    record = DepositRecord.objects.create(
        as_of=as_of,
        escrow_balance=escrow,
        guarantee_amount=guarantee,
        bank=bank.strip()[:120],
        note=note.strip()[:500],
        recorded_by=operator,
    )
    audit_record(
        action=ComplianceAction.DEPOSIT_RECORDED,
        actor=operator,
        obj=record,
        ip=ip,
        changes={
            "as_of": as_of.isoformat(),
            "escrow_balance": str(escrow),
            "guarantee_amount": str(guarantee),
            "bank": record.bank,
            "note": record.note,
        },
    )
    return record


@transaction.atomic
def deposit_check_run(*, now: datetime.datetime | None = None) -> DepositCheck:
    """Today's deposit check from the whole ledger as it stands and the latest deposit record
    (one row per day: a second run the same day replaces that day's figures)."""
    now = now or timezone.now()
    today = days.local(now).date()
    outstanding = prepaid_outstanding()["total"]
    ratio = settings.COMPLIANCE_DEPOSIT_RATIO
    required = deposit_required(outstanding, ratio)
    record = deposit_record_as_of(today)
    deposit = record.deposit_total if record else ZERO
    check, _created = DepositCheck.objects.update_or_create(
        date=today,
        defaults={
            "outstanding": outstanding,
            "ratio": ratio,
            "required": required,
            "deposit": deposit,
            "record": record,
            "shortfall": max(required - deposit, ZERO),
            "computed_at": now,
        },
    )
    return check
