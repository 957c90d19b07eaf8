"""Orders and cards for the compliance reports, built through the services (the cards' test
helpers issue cards in-process, with the ledger entries issuance posts)."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest import mock

from django.db import models

from billing.services.payments import payment_record
from cards.models import Order, OrderStatus, PaymentMethod, PurchaseRegistration
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_submit
from portal import days
from tests import factories
from tests.cards.expiry.helpers import Buyer, buyer, line

__all__ = ["Buyer", "backdated", "buyer", "line", "ordered", "paid_by_transfer", "today_period"]


def ordered(
    who: Buyer,
    lines: list[LineInput],
    *,
    registered: bool = False,
    payment_method: str = PaymentMethod.CREDIT,
    id_number: str = "",
) -> Order:
    """An order of these lines, submitted (on credit: funded; by transfer: awaiting payment)."""
    order = order_create(
        company=who.company,
        actor=who.people["purchaser"],
        lines=lines,
        payment_method=payment_method,
        registration=factories.registration(id_number) if registered else None,
    )
    return order_submit(order=order, actor=who.people["purchaser"])


def paid_by_transfer(order: Order, *, payer_account: str, reference: str) -> None:
    """The buyer's bank transfer for a pro-forma order, matched by its payment reference."""
    assert order.status == OrderStatus.AWAITING_PAYMENT
    proforma = order.proforma
    assert proforma is not None
    payment_record(
        bank_reference=reference,
        payer_name=order.company.legal_name,
        payer_account=payer_account,
        amount=proforma.total,
        received_on=proforma.issue_date,
        remittance=f"payment {proforma.payment_reference}",
        actor=None,
    )


def today_period() -> tuple[datetime.date, datetime.date]:
    today = days.today()
    return today, today


def _default_patch(model: type[models.Model], field: str, instant: datetime.datetime) -> Any:
    return mock.patch.object(
        model._meta.get_field(field), "_get_default", mock.Mock(return_value=instant)
    )


@contextlib.contextmanager
def backdated(instant: datetime.datetime) -> Iterator[None]:
    """Registrations recorded and orders submitted at ``instant`` (the services read the clock
    through ``timezone.now``; the models' ``created_at`` defaults are patched too). The database
    clock is not: its triggers judge these rows by their real age."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch("django.utils.timezone.now", return_value=instant))
        stack.enter_context(_default_patch(PurchaseRegistration, "created_at", instant))
        stack.enter_context(_default_patch(Order, "created_at", instant))
        yield


def amount(value: str) -> Decimal:
    return Decimal(value)
