"""Issue 13, point 11: orders with their lines export as CSV and XLSX from the order list, the
API and the admin: filtered as the list is, one company's orders only, recipients masked as on
the order page, no purchase registration, identifiers text, amounts numbers, formulas inert.
Every file is opened back (csv, openpyxl)."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pytest
from django.test import Client

from cards.models import Order, PurchaseRegistration
from cards.services.orders import LineInput, order_create
from cards.services.recipients import mask_email
from portal.models import ApiKey, Role, User
from portal.sms import mask_mobile
from tests import factories
from tests.api.helpers import Api, key_for
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AMOUNT_FORMATS = {"#,##0.00", "0.00"}
ID_NUMBER = factories.resident_id()
HOSTILE = '=HYPERLINK("http://evil.example","x")'


def _csv(raw: bytes) -> list[list[str]]:
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


class Shop:
    def __init__(self) -> None:
        self.company = factories.company()
        self.people = factories.team(self.company)
        buyer = self.people[Role.PURCHASER]
        card = factories.product()
        self.order = order_create(
            company=self.company,
            actor=buyer,
            lines=[
                LineInput(
                    product=str(card.public_id),
                    face_value="100",
                    quantity=2,
                    recipient_name=HOSTILE,
                    recipient_mobile="13800138000",
                    recipient_email="xiaoming@example.com",
                    employee_id="00123",
                    cost_center="-3",
                ),
                LineInput(product=str(card.public_id), face_value="500", quantity=1),
            ],
            client_reference="+86 138 0013 8000",
            registration=factories.registration(ID_NUMBER),
        )
        self.other = factories.draft(self.company, buyer, face_value="200", quantity=1)
        self.other.client_reference = "8600000000000015"
        self.other.save(update_fields=["client_reference"])
        stranger_company = factories.company("Stranger Co")
        stranger = factories.member(stranger_company, Role.OWNER)
        self.foreign = factories.draft(stranger_company, stranger, quantity=1)

    def client(self, role: str) -> Client:
        client = Client()
        sign_in(client, self.people[role], second_factor=True)
        return client


@pytest.fixture
def shop() -> Shop:
    return Shop()


def _check_csv(rows: list[list[str]], shop: Shop) -> dict[str, list[list[str]]]:
    assert rows[0][:3] == ["Order number", "Created", "Status"]
    by_order: dict[str, list[list[str]]] = {}
    for row in rows[1:]:
        by_order.setdefault(row[0], []).append(row)
    assert shop.foreign.number not in by_order
    text = "\n".join(",".join(row) for row in rows)
    assert ID_NUMBER not in text
    assert "xiaoming@example.com" not in text
    assert "13800138000" not in text
    return by_order


def test_the_portal_csv_has_the_lines_masked_inert_and_typed(shop: Shop) -> None:
    response = shop.client(Role.VIEWER).get("/orders/export.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    by_order = _check_csv(_csv(_body(response)), shop)
    assert set(by_order) == {shop.order.number, shop.other.number}
    first, second = by_order[shop.order.number]
    assert first[4] == "'+86 138 0013 8000"  # your reference: inert
    assert first[7] == "700.00"  # face value: 2 x 100 + 500
    assert first[8] == f"{shop.order.total:.2f}"
    assert first[9:16] == ["1", first[10], "100.00", "2", first[13], "200.00", "'" + HOSTILE]
    assert first[16:18] == [mask_email("xiaoming@example.com"), mask_mobile("13800138000")]
    assert first[18:] == ["00123\t", "'-3"]  # digits kept text, a minus sign inert
    assert second[9] == "2"
    assert second[11] == "500.00"
    (other,) = by_order[shop.other.number]
    assert other[4] == "8600000000000015\t"


def test_the_portal_xlsx_has_text_identifiers_and_numeric_amounts(shop: Shop) -> None:
    response = shop.client(Role.OWNER).get("/orders/export.xlsx")

    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(_body(response))).active
    rows = list(sheet.iter_rows(min_row=2))
    numbers = {row[0].value for row in rows}
    assert numbers == {shop.order.number, shop.other.number}
    other = next(row for row in rows if row[0].value == shop.other.number)
    assert other[4].data_type == "s"
    assert other[4].value == "8600000000000015"
    line = next(row for row in rows if row[0].value == shop.order.number and row[9].value == 1)
    for amount in (line[7], line[8], line[11], line[14]):
        assert amount.data_type == "n"
        assert amount.number_format in AMOUNT_FORMATS
    assert line[14].value == 200
    assert line[15].value == "'" + HOSTILE
    assert line[18].data_type == "s"
    assert line[18].value == "00123"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_the_export_follows_the_lists_filters_and_the_list_links_to_it(shop: Shop) -> None:
    client = shop.client(Role.PURCHASER)

    page = client.get("/orders/", {"q": shop.other.number, "page": "1"}).content.decode()
    assert f'href="/orders/export.csv?q={shop.other.number}"' in page
    assert f'href="/orders/export.xlsx?q={shop.other.number}"' in page

    rows = _csv(_body(client.get("/orders/export.csv", {"q": shop.other.number})))
    assert [row[0] for row in rows[1:]] == [shop.other.number]


def test_the_api_exports_with_the_lists_filters_for_an_orders_read_key(shop: Shop) -> None:
    api = Api(key_for(shop.company, shop.people[Role.VIEWER], [ApiKey.Scope.ORDERS_READ]))

    csv_response = api.get("/api/v1/orders/export", format="csv")
    assert csv_response.status_code == 200, _body(csv_response)
    assert csv_response["Content-Type"].startswith("text/csv")
    by_order = _check_csv(_csv(_body(csv_response)), shop)
    assert set(by_order) == {shop.order.number, shop.other.number}

    xlsx = api.get("/api/v1/orders/export", format="xlsx", search=shop.other.number)
    assert xlsx.status_code == 200
    assert xlsx["Content-Type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(_body(xlsx))).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [shop.other.number]

    wrong = api.get("/api/v1/orders/export", format="pdf")
    assert wrong.status_code == 400
    assert "format" in wrong.json()["errors"]


def test_the_api_export_needs_the_orders_read_scope(shop: Shop) -> None:
    api = Api(key_for(shop.company, shop.people[Role.OWNER], [ApiKey.Scope.INVOICES_READ]))

    assert api.get("/api/v1/orders/export").status_code == 403


def test_the_schema_declares_the_export_and_its_content_types(shop: Shop) -> None:
    api = Api(key_for(shop.company, shop.people[Role.OWNER]))
    schema = api.client.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/orders/export"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"text/csv", XLSX}
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"format", "status", "search", "created_after", "created_before"} <= names


# --- Admin ---------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client: Client) -> Client:
    ops = User.objects.create_user(
        "ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )
    sign_in(client, ops, second_factor=True)
    return client


def _admin_export(client: Client, base: str, resource: str, fields: list[str], fmt: str) -> bytes:
    response = client.post(
        base + "export/",
        {
            "format": "0" if fmt == "csv" else "1",
            "resource": "0",
            **{f"{resource}_{name}": "on" for name in fields},
        },
    )
    assert response.status_code == 200, response.content[:500]
    return _body(response)


ORDER_FIELDS = ["number", "company", "client_reference", "total", "created_at"]
LINE_FIELDS = ["order", "position", "face_value", "amount", "recipient_name", "employee_id"]


def test_the_admin_exports_orders_and_lines_without_secrets(
    shop: Shop, admin_client: Client
) -> None:
    assert PurchaseRegistration.objects.filter(id_number_masked__isnull=False).exists()

    orders = _csv(
        _admin_export(admin_client, "/ops/cards/order/", "orderresource", ORDER_FIELDS, "csv")
    )
    assert orders[0] == ORDER_FIELDS
    by_number = {row[0]: row for row in orders[1:]}
    assert set(by_number) == set(Order.objects.values_list("number", flat=True))
    assert by_number[shop.order.number][2] == "'+86 138 0013 8000"
    assert by_number[shop.other.number][2] == "8600000000000015\t"
    assert by_number[shop.order.number][3] == f"{shop.order.total:.2f}"

    lines_xlsx = _admin_export(
        admin_client, "/ops/cards/orderline/", "orderlineresource", LINE_FIELDS, "xlsx"
    )
    sheet = openpyxl.load_workbook(io.BytesIO(lines_xlsx)).active
    header = [cell.value for cell in sheet[1]]
    assert header == ["order", "line", "face_value", "amount", "recipient_name", "employee_id"]
    line = next(row for row in sheet.iter_rows(min_row=2) if row[5].value == "00123")
    assert line[0].value == shop.order.number
    assert line[4].value == "'" + HOSTILE
    assert line[5].data_type == "s"
    assert line[3].data_type == "n"
    assert line[3].number_format in AMOUNT_FORMATS
    everything = " ".join(str(c.value) for row in sheet.iter_rows() for c in row)
    for secret in (ID_NUMBER, "xiaoming@example.com", "13800138000"):
        assert secret not in everything
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
