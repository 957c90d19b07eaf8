"""Reads the admin and the console share."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from billing.money import ZERO
from compliance.models import DepositCheck

OK = "ok"
AT_RISK = "at_risk"
SHORTFALL = "shortfall"


@dataclass(frozen=True)
class DepositMonitor:
    check: DepositCheck
    level: str  # OK, AT_RISK or SHORTFALL
    cover: Decimal | None  # deposit / required (None when nothing is required)

    @property
    def cover_percent(self) -> Decimal | None:
        return None if self.cover is None else (self.cover * 100).quantize(Decimal("0.1"))


def deposit_level(required: Decimal, deposit: Decimal) -> str:
    if deposit < required:
        return SHORTFALL
    if deposit < required * settings.COMPLIANCE_DEPOSIT_AT_RISK:
        return AT_RISK
    return OK


def deposit_monitor() -> DepositMonitor | None:
    """The latest daily deposit check with its warning level: ``shortfall`` when the deposit is
    below the required deposit, ``at_risk`` when it covers less than
    ``COMPLIANCE_DEPOSIT_AT_RISK`` (110%) of it, else ``ok``. None before the first check."""
    check = DepositCheck.objects.select_related("record").order_by("-date").first()
    if check is None:
        return None
    cover = (check.deposit / check.required) if check.required > ZERO else None
    return DepositMonitor(check, deposit_level(check.required, check.deposit), cover)
