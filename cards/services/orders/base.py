"""What passes between the order services: a line as sent, a line and an order as checked,
the problems found, the totals; and the checks every way of ordering makes first."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from cards.models import CardProduct, DeliveryMethod, Order, PaymentMethod
from portal.models import Company


class OrderAlreadyCreated(Exception):
    """A form already created this order (the same one-time form token was sent again): the
    caller shows that order instead of a second one."""

    def __init__(self, order: Order) -> None:
        super().__init__(order.number)
        self.order = order


@dataclass
class LineInput:
    """One order line as a buyer sent it: raw values, checked by ``order_lines_check``."""

    product: str | CardProduct  # public id or product
    face_value: Any
    quantity: Any
    recipient_name: str = ""
    recipient_mobile: str = ""
    recipient_email: str = ""
    employee_id: str = ""
    cost_center: str = ""
    note: str = ""


@dataclass
class RegistrationInput:
    agent_name: str
    id_type: str
    id_number: str
    contact_phone: str


@dataclass
class CheckedLine:
    product: CardProduct
    face_value: Decimal
    quantity: int
    unit_price: Decimal
    amount: Decimal
    recipient: dict[str, str] = field(default_factory=dict)


@dataclass
class CheckedOrder:
    lines: list[CheckedLine]
    face_total: Decimal
    total: Decimal
    card_count: int
    needs_registration: bool


def line_error(position: int, field_label: str, value: object, reason: str) -> str:
    return _("Line %(line)s, %(field)s “%(value)s”: %(reason)s") % {
        "line": position,
        "field": field_label,
        "value": value,
        "reason": reason,
    }


def order_company_check(company: Company) -> None:
    """Refuse an order (form, API or file) from a company we have not approved yet."""
    if company.status != Company.Status.ACTIVE:
        raise ValidationError(
            _("%(company)s is not active yet (status: %(status)s); orders open once we approve it.")
            % {"company": company.legal_name, "status": company.get_status_display()}
        )


@dataclass(frozen=True)
class LineProblem:
    """One broken rule of one line: the field (``product``, ``face_value``, ``quantity``,
    ``recipient_mobile``, ``recipient_email``), its label, the value as given, and the reason."""

    field: str
    label: str
    value: object
    reason: str

    def message(self, position: int) -> str:
        return line_error(position, self.label, self.value, self.reason)


def order_methods_check(payment_method: str, delivery_method: str) -> None:
    """Refuse a payment or delivery method the portal does not offer."""
    if payment_method not in PaymentMethod.values:
        raise ValidationError(
            {
                "payment_method": _(
                    "Prepaid card rule: companies pay only on credit terms or by bank transfer "
                    "(“%(value)s” is not accepted)."
                )
                % {"value": payment_method}
            }
        )
    if delivery_method not in DeliveryMethod.values:
        raise ValidationError(
            {"delivery_method": _("Choose delivery by file or to each recipient.")}
        )


@dataclass(frozen=True)
class OrderTotals:
    face_total: Decimal
    total: Decimal
    card_count: int
    line_count: int
