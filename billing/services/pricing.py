"""What a company pays for its cards."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from billing.audit import BillingAction
from billing.models import CompanyPricing
from billing.money import CENT, quantize, quantize_unit_price
from portal.models import Company, User
from portal.services.audit import audit_record

HUNDRED = Decimal(100)
ONE = Decimal(1)


@dataclass(frozen=True)
class Price:
    unit_price: Decimal  # four places: a 2.5% discount on 99.90 is 97.4025
    amount: Decimal  # the line amount, rounded once, to the cent


def price_factor(company: Company) -> Decimal:
    # A sandbox prices as its real company does, so test totals match live ones.
    pricing = CompanyPricing.objects.filter(company_id=company.live_id).first()
    if pricing is None:
        return ONE
    rate = pricing.rate / HUNDRED
    return ONE - rate if pricing.mode == CompanyPricing.Mode.DISCOUNT else ONE + rate


def price_line(*, factor: Decimal, face_value: Decimal, quantity: int) -> Price:
    return Price(
        unit_price=quantize_unit_price(face_value * factor),
        amount=quantize(face_value * quantity * factor),
    )


def pricing_validate(*, mode: str, rate: Decimal) -> None:
    """The rules of a price setting (the admin form shows the same messages before saving)."""
    errors = {}
    if mode not in CompanyPricing.Mode.values:
        errors["mode"] = _("Choose discount or service fee.")
    if not Decimal(0) <= rate < HUNDRED:
        errors["rate"] = _("The rate must be at least 0 and below 100 percent.")
    elif rate != rate.quantize(CENT):
        errors["rate"] = _("Give the rate with at most 2 decimal places, for example 2.50.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def pricing_set(
    *, company: Company, mode: str, rate: Decimal, actor: User | None, ip: str | None = None
) -> CompanyPricing:
    pricing_validate(mode=mode, rate=rate)
    before = CompanyPricing.objects.select_for_update().filter(company=company).first()
    changes = {
        "mode": [before.mode if before else None, mode],
        "rate": [str(before.rate) if before else None, str(rate)],
    }
    pricing, _created = CompanyPricing.objects.update_or_create(
        company=company, defaults={"mode": mode, "rate": rate}
    )
    audit_record(
        action=BillingAction.PRICING_SET,
        actor=actor,
        company=company,
        obj=pricing,
        ip=ip,
        changes=changes,
    )
    return pricing
