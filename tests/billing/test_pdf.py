"""Invoice PDFs: real PDFs (read back with pypdf), A4, Chinese text, no network access."""

from __future__ import annotations

import io
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from pypdf import PdfReader
from weasyprint import HTML

from billing.pdf import LocalOnlyFetcher, page_counter_css, static_roots
from billing.services.credit import credit_charge
from billing.services.invoices import InvoiceLineData, invoice_void, proforma_issue
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

BUYER_NAME = "华东贸易有限公司"
A4_POINTS = (595.28, 841.89)


def card_lines(quantity: int = 30) -> list[InvoiceLineData]:
    return [
        InvoiceLineData(
            description="礼品卡, face value ¥100.00",
            face_value=Decimal("100.00"),
            quantity=quantity,
            unit_price=Decimal("97.5000"),
            amount=Decimal("97.50") * quantity,
        )
    ]


@pytest.fixture
def company():
    company = factories.company(BUYER_NAME)
    factories.credit_line(company, "1000000.00")
    return company


@pytest.fixture
def owner_client(client, company):
    sign_in(client, factories.member(company, "owner"), second_factor=True)
    return client


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_invoice_pdf_is_an_a4_pdf_with_number_chinese_buyer_and_total(owner_client, company):
    invoice = credit_charge(company=company, order_number="ORD-1", lines=card_lines(), actor=None)

    response = owner_client.get(reverse("billing:invoice_pdf", args=[invoice.number]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert "no-store" in response["Cache-Control"]
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert (round(float(width), 2), round(float(height), 2)) == A4_POINTS
    text = pdf_text(response.content)
    assert invoice.number in text
    assert BUYER_NAME in text
    assert "礼品卡" in text
    assert "¥2,925.00" in text
    assert "Non-taxable prepaid card sale" in text
    assert "Page 1 of 1" in text


def test_every_page_carries_both_parties_and_its_number(owner_client, company, settings):
    settings.PLATFORM_LEGAL_NAME = "上海易卡预付卡服务有限公司"
    # Enough lines for several pages: the header and "Page n of N" repeat on each.
    lines = [
        InvoiceLineData(
            description=f"礼品卡 {n}",
            face_value=Decimal("100.00"),
            quantity=1,
            unit_price=Decimal("100.0000"),
            amount=Decimal("100.00"),
        )
        for n in range(120)
    ]
    invoice = credit_charge(company=company, order_number="ORD-LONG", lines=lines, actor=None)

    response = owner_client.get(reverse("billing:invoice_pdf", args=[invoice.number]))

    reader = PdfReader(io.BytesIO(response.content))
    pages = len(reader.pages)
    assert pages >= 2
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert "上海易卡预付卡服务有限公司" in text
        assert BUYER_NAME in text
        assert invoice.number in text
        assert f"Page {number} of {pages}" in text


def test_pdf_renders_in_chinese(owner_client, company):
    invoice = credit_charge(company=company, order_number="ORD-1", lines=card_lines(), actor=None)

    response = owner_client.get(
        reverse("billing:invoice_pdf", args=[invoice.number]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert response.status_code == 200
    text = pdf_text(response.content)
    assert invoice.number in text
    assert BUYER_NAME in text


def test_page_counter_follows_the_translation_word_order_and_escapes_quotes(monkeypatch):
    monkeypatch.setattr("billing.pdf.gettext", lambda message: '第 %(page)s 页 共 %(pages)s 页 "')

    assert page_counter_css() == '"第 " counter(page) " 页 共 " counter(pages) " 页 \\""'


def test_proforma_pdf_carries_the_payment_reference(owner_client, company):
    proforma = proforma_issue(company=company, order_number="ORD-1", lines=card_lines(), actor=None)

    response = owner_client.get(reverse("billing:invoice_pdf", args=[proforma.number]))

    text = pdf_text(response.content)
    assert proforma.payment_reference
    assert proforma.payment_reference in text
    assert "Put this reference in the transfer remittance" in text


def test_void_invoice_pdf_is_marked_void_and_names_its_credit_note(owner_client, company):
    invoice = credit_charge(company=company, order_number="ORD-1", lines=card_lines(), actor=None)
    credit_note = invoice_void(invoice=invoice, reason="Order cancelled", actor=None)
    assert credit_note is not None

    response = owner_client.get(reverse("billing:invoice_pdf", args=[invoice.number]))

    text = pdf_text(response.content)
    assert "VOID" in text
    assert credit_note.number in text


def test_pdf_of_another_company_invoice_is_not_found(owner_client):
    other = factories.company("西部实业有限公司")
    factories.credit_line(other)
    theirs = credit_charge(company=other, order_number="ORD-9", lines=card_lines(), actor=None)

    response = owner_client.get(reverse("billing:invoice_pdf", args=[theirs.number]))

    assert response.status_code == 404
    assert not response.content.startswith(b"%PDF")


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_rendering_never_fetches_remote_urls():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        html = (
            f'<link rel="stylesheet" href="{url}/style.css">'
            f'<p>text</p><img src="{url}/logo.png">'
            '<img src="file:///etc/passwd">'
        )
        roots = static_roots()
        pdf = HTML(
            string=html, base_url=roots[0].as_uri() + "/", url_fetcher=LocalOnlyFetcher(roots)
        ).write_pdf()
    finally:
        server.shutdown()
        server.server_close()

    assert pdf.startswith(b"%PDF-")
    assert _Recorder.hits == []


def test_fetcher_serves_data_and_static_files_only():
    roots = static_roots()
    fetcher = LocalOnlyFetcher(roots)

    favicon = fetcher.fetch((roots[0] / "portal" / "favicon.svg").as_uri())
    data = fetcher.fetch("data:text/plain;base64,aGVsbG8=")

    assert b"<svg" in favicon.read()
    assert data.read() == b"hello"
    for refused in (
        "https://example.com/logo.png",
        "ftp://example.com/x",
        "file:///etc/passwd",
        (roots[0] / ".." / "pyproject.toml").as_uri(),
    ):
        with pytest.raises(ValueError, match="may not"):
            fetcher.fetch(refused)
