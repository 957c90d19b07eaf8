"""Operators import and export card products and company pricing with django-import-export:
a preview first (a dry run, rolled back), then confirm. Each product row goes through the
model's prepaid card rules and each pricing row through the pricing service (audited), so a bad
row shows its rule by name and a bad file writes nothing. Exports neutralise formula cells and
open in Excel with Chinese text (CSV in UTF-8 with a byte order mark)."""

# mypy: disable-error-code="union-attr, arg-type, index"

from __future__ import annotations

import codecs
import csv
import io
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from billing.audit import BillingAction
from billing.models import CompanyPricing
from cards.audit import CardsAction
from cards.models import CardProduct, CardType, Order, OrderUpload
from portal.models import AuditEvent, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

PRODUCTS = "/ops/cards/cardproduct/"
PRICING = "/ops/billing/companypricing/"
CSV_FORMAT, XLSX_FORMAT = "0", "1"


@pytest.fixture
def ops() -> User:
    return User.objects.create_user(
        "ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )


@pytest.fixture
def admin_client(client: Client, ops: User) -> Client:
    sign_in(client, ops, second_factor=True)
    return client


def _csv(rows: list[list[str]], *, encoding: str = "utf-8") -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode(encoding)


def _preview(client: Client, base: str, data: bytes, name: str = "file.csv") -> Any:
    response = client.post(
        base + "import/",
        {
            "import_file": SimpleUploadedFile(name, data),
            "format": CSV_FORMAT if name.endswith(".csv") else XLSX_FORMAT,
            "resource": "0",
        },
    )
    assert response.status_code == 200
    return response


def _confirm(client: Client, base: str, preview: Any) -> Any:
    form = preview.context["confirm_form"]
    assert form is not None, "the preview offered no confirm"
    data = {name: form.initial.get(name, "") for name in form.fields}
    response = client.post(base + "process_import/", data)
    assert response.status_code == 302, response.content[:2000]
    return response


def _row_errors(preview: Any) -> str:
    result = preview.context["result"]
    assert result.has_validation_errors()
    return " ".join(
        message
        for invalid in result.invalid_rows
        for messages in invalid.error_dict.values()
        for message in messages
    )


PRODUCT_HEADER = [
    "name",
    "name_en",
    "card_type",
    "face_values",
    "face_min",
    "face_max",
    "face_step",
    "validity_months",
    "active",
]


# --- Card products -------------------------------------------------------------------------------


def test_a_good_product_file_is_previewed_then_creates_and_updates_products(
    admin_client: Client,
) -> None:
    existing = factories.product(name="节日卡")
    rows = [
        ["public_id", *PRODUCT_HEADER],
        ["", "员工福利卡", "Staff card", "bearer", "100\uff0c200, 500", "", "", "", "36", "1"],
        ["", "实名大额卡", "Named card", "registered", "", "100", "5000", "100", "", "1"],
        [
            str(existing.public_id),
            "节日卡",
            "Holiday card",
            "bearer",
            "50, 100",
            "",
            "",
            "",
            "48",
            "0",
        ],
    ]
    preview = _preview(admin_client, PRODUCTS, _csv(rows))
    result = preview.context["result"]
    assert not result.has_validation_errors()
    assert not result.has_errors()
    assert [r.import_type for r in result.rows] == ["new", "new", "update"]
    # The preview was a dry run: nothing written yet.
    assert CardProduct.objects.count() == 1

    _confirm(admin_client, PRODUCTS, preview)

    assert CardProduct.objects.count() == 3
    staff = CardProduct.objects.get(name="员工福利卡")
    assert staff.face_values == ["100.00", "200.00", "500.00"]
    assert staff.validity_months == 36
    named = CardProduct.objects.get(name="实名大额卡")
    assert named.card_type == CardType.REGISTERED
    assert (named.face_min, named.face_max) == (Decimal("100"), Decimal("5000"))
    existing.refresh_from_db()
    assert existing.face_values == ["50.00", "100.00"]
    assert existing.validity_months == 48
    assert not existing.active


def test_importing_products_writes_one_audit_row_per_product_naming_the_operator(
    admin_client: Client, ops: User
) -> None:
    existing = factories.product(name="节日卡", validity_months=36)
    rows = [
        ["public_id", *PRODUCT_HEADER],
        ["", "员工福利卡", "Staff card", "bearer", "100, 200", "", "", "", "36", "1"],
        ["", "实名大额卡", "Named card", "registered", "", "100", "5000", "100", "", "1"],
        [
            str(existing.public_id),
            "节日卡",
            existing.name_en,
            "bearer",
            "50",
            "",
            "",
            "",
            "48",
            "1",
        ],
    ]
    preview = _preview(admin_client, PRODUCTS, _csv(rows))
    assert not AuditEvent.objects.exists()  # the preview wrote nothing, its trail neither

    _confirm(admin_client, PRODUCTS, preview)

    events = list(AuditEvent.objects.order_by("id"))
    assert [(e.action, e.actor) for e in events] == [
        (CardsAction.PRODUCT_CREATED, ops),
        (CardsAction.PRODUCT_CREATED, ops),
        (CardsAction.PRODUCT_UPDATED, ops),
    ]
    created = {str(p.public_id) for p in CardProduct.objects.exclude(pk=existing.pk)}
    assert {e.object_id for e in events[:2]} == created
    assert events[2].object_id == str(existing.public_id)
    assert set(events[2].changes) == {"face_values", "validity_months"}
    assert events[2].changes["validity_months"] == [36, 48]


def test_a_product_file_breaking_a_prepaid_card_rule_shows_the_rule_per_row_and_writes_nothing(
    admin_client: Client,
) -> None:
    existing = factories.product(name="节日卡")
    rows = [
        ["public_id", *PRODUCT_HEADER],
        ["", "好卡", "Good card", "bearer", "100", "", "", "", "36", "1"],
        ["", "超额卡", "Too big", "bearer", "2000", "", "", "", "36", "1"],
        ["", "短期卡", "Too short", "bearer", "100", "", "", "", "12", "1"],
        [str(existing.public_id), "节日卡", "Holiday", "registered", "6000", "", "", "", "", "1"],
    ]
    preview = _preview(admin_client, PRODUCTS, _csv(rows))

    errors = _row_errors(preview)
    assert "Prepaid card rule: bearer cards have a face value of at most" in errors
    assert "Prepaid card rule: bearer cards must be valid at least 36 months" in errors
    assert "Prepaid card rule: registered cards have a face value of at most" in errors
    page = preview.content.decode()
    assert "Prepaid card rule" in page
    assert [i.number for i in preview.context["result"].invalid_rows] == [2, 3, 4]
    # No confirm is offered, and even the good row was rolled back.
    assert preview.context.get("confirm_form") is None
    assert list(CardProduct.objects.values_list("name", flat=True)) == ["节日卡"]
    existing.refresh_from_db()
    assert existing.card_type == CardType.BEARER


def test_a_product_file_in_gbk_as_excel_saves_it_on_chinese_windows_is_read(
    admin_client: Client,
) -> None:
    rows = [
        PRODUCT_HEADER,
        ["春节礼品卡", "Spring card", "bearer", "100\uff0c200", "", "", "", "36", "1"],
    ]
    preview = _preview(admin_client, PRODUCTS, _csv(rows, encoding="gb18030"))
    _confirm(admin_client, PRODUCTS, preview)
    assert CardProduct.objects.get(name="春节礼品卡").face_values == ["100.00", "200.00"]


def test_the_product_export_is_utf8_with_bom_and_neutralises_formulas(
    admin_client: Client,
) -> None:
    factories.product(name='=HYPERLINK("http://evil.example")')
    CardProduct.objects.update(description="@SUM(A1:A9)", name_en="-2+3")

    response = admin_client.post(
        PRODUCTS + "export/",
        {
            "format": CSV_FORMAT,
            "resource": "0",
            **{
                f"cardproductresource_{name}": "on"
                for name in ["public_id", "name", "name_en", "description", "face_values"]
            },
        },
    )

    assert response.status_code == 200
    body = response.content
    assert body.startswith(codecs.BOM_UTF8)
    assert b"\r\n" in body
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["public_id", "name", "name_en", "description", "face_values"]
    assert rows[1][1] == '\'=HYPERLINK("http://evil.example")'
    assert rows[1][2] == "'-2+3"
    assert rows[1][3] == "'@SUM(A1:A9)"
    assert rows[1][4] == "100, 200, 500, 1000"


# --- Company pricing -----------------------------------------------------------------------------


def test_a_good_pricing_file_sets_rates_through_the_audited_service(
    admin_client: Client, ops: User
) -> None:
    first = factories.company("上海甲公司")
    second = factories.company("上海乙公司")
    factories.pricing(second, "fee", "1.00")
    rows = [
        ["credit_code", "mode", "rate"],
        [first.credit_code, "discount", "2.50"],
        [second.credit_code.lower(), "fee", "0.80"],
    ]
    preview = _preview(admin_client, PRICING, _csv(rows))
    result = preview.context["result"]
    assert not result.has_validation_errors()
    assert not result.has_errors()
    assert [r.import_type for r in result.rows] == ["new", "update"]
    assert not CompanyPricing.objects.filter(company=first).exists()
    assert not AuditEvent.objects.filter(action=BillingAction.PRICING_SET).exists()

    _confirm(admin_client, PRICING, preview)

    assert CompanyPricing.objects.get(company=first).rate == Decimal("2.50")
    assert CompanyPricing.objects.get(company=second).mode == "fee"
    assert CompanyPricing.objects.get(company=second).rate == Decimal("0.80")
    events = AuditEvent.objects.filter(action=BillingAction.PRICING_SET)
    assert events.count() == 2
    assert set(events.values_list("actor", flat=True)) == {ops.pk}


def test_a_bad_pricing_file_shows_the_service_message_per_row_and_writes_nothing(
    admin_client: Client,
) -> None:
    good = factories.company("上海甲公司")
    bad = factories.company("上海乙公司")
    factories.pricing(bad, "discount", "1.00")
    rows = [
        ["credit_code", "mode", "rate"],
        [good.credit_code, "discount", "2.50"],
        [bad.credit_code, "discount", "120"],
        [bad.credit_code, "rebate", "1.00"],
        [bad.credit_code, "fee", "1.005"],
        ["91110000999999999X", "fee", "1.00"],
    ]
    preview = _preview(admin_client, PRICING, _csv(rows))

    errors = _row_errors(preview)
    assert "The rate must be at least 0 and below 100 percent." in errors
    assert "Choose discount or service fee." in errors
    assert "Give the rate with at most 2 decimal places" in errors
    assert "No company has the unified social credit code “91110000999999999X”." in errors
    assert preview.context.get("confirm_form") is None
    assert not CompanyPricing.objects.filter(company=good).exists()
    assert CompanyPricing.objects.get(company=bad).rate == Decimal("1.00")
    assert not AuditEvent.objects.filter(action=BillingAction.PRICING_SET).exists()


def test_the_pricing_export_in_xlsx_keeps_chinese_names_and_writes_no_formula(
    admin_client: Client,
) -> None:
    company = factories.company("=杭州春风礼品有限公司")
    factories.pricing(company, "discount", "2.50")

    response = admin_client.post(
        PRICING + "export/",
        {
            "format": XLSX_FORMAT,
            "resource": "0",
            **{
                f"companypricingresource_{name}": "on"
                for name in ["company", "company_name", "mode", "rate"]
            },
        },
    )

    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["credit_code", "company_name", "mode", "rate"]
    assert rows[1] == [company.credit_code, "'=杭州春风礼品有限公司", "discount", 2.5]
    rate = sheet.cell(row=2, column=4)
    assert rate.data_type == "n"
    assert rate.number_format == "#,##0.00"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


# --- Order files uploaded by support -------------------------------------------------------------

UPLOADS = "/ops/cards/orderupload/"
ORDER_HEADER = ["产品", "面值", "数量", "姓名", "手机"]


def test_support_uploads_an_order_file_for_a_company_previews_and_confirms_it(
    admin_client: Client, ops: User
) -> None:
    company = factories.company("上海丙公司", approval_threshold="100000.00")
    factories.credit_line(company, "100000.00")
    purchaser = factories.member(company, "purchaser")
    stranger = factories.member(factories.company(), "purchaser")
    factories.product()
    data = _csv([ORDER_HEADER, ["礼品卡", "100", "3", "张三", "13800138000"]])
    assert 'id="upload-for-company"' in admin_client.get(UPLOADS).content.decode()

    refused = admin_client.post(
        UPLOADS + "upload/",
        {
            "company": company.pk,
            "purchaser": stranger.pk,
            "file": SimpleUploadedFile("hr.csv", data),
            "payment_method": "credit",
            "delivery_method": "file",
        },
    )
    assert refused.status_code == 200
    assert "is not an owner or purchaser of 上海丙公司" in refused.content.decode()

    response = admin_client.post(
        UPLOADS + "upload/",
        {
            "company": company.pk,
            "purchaser": purchaser.pk,
            "file": SimpleUploadedFile("hr.csv", data),
            "payment_method": "credit",
            "delivery_method": "file",
        },
    )

    upload = OrderUpload.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{UPLOADS}{upload.pk}/preview/"
    assert upload.on_behalf
    assert upload.created_by == purchaser
    preview = admin_client.get(response["Location"]).content.decode()
    assert "¥300.00" in preview
    listing = admin_client.get(UPLOADS).content.decode()
    assert "hr.csv" in listing
    assert "13800138000" not in listing

    confirmed = admin_client.post(response["Location"], {"confirm": "1"})

    order = Order.objects.get()
    assert confirmed.status_code == 302
    assert order.company == company
    assert order.created_by == purchaser
    assert order.card_count == 3
    upload.refresh_from_db()
    assert upload.order == order
    assert AuditEvent.objects.filter(action="order_upload.confirmed", actor=ops).exists()
