"""The events a company's webhook endpoints can subscribe to, and the object each one is about.

Each event names its object type and the attribute that is the object's public id (an order's
number, a card's serial...): the id in the payload and the key of the object's sequence. Labels
are translated; the codes are the API's and never change. ``PAYLOAD_VERSION`` is in every
payload; a change that could break a receiver gets a new version.

Card spend and expiry events (``card.redeemed``, ``card.refunded``, ``card.expired``) come from
the merchant API's hot path and from the nightly bulk expiry: they are recorded only while an
enabled endpoint of the company subscribes to them (``only_when_subscribed``); every other event
is always recorded, so the event API lists it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

PAYLOAD_VERSION = "2026-12-01"


class EventType(models.TextChoices):
    ORDER_SUBMITTED = "order.submitted", _("Order submitted")
    ORDER_APPROVED = "order.approved", _("Order approved")
    ORDER_REJECTED = "order.rejected", _("Order rejected")
    ORDER_FUNDED = "order.funded", _("Order funded")
    ORDER_FULFILLED = "order.fulfilled", _("Order fulfilled")
    ORDER_CANCELLED = "order.cancelled", _("Order cancelled")
    CARDS_READY = "cards.ready", _("Cards ready")
    CODE_ARCHIVE_DOWNLOADED = "code_archive.downloaded", _("Code archive downloaded")
    INVOICE_ISSUED = "invoice.issued", _("Invoice issued")
    INVOICE_PAID = "invoice.paid", _("Invoice paid")
    INVOICE_OVERDUE = "invoice.overdue", _("Invoice overdue")
    PAYMENT_RECEIVED = "payment.received", _("Payment received")
    STATEMENT_ISSUED = "statement.issued", _("Statement issued")
    UPLOAD_CHECKED = "upload.checked", _("Order file checked")
    EXPENSE_REPORT_MATCHED = "expense_report.matched", _("Expense report matched")
    CARD_REDEEMED = "card.redeemed", _("Card redeemed")
    CARD_REFUNDED = "card.refunded", _("Card refunded")
    CARD_FROZEN = "card.frozen", _("Card frozen")
    CARD_EXPIRED = "card.expired", _("Card expired")


@dataclass(frozen=True)
class EventSpec:
    object_type: str
    id_attribute: str
    # Recorded only when an endpoint subscribes (high volume, on a hot path).
    only_when_subscribed: bool = False


E = EventType
SPECS: dict[str, EventSpec] = {
    E.ORDER_SUBMITTED: EventSpec("order", "number"),
    E.ORDER_APPROVED: EventSpec("order", "number"),
    E.ORDER_REJECTED: EventSpec("order", "number"),
    E.ORDER_FUNDED: EventSpec("order", "number"),
    E.ORDER_FULFILLED: EventSpec("order", "number"),
    E.ORDER_CANCELLED: EventSpec("order", "number"),
    E.CARDS_READY: EventSpec("batch", "public_id"),
    E.CODE_ARCHIVE_DOWNLOADED: EventSpec("code_export", "public_id"),
    E.INVOICE_ISSUED: EventSpec("invoice", "number"),
    E.INVOICE_PAID: EventSpec("invoice", "number"),
    E.INVOICE_OVERDUE: EventSpec("invoice", "number"),
    E.PAYMENT_RECEIVED: EventSpec("payment", "public_id"),
    E.STATEMENT_ISSUED: EventSpec("statement", "public_id"),
    E.UPLOAD_CHECKED: EventSpec("order_upload", "public_id"),
    E.EXPENSE_REPORT_MATCHED: EventSpec("expense_report", "public_id"),
    E.CARD_REDEEMED: EventSpec("card", "serial_display", only_when_subscribed=True),
    E.CARD_REFUNDED: EventSpec("card", "serial_display", only_when_subscribed=True),
    E.CARD_FROZEN: EventSpec("card", "serial_display"),
    E.CARD_EXPIRED: EventSpec("card", "serial_display", only_when_subscribed=True),
}


def event_label(event_type: str) -> Promise | str:
    return dict(EventType.choices).get(event_type, event_type)


def object_id_of(event_type: str, obj: object) -> str:
    """The public id of ``obj`` as events of this type name it."""
    return str(getattr(obj, SPECS[event_type].id_attribute))
