"""Recording a payment once per bank line, then trying to match it."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from billing.audit import BillingAction
from billing.models import BankStatementImport, Payment
from billing.money import format_cny, parse_amount
from billing.services.payments._common import payment_event
from billing.services.payments.matching import payment_auto_match
from billing.services.payments.normalise import normalise_account, payment_dedupe_key
from portal.models import Company, User
from portal.services.audit import audit_record


def _validate_payment(
    *, bank_reference: str, payer_name: str, payer_account: str, remittance: str
) -> None:
    errors = {}
    limits = {
        "bank_reference": (bank_reference, 64),
        "payer_name": (payer_name, 200),
        "payer_account": (payer_account, 64),
        "remittance": (remittance, 300),
    }
    for field, (value, limit) in limits.items():
        if len(value) > limit:
            errors[field] = _("%(value)s is longer than %(limit)s characters.") % {
                "value": value[:40] + "…",
                "limit": limit,
            }
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def payment_record(
    *,
    bank_reference: str,
    payer_name: str,
    payer_account: str,
    amount: Decimal | str,
    received_on: Any,
    remittance: str,
    actor: User | None,
    company: Company | None = None,
    source: str = Payment.Source.MANUAL,
    statement_import: BankStatementImport | None = None,
    ip: str | None = None,
    auto_match: bool = True,
) -> tuple[Payment, bool]:
    """Record a payment once (see the module docstring for the dedupe key) and try to match it.
    Returns the payment and whether it was created now."""
    value = parse_amount(amount, field=_("amount"))
    if value <= 0:
        raise ValidationError(
            {"amount": _("The amount must be more than zero, not %(value)s.") % {"value": amount}}
        )
    bank_reference = unicodedata.normalize("NFKC", bank_reference or "").strip()
    payer_name = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", payer_name or "")).strip()
    payer_account = normalise_account(payer_account or "")
    remittance = (remittance or "").strip()
    _validate_payment(
        bank_reference=bank_reference,
        payer_name=payer_name,
        payer_account=payer_account,
        remittance=remittance,
    )
    key = payment_dedupe_key(
        bank_reference=bank_reference,
        received_on=received_on,
        amount=value,
        payer_account=payer_account,
        remittance=remittance,
    )
    payment, created = Payment.objects.get_or_create(
        dedupe_key=key,
        defaults={
            "bank_reference": bank_reference,
            "payer_name": payer_name,
            "payer_account": payer_account,
            "amount": value,
            "received_on": received_on,
            "remittance": remittance,
            "company": company,
            "source": source,
            "statement_import": statement_import,
            "created_by": actor if actor is not None and actor.pk else None,
        },
    )
    if not created:
        if payment.amount != value or payment.received_on != received_on:
            # The same reference with another amount or date is not a repeat: a typo, or two
            # accounts' serial numbers colliding. Refuse rather than drop the money silently.
            raise ValidationError(
                _(
                    "Bank reference %(reference)s is already recorded as %(amount)s received "
                    "on %(date)s; this line says %(new_amount)s on %(new_date)s. Check the "
                    "recorded payment before importing this one."
                )
                % {
                    "reference": payment.bank_reference,
                    "amount": format_cny(payment.amount),
                    "date": payment.received_on,
                    "new_amount": format_cny(value),
                    "new_date": received_on,
                },
                code="reference_conflict",
            )
        return payment, False
    audit_record(
        action=BillingAction.PAYMENT_RECORDED,
        actor=actor,
        company=company,
        obj=payment,
        ip=ip,
        changes={
            "bank_reference": bank_reference,
            "amount": str(value),
            "received_on": str(received_on),
            "payer": payer_name,
            "source": source,
        },
    )
    payment_event(payment)
    if auto_match:
        payment_auto_match(payment=payment)
        payment.refresh_from_db()
    return payment, True
