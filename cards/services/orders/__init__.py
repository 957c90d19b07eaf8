"""Orders: drafting, pricing and the prepaid-card rules. One place for every rule an order line
or an order must satisfy; the portal, the API and file uploads all come through here."""

from .base import (
    CheckedLine,
    CheckedOrder,
    LineInput,
    LineProblem,
    OrderAlreadyCreated,
    OrderTotals,
    RegistrationInput,
    line_error,
    order_company_check,
    order_methods_check,
)
from .drafts import order_create, order_insert, order_invoice_lines, order_number_new, order_update
from .preview import LinesPreview, order_lines_preview
from .registration import registration_id_number, registration_record, registration_required
from .rules import LineRules, checked_order, order_lines_check

__all__ = [
    "CheckedLine",
    "CheckedOrder",
    "LineInput",
    "LineProblem",
    "LineRules",
    "LinesPreview",
    "OrderAlreadyCreated",
    "OrderTotals",
    "RegistrationInput",
    "checked_order",
    "line_error",
    "order_company_check",
    "order_create",
    "order_insert",
    "order_invoice_lines",
    "order_lines_check",
    "order_lines_preview",
    "order_methods_check",
    "order_number_new",
    "order_update",
    "registration_id_number",
    "registration_record",
    "registration_required",
]
