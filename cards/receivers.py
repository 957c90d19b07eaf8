"""Reactions to the billing core's events."""

from __future__ import annotations

from typing import Any

from billing.models import Invoice
from cards.services.workflow import order_fund_from_proforma


def fund_order_on_proforma_paid(
    sender: Any, *, proforma: Invoice, invoice: Invoice, actor: Any = None, **kwargs: Any
) -> None:
    order_fund_from_proforma(proforma=proforma, invoice=invoice, actor=actor)
