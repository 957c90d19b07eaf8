"""Report 3, the real-name register (DESIGN.md section 7): every purchase of registered cards
and every purchase of 10,000 CNY or more submitted in the period, with the buyer, its credit
code, the agent (ID number masked), the contact, and the bank account the money came from.

The entries are the orders that carry a purchase registration (``cards.register``); the check
figure ``missing_registrations`` counts submitted orders that needed one and have none, which the
order rules make impossible: it is there to prove it, period by period.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Greatest
from django.utils.translation import gettext_lazy as _

from cards.models import REGISTRATION_ORDER_THRESHOLD, CardType, Order, OrderLine
from cards.register import register_entries, register_orders
from compliance.content import Figure, Period, ReportContent, ReportKind, ReportTable
from compliance.scope import live_rows
from portal import days

COLUMNS = (
    _("purchased on"),
    _("order"),
    _("card type"),
    _("face value total"),
    _("price"),
    _("company"),
    _("unified social credit code"),
    _("agent name"),
    _("ID type"),
    _("ID number (masked)"),
    _("contact phone"),
    _("paid from"),
    _("kept until"),
)


def compute(period: Period) -> ReportContent:
    entries = register_entries(register_orders(start=period.start, end=period.end))
    start, end = days.days_bounds(period.start, period.end)
    registered_line = OrderLine.objects.filter(
        order=OuterRef("pk"), product__card_type=CardType.REGISTERED
    )
    needing = (
        live_rows(Order.objects.filter(submitted_at__gte=start, submitted_at__lt=end))
        .annotate(largest=Greatest("face_total", "total"), has_registered=Exists(registered_line))
        .filter(Q(has_registered=True) | Q(largest__gte=REGISTRATION_ORDER_THRESHOLD))
    )
    registered_ids = set(needing.filter(has_registered=True).values_list("number", flat=True))
    large = set(
        needing.filter(largest__gte=REGISTRATION_ORDER_THRESHOLD).values_list("number", flat=True)
    )
    missing = needing.filter(registration__isnull=True).count()
    rows = [
        (
            days.local(entry.purchased_at).date(),
            entry.order_number,
            entry.card_types,
            entry.face_total,
            entry.total,
            entry.company_name,
            entry.credit_code,
            entry.agent_name,
            entry.id_type,
            entry.id_number_masked,
            entry.contact_phone,
            entry.paid_from,
            entry.kept_until,
        )
        for entry in entries
    ]
    numbers = {entry.order_number for entry in entries}
    return ReportContent(
        figures=(
            Figure("entries", _("Register entries (purchases registered)"), len(entries)),
            Figure(
                "registered_card_purchases",
                _("Purchases of registered cards"),
                len(numbers & registered_ids),
            ),
            Figure(
                "large_purchases",
                _("Purchases of 10,000 CNY or more"),
                len(numbers & large),
            ),
            Figure(
                "companies",
                _("Buyer companies in the register"),
                len({entry.credit_code for entry in entries}),
            ),
            Figure(
                "missing_registrations",
                _("Purchases that needed a registration and have none"),
                missing,
            ),
        ),
        tables=(ReportTable("entries", _("Register entries"), COLUMNS, rows),),
        notes=(
            _(
                "Rule: a purchase of registered cards, or of 10,000 CNY or more, is registered "
                "with the buyer's name, credit code, agent, ID number and contact, and kept at "
                "least five years. ID numbers are masked; an operator sees one in full only on "
                "its own page, with a reason, and each view is audited."
            ),
            _(
                "Paid from: the payer and account of each bank payment allocated to the order's "
                "invoice or pro-forma invoice; empty while unpaid."
            ),
        ),
    )


KIND = ReportKind(key="register", title=_("Real-name register"), period="any", compute=compute)
