"""The order page of a pro-forma order waiting for its transfer: the issuer's bank account, the
amount and the payment reference, each with a copy button, the same values as the pro-forma PDF
(cards/views/order_page.py, billing.selectors.proforma_transfer_instructions)."""

from __future__ import annotations

import html
import io
import re
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse
from pypdf import PdfReader

from billing.money import format_cny
from billing.services.payments import payment_record
from cards.models import Order, OrderStatus, PaymentMethod
from cards.services.workflow import order_approve, order_submit
from tests import factories
from tests.cards.test_views import Shop, make_order, shop  # noqa: F401 - the fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

PANEL = 'data-testid="transfer-panel"'


def proforma_order(shop: Shop) -> Order:  # noqa: F811
    order = make_order(shop, payment_method=PaymentMethod.BANK_TRANSFER)
    order = order_submit(order=order, actor=shop.people["purchaser"])
    order = order_approve(order=order, actor=shop.people["approver"])
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert order.proforma is not None
    return order


def panel_of(page: str) -> str:
    start = page.index(PANEL)
    return page[start : page.index("</section>", start)]


def copy_values(panel: str) -> dict[str, str]:
    """Each copyable value of the panel by its test id: what the button copies."""
    return {
        testid: html.unescape(value)
        for testid, value in re.findall(r'data-testid="([^"]+)" data-copy-value="([^"]*)"', panel)
    }


def shown_values(panel: str) -> dict[str, str]:
    """Each copyable value as the page shows it: its groups joined by single spaces."""
    shown = {}
    for testid, inner in re.findall(
        r'data-testid="([^"]+)" data-copy-value="[^"]*">(.*?)</code>', panel, re.S
    ):
        groups = re.findall(r'<span class="[a-z-]+">([^<]*)</span>', inner)
        shown[testid] = html.unescape(" ".join(groups))
    return shown


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_a_proforma_order_waiting_for_payment_shows_where_to_transfer(
    shop: Shop,  # noqa: F811
    settings,
) -> None:
    settings.PLATFORM_BANK_NAME = "China Merchants Bank Shanghai Branch"
    settings.PLATFORM_BANK_ACCOUNT_NAME = "Shanghai E-Card Prepaid Services Co., Ltd."
    settings.PLATFORM_BANK_ACCOUNT = "1219 0000 1234 5678 0001"
    order = proforma_order(shop)
    proforma = order.proforma
    assert proforma is not None
    assert proforma.payment_reference

    page = shop.client("purchaser").get(f"/orders/{order.number}/").content.decode()

    panel = panel_of(page)
    assert copy_values(panel) == {
        "transfer-reference": proforma.payment_reference,
        "transfer-amount": str(proforma.total),
        "transfer-bank": "China Merchants Bank Shanghai Branch",
        "transfer-account-name": "Shanghai E-Card Prepaid Services Co., Ltd.",
        # Copied without the spaces it is read with.
        "transfer-account": "12190000123456780001",
    }
    shown = shown_values(panel)
    assert shown["transfer-account"] == "1219 0000 1234 5678 0001"
    assert shown["transfer-amount"] == format_cny(proforma.total)
    assert shown["transfer-reference"] == proforma.payment_reference
    # Every value has its copy button, and no group breaks inside (each is one nowrap span).
    assert panel.count("data-copy-button") == 5
    assert panel.count('<span class="secret-group">1219</span>') == 1


def test_the_panel_and_the_proforma_pdf_say_the_same(shop: Shop) -> None:  # noqa: F811
    order = proforma_order(shop)
    assert order.proforma is not None
    client = shop.client("purchaser")

    panel = panel_of(client.get(f"/orders/{order.number}/").content.decode())
    pdf = client.get(reverse("billing:invoice_pdf", args=[order.proforma.number]))

    text = re.sub(r"\s+", " ", pdf_text(pdf.content))
    shown = shown_values(panel)
    assert set(shown) == {
        "transfer-reference",
        "transfer-amount",
        "transfer-bank",
        "transfer-account-name",
        "transfer-account",
    }
    for testid, value in shown.items():
        assert value in text, f"{testid}: {value!r} is not in the pro-forma PDF"


@pytest.mark.parametrize("role", ["viewer", "finance", "owner"])
def test_everyone_in_the_company_sees_the_panel(shop: Shop, role: str) -> None:  # noqa: F811
    order = proforma_order(shop)
    page = shop.client(role).get(f"/orders/{order.number}/").content.decode()
    assert PANEL in page


def test_a_credit_order_has_no_transfer_panel(shop: Shop) -> None:  # noqa: F811
    order = order_submit(order=make_order(shop), actor=shop.people["purchaser"])
    order = order_approve(order=order, actor=shop.people["approver"])
    assert order.payment_method == PaymentMethod.CREDIT

    page = shop.client("purchaser").get(f"/orders/{order.number}/").content.decode()

    assert PANEL not in page


def test_a_draft_bank_transfer_order_has_no_transfer_panel(shop: Shop) -> None:  # noqa: F811
    order = make_order(shop, payment_method=PaymentMethod.BANK_TRANSFER)
    page = shop.client("purchaser").get(f"/orders/{order.number}/").content.decode()
    assert PANEL not in page


def test_once_the_transfer_arrives_the_panel_is_gone(shop: Shop) -> None:  # noqa: F811
    order = proforma_order(shop)
    proforma = order.proforma
    assert proforma is not None
    payment_record(
        bank_reference="B-PAID-1",
        payer_name=shop.company.legal_name,
        payer_account="6222 0000 1111",
        amount=proforma.total,
        received_on=proforma.issue_date,
        remittance=f"payment {proforma.payment_reference}",
        actor=None,
    )
    proforma.refresh_from_db()
    assert proforma.status == "paid"
    client = shop.client("purchaser")

    # Paid, its order not yet funded (the follow-up runs after the commit): nothing to pay.
    assert PANEL not in client.get(f"/orders/{order.number}/").content.decode()

    factories.run_funding_follow_ups()
    order.refresh_from_db()
    assert order.status != OrderStatus.AWAITING_PAYMENT
    assert PANEL not in client.get(f"/orders/{order.number}/").content.decode()


def test_copy_value_keeps_names_spaced_and_drops_spaces_from_numbers() -> None:
    template = Template(
        "{% load secret_tags %}"
        '{% copy_value account label="Copy" testid="a" %}'
        '{% copy_value name label="Copy" keep_spaces=True testid="n" %}'
        '{% copy_value amount shown="¥1,234.50" label="Copy" testid="m" %}'
    )
    markup = template.render(
        Context(
            {
                "account": " 6222  0000 1111 ",
                "name": "Bank  of  Shanghai",
                "amount": Decimal("1234.50"),
            }
        )
    )
    assert copy_values(markup) == {"a": "622200001111", "n": "Bank of Shanghai", "m": "1234.50"}
    assert shown_values(markup) == {
        "a": "6222 0000 1111",
        "n": "Bank of Shanghai",
        "m": "¥1,234.50",
    }
