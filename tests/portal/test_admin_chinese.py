"""The operators' admin reads in Chinese: every changelist, filter, add form and change form of
every registered model (ours, django-axes', django-otp's) shows no English an operator must read,
and the words the issue named read as the glossary says (付款, not 付款方式, for a payment)."""

# mypy: disable-error-code="union-attr, arg-type"

from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin
from django.test import Client
from django.utils import timezone

from billing.services.invoices import InvoiceLineData, invoice_issue
from billing.services.payments import payment_record
from cards.models import MerchantLookupFailure
from cards.services.spend import merchant_key_freeze
from portal.models import User
from tests import factories
from tests.cards.spend.helpers import merchant, merchant_key
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}

# Words that are data, names or standard abbreviations, not text an operator reads as English.
# abbreviations, formats and names kept in Latin letters in Chinese finance software; the test
# data below; Django's boolean icons (alt="True"), which no catalogue reaches.
ALLOWED_WORDS = {
    *("API", "CSV", "XLSX", "PDF", "SHA", "TOTP", "URL", "UUID", "IP", "ID", "JSON", "HTTP"),
    *("HTTPS",),
    *("OTP", "GET", "POST", "Excel", "GBK", "UTF", "Asia", "Shanghai", "UTC", "User", "Agent"),
    *("Accept", "Unix", "Gift", "card", "ops", "issuer", "example", "com", "Mozilla", "login"),
    *("True", "False", "None"),
    *("Webhook", "Webhooks"),  # the standard's name, kept in Latin letters
}
# Text that is data or that no catalogue reaches, each with its reason.
ALLOWED_PHRASES = re.compile(
    "|".join(
        [
            r"Attempted Access: |Access Log for |<unknown>",  # django-axes' __str__, in English
            r"Control 键或 Mac 上的 Command 键",  # key names in Django's own Chinese
            # the bank statement columns recognised by their English headers too
            r"^(amount|bank reference|date|debit|payer account|payer|remittance|summary), ",
            r"^order PO",  # ledger memos: evidence, stored as written
            r"^(cash|discounts|system)$",  # ledger account codes; the audit trail's actor
            r"^(- )?(Owner|Purchaser|Approver|Finance|Viewer)\b",  # the test people's names
            r"- (Owner|Purchaser|Approver|Finance|Viewer)$",  # ... beside their checkbox
            r"^\{",  # an audit event's details, as JSON
            r"\*{4}",  # a password hash, masked
            r"^authenticator\b|- authenticator ",  # the device name the test gave
        ]
    )
)
WORD = re.compile(r"[A-Za-z]{3,}")
# Codes, emails, paths and identifiers of data (ledger account codes, audit actions, task names).
CODE_LIKE = re.compile(r"\S*[\d@/_]\S*|\S+[.:]\S+")


class _VisibleText(HTMLParser):
    """The text a person reads: text nodes and the labels of controls, not scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        # Permission names are rows Django stored in English when it created them.
        if tag in {"script", "style", "template", "textarea"} or (
            tag == "select" and values.get("name") in {"permissions", "user_permissions"}
        ):
            self._skip += 1
        for name in ("title", "placeholder", "aria-label", "alt"):
            if values.get(name):
                self.parts.append(values[name] or "")
        if tag == "input" and values.get("type") in {"submit", "button"} and values.get("value"):
            self.parts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "template", "textarea", "select"} and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def english_in(html: str) -> set[str]:
    parser = _VisibleText()
    parser.feed(html)
    found = set()
    for part in parser.parts:
        if ALLOWED_PHRASES.search(part):
            continue
        text = CODE_LIKE.sub(" ", part)
        words = [w for w in WORD.findall(text) if w not in ALLOWED_WORDS]
        if words:
            found.add(part[:80])
    return found


@pytest.fixture
def operator_client(client: Client) -> Client:
    ops = User.objects.create_user(
        "ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )
    sign_in(client, ops, second_factor=True)
    return client


@pytest.fixture
def some_of_everything() -> None:
    """One row of what the operators look at most: an order, an invoice, a payment allocated to
    it, a failed sign-in (axes), so that filters and change forms have something to show."""
    company = factories.company("厦门礼品有限公司")
    people = factories.team(company)
    factories.credit_line(company)
    factories.submitted(company, people["purchaser"])
    amount = Decimal("12345.60")
    line = InvoiceLineData(
        description="礼品卡", face_value=amount, quantity=1, unit_price=amount, amount=amount
    )
    invoice = invoice_issue(
        company=company, order_number="PO1", lines=[line], net_days=30, actor=None
    )
    # The payer's name matches the company: the payment is allocated to the invoice on arrival.
    payment_record(
        bank_reference="B1",
        payer_name="厦门礼品有限公司",
        payer_account="6222",
        amount="12345.60",
        received_on=timezone.localdate(),
        remittance="",
        actor=None,
    )
    assert invoice.allocations.exists()
    # A merchant whose key the merchant API froze after a failed look-up (cards/admin/merchants).
    shop = merchant()
    key, _plaintext = merchant_key(shop)
    MerchantLookupFailure.objects.create(
        key=key, merchant=shop, client_ip="203.0.113.9", endpoint="balance", reason="check"
    )
    merchant_key_freeze(key_id=key.pk, reason="failure-burst")
    AccessAttempt.objects.create(
        username="someone@example.com",
        ip_address="127.0.0.1",
        user_agent="Mozilla",
        http_accept="*/*",
        path_info="/login/",
        failures_since_start=5,
        get_data="",
        post_data="",
    )
    AccessLog.objects.create(
        username="someone@example.com",
        ip_address="127.0.0.1",
        user_agent="Mozilla",
        http_accept="*/*",
        path_info="/login/",
    )


def admin_pages(client: Client) -> list[str]:
    """The index, then each model's changelist, add form and first change form."""
    urls = ["/ops/"]
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        base = f"/ops/{meta.app_label}/{meta.model_name}/"
        urls.append(base)
        urls.append(f"{base}add/")
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(f"{base}{first.pk}/change/")
            if meta.model_name == "merchantapikey":
                urls += [f"{base}{first.pk}/revoke/", f"{base}{first.pk}/unfreeze/"]
        del model_admin
    return urls


def test_every_admin_page_reads_in_chinese(operator_client: Client, some_of_everything) -> None:
    english: dict[str, set[str]] = {}
    for url in admin_pages(operator_client):
        response = operator_client.get(url, **ZH)
        if response.status_code in {302, 403, 404}:
            continue
        assert response.status_code == 200, url
        found = english_in(response.content.decode())
        if found:
            english[url] = found
    report = "\n".join(f"{url}: {sorted(found)}" for url, found in sorted(english.items()))
    assert not english, "English left on Chinese admin pages:\n" + report


def test_the_words_the_review_named(operator_client: Client, some_of_everything) -> None:
    payments = operator_client.get("/ops/billing/payment/", **ZH).content.decode()
    assert "选择收款记录" in payments
    assert "付款方式" not in payments
    allocation = operator_client.get("/ops/billing/allocation/", **ZH).content.decode()
    assert "核销记录" in allocation
    index = operator_client.get("/ops/", **ZH).content.decode()
    assert "登录锁定" in index
    assert "身份验证器应用" in index
    assert "卡片" in index
    assert "卡数" not in index
