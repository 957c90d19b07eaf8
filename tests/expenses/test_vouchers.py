"""Voucher export: each layout written and opened back, balanced per voucher; what is booked
(accepted claims only); numbers stable across re-exports; identifiers as text; formulas inert."""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections import defaultdict
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from expenses.audit import ExpenseAction
from expenses.models import LineState, Resolution, VoucherNumber
from expenses.services.mapping import RuleInput
from expenses.services.vouchers import (
    GENERIC_HEADER,
    KINGDEE_HEADER,
    U8_HEADER,
    VoucherFile,
    vouchers_export,
)
from portal.models import ApiKey, AuditEvent, Role
from tests.api.helpers import Api as ApiClient
from tests.api.helpers import key_for
from tests.expenses.voucher_helpers import (
    Buyer,
    Shop,
    buyer,
    cards_for,
    claim,
    close,
    mapping,
    period_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

HEADERS = {"u8": U8_HEADER, "kingdee": KINGDEE_HEADER, "generic": GENERIC_HEADER}
# (voucher number, account, debit, credit) columns of each layout.
COLUMNS = {
    "u8": ("凭证号", "科目编码", "借方金额", "贷方金额"),
    "kingdee": ("凭证号", "科目代码", "借方", "贷方"),
    "generic": ("Document number", "Account", "Debit", "Credit"),
}
SUMMARY = {"u8": "摘要", "kingdee": "摘要", "generic": "Text"}


@pytest.fixture
def acme() -> Buyer:
    who = buyer()
    mapping(
        who.company,
        who.people[Role.FINANCE],
        rules=[
            RuleInput("Travel", "", "6602.01", "差旅费"),
            RuleInput("", "CC-SALES", "6601", "销售费用"),
        ],
    )
    return who


def export(who: Buyer, layout: str = "u8", fmt: str = "csv") -> VoucherFile:
    return vouchers_export(
        period=period_of(who.company), layout=layout, fmt=fmt, actor=who.people[Role.FINANCE]
    )


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    return [
        {name: value.strip() for name, value in row.items()}
        for row in csv.DictReader(io.StringIO(text, newline=""))
    ]


def read_xlsx(data: bytes) -> tuple[list[str], list[list[Any]]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows()]
    header = [str(cell.value) for cell in rows[0]]
    return header, rows[1:]


def balances(rows: list[dict[str, str]], layout: str) -> dict[str, tuple[Decimal, Decimal]]:
    number, _account, debit, credit = COLUMNS[layout]
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows:
        totals[row[number]][0] += Decimal(row[debit])
        totals[row[number]][1] += Decimal(row[credit])
    return {key: (d, c) for key, (d, c) in totals.items()}


def some_claims(who: Buyer) -> None:
    claim(who.company, amount="120.50", cost_center="CC-SALES", category="Meals")
    claim(who.company, amount="80.00", cost_center="CC-SALES", category="Travel")
    claim(who.company, amount="45.10", cost_center="CC-OPS", category="Travel")
    claim(who.company, amount="9.90", cost_center="", category="Office")


@pytest.mark.parametrize("layout", ["u8", "kingdee", "generic"])
def test_given_accepted_claims_when_exported_as_csv_then_each_voucher_balances(
    acme: Buyer, layout: str
) -> None:
    some_claims(acme)

    exported = export(acme, layout, "csv")

    rows = read_csv(exported.data)
    assert list(rows[0]) == HEADERS[layout]
    totals = balances(rows, layout)
    assert len(totals) == 3  # one voucher per cost center
    for debit, credit in totals.values():
        assert debit == credit > 0
    assert sum(d for d, _c in totals.values()) == Decimal("255.50")
    assert exported.vouchers == 3
    assert exported.lines == 4 + 3
    assert exported.total == Decimal("255.50")
    _number, account_column, debit_column, _credit = COLUMNS[layout]
    # The most specific rule wins per line; the credit goes to the prepaid card account.
    booked = {
        (row[account_column], row[debit_column]) for row in rows if Decimal(row[debit_column])
    }
    assert booked == {
        ("6601", "120.50"),
        ("6602.01", "80.00"),  # category beats cost center
        ("6602.01", "45.10"),
        ("6602", "9.90"),
    }
    credited = {row[account_column] for row in rows if not Decimal(row[debit_column])}
    assert credited == {"1123"}


@pytest.mark.parametrize("layout", ["u8", "kingdee", "generic"])
def test_given_accepted_claims_when_exported_as_xlsx_then_read_back_it_balances_with_typed_cells(
    acme: Buyer, layout: str
) -> None:
    some_claims(acme)

    exported = export(acme, layout, "xlsx")

    header, rows = read_xlsx(exported.data)
    assert header == HEADERS[layout]
    number, account, debit, credit = (header.index(name) for name in COLUMNS[layout])
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows:
        assert row[number].data_type == "s"
        assert row[account].data_type == "s"
        assert row[debit].data_type == "n"
        assert row[debit].number_format == "#,##0.00"
        totals[row[number].value][0] += Decimal(str(row[debit].value))
        totals[row[number].value][1] += Decimal(str(row[credit].value))
        assert not any(str(cell.value or "").startswith("=") for cell in row)
    assert len(totals) == 3
    for debit_total, credit_total in totals.values():
        assert debit_total == credit_total


def test_rejected_and_open_exception_lines_are_never_booked(acme: Buyer) -> None:
    company = acme.company
    claim(company, amount="10.00", cost_center="A")
    claim(
        company,
        amount="20.00",
        cost_center="A",
        state=LineState.AMOUNT_DIFFERS,
        resolution=Resolution.ACCEPTED,
    )
    claim(
        company,
        amount="400.00",
        cost_center="A",
        state=LineState.MATCHED,
        resolution=Resolution.REJECTED,
    )
    claim(company, amount="800.00", cost_center="A", state=LineState.NO_SPEND)
    claim(
        company,
        amount="1600.00",
        cost_center="B",
        state=LineState.DUPLICATE,
        resolution=Resolution.REJECTED,
    )
    claim(company, amount="3200.00", cost_center="B", state=LineState.PENDING)

    exported = export(acme, "generic")

    rows = read_csv(exported.data)
    assert exported.total == Decimal("30.00")
    assert sorted(row["Debit"] for row in rows if Decimal(row["Debit"])) == ["10.00", "20.00"]
    assert balances(rows, "generic") == {"2026110001": (Decimal("30.00"), Decimal("30.00"))}


def test_voucher_numbers_are_kept_across_exports_and_new_vouchers_take_the_next(
    acme: Buyer,
) -> None:
    company = acme.company
    claim(company, amount="1.00", cost_center="B")
    claim(company, amount="2.00", cost_center="C")
    first = read_csv(export(acme, "u8").data)
    numbers = {row["部门"]: row["凭证号"] for row in first if row["部门"]}
    assert numbers == {"B": "1", "C": "2"}

    claim(company, amount="3.00", cost_center="A")  # sorts first, but comes later
    second = read_csv(export(acme, "kingdee").data)

    items = {row["核算项目"]: row["凭证号"] for row in second if row["核算项目"]}
    assert items == {"部门---B": "1", "部门---C": "2", "部门---A": "3"}
    assert VoucherNumber.objects.filter(period=period_of(company)).count() == 3


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_closed_period_exported_twice_gives_the_same_bytes(acme: Buyer, fmt: str) -> None:
    some_claims(acme)
    close(period_of(acme.company))

    first = export(acme, "kingdee", fmt)
    second = export(acme, "kingdee", fmt)

    assert first.data == second.data
    assert first.filename == second.filename == f"vouchers-2026-11-kingdee.{fmt}"
    assert not first.provisional


def test_an_open_period_export_is_marked_provisional(acme: Buyer) -> None:
    some_claims(acme)

    exported = export(acme, "generic", "xlsx")

    assert exported.provisional
    assert exported.filename == "vouchers-2026-11-generic-provisional.xlsx"


def test_a_leading_zero_account_code_and_digit_identifiers_stay_text(acme: Buyer) -> None:
    mapping(acme.company, acme.people[Role.OWNER], prepaid="0101", default="006602")
    claim(acme.company, amount="5.00", cost_center="0042", employee_id="00123")
    mapping(acme.company, acme.people[Role.OWNER], prepaid="0101", default="006602", subledger=True)

    data = export(acme, "u8", "csv").data
    rows = read_csv(data)
    header, cells = read_xlsx(export(acme, "u8", "xlsx").data)

    assert {row["科目编码"] for row in rows} == {"006602", "0101"}
    assert '"0101\t"' in data.decode("utf-8-sig")  # the mark that keeps spreadsheets off it
    assert rows[0]["部门"] == "0042"
    assert rows[0]["个人"] == "00123"
    accounts = [row[header.index("科目编码")] for row in cells]
    assert [(c.value, c.data_type) for c in accounts] == [("006602", "s"), ("0101", "s")]
    assert cells[0][header.index("个人")].value == "00123"


def test_a_description_that_looks_like_a_formula_is_written_inert(acme: Buyer) -> None:
    claim(acme.company, amount="5.00", description="=cmd|' /C calc'!A0")

    rows = read_csv(export(acme, "generic", "csv").data)
    header, cells = read_xlsx(export(acme, "generic", "xlsx").data)

    assert rows[0]["Text"] == "'=cmd|' /C calc'!A0"
    text = cells[0][header.index("Text")]
    assert text.value == "'=cmd|' /C calc'!A0"
    assert text.data_type == "s"


def test_claims_matched_to_real_spend_are_booked_with_the_employee_sub_ledger(
    acme: Buyer,
) -> None:
    mapping(acme.company, acme.people[Role.FINANCE], subledger=True)
    card = cards_for(acme, face="500", employee_id="E7", cost_center="CC1")[0]
    spend = Shop().spend(card, "88.80")
    claim(acme.company, amount="88.80", cost_center="CC1", employee_id="E7", transaction=spend)

    rows = read_csv(export(acme, "u8").data)

    assert [(r["科目编码"], r["借方金额"], r["贷方金额"], r["个人"]) for r in rows] == [
        ("6602", "88.80", "0.00", "E7"),
        ("1123", "0.00", "88.80", ""),
    ]


def test_without_a_mapping_the_export_is_refused_and_nothing_is_numbered() -> None:
    who = buyer()
    claim(who.company, amount="5.00", cost_center="A")

    with pytest.raises(ValidationError) as refused:
        export(who)

    assert refused.value.code == "mapping_missing"
    assert not VoucherNumber.objects.exists()


def test_an_unknown_layout_is_refused(acme: Buyer) -> None:
    with pytest.raises(ValidationError) as refused:
        export(acme, "sage")
    assert "layout" in refused.value.message_dict


def test_each_export_is_audited_with_its_checksum(acme: Buyer) -> None:
    some_claims(acme)

    exported = export(acme, "u8", "xlsx")

    event = AuditEvent.objects.get(action=ExpenseAction.VOUCHERS_EXPORTED)
    assert event.company == acme.company
    assert event.actor == acme.people[Role.FINANCE]
    assert event.changes["sha256"] == exported.sha256
    assert event.changes["layout"] == "u8"
    assert event.changes["total"] == "255.50"
    assert event.changes["provisional"] is True


@pytest.mark.django_db(transaction=True)
def test_two_exports_at_once_give_each_voucher_one_number() -> None:
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL")
    who = buyer()
    mapping(who.company, who.people[Role.FINANCE])
    for cost_center in "ABCDEFGH":
        claim(who.company, amount="1.00", cost_center=cost_center)
    results: list[bytes] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(export(who, "u8").data)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    numbers = dict(VoucherNumber.objects.values_list("key", "number"))
    assert sorted(numbers.values()) == list(range(1, 9))
    assert results[0] == results[1]


# --- The page and the API -------------------------------------------------------------------------

PAGE = "/expenses/periods/2026-11/vouchers/"
API = "/api/v1/expense-periods/2026-11/vouchers"


def test_the_page_previews_the_vouchers_and_says_an_open_period_is_provisional(
    acme: Buyer,
) -> None:
    some_claims(acme)

    body = acme.client(Role.FINANCE).get(PAGE).content.decode()

    assert 'data-testid="vouchers-provisional"' in body
    assert "CC-SALES" in body
    assert "200.50" in body


def test_the_page_downloads_the_chosen_layout_and_format(acme: Buyer) -> None:
    some_claims(acme)
    close(period_of(acme.company))

    response = acme.client(Role.FINANCE).post(PAGE, {"layout": "kingdee", "format": "csv"})

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Disposition"] == 'attachment; filename="vouchers-2026-11-kingdee.csv"'
    assert list(read_csv(response.content)[0]) == KINGDEE_HEADER
    assert response.content == export(acme, "kingdee", "csv").data


def test_the_page_explains_a_missing_mapping() -> None:
    who = buyer()
    claim(who.company, amount="1.00")

    response = who.client(Role.FINANCE).post(PAGE, {"layout": "u8", "format": "xlsx"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Set the voucher account mapping first" in response.content.decode()


def test_another_company_gets_404_for_the_page_and_the_api(acme: Buyer) -> None:
    some_claims(acme)
    other = buyer()
    api = ApiClient(
        key_for(other.company, other.people[Role.FINANCE], [ApiKey.Scope.EXPENSES_READ])
    )

    assert other.client(Role.FINANCE).get(PAGE).status_code == HTTPStatus.NOT_FOUND
    assert other.client(Role.FINANCE).post(PAGE, {"layout": "u8", "format": "csv"}).status_code == (
        HTTPStatus.NOT_FOUND
    )
    assert api.get(API).status_code == HTTPStatus.NOT_FOUND
    assert not VoucherNumber.objects.exists()


def test_the_api_gives_the_file_with_its_checksum_and_provisional_mark(acme: Buyer) -> None:
    some_claims(acme)
    api = ApiClient(key_for(acme.company, acme.people[Role.VIEWER], [ApiKey.Scope.EXPENSES_READ]))

    response = api.get(API, layout="generic", format="xlsx")

    assert response.status_code == HTTPStatus.OK
    assert response["X-Voucher-Provisional"] == "true"
    assert "generic-provisional.xlsx" in response["Content-Disposition"]
    assert response["X-Content-SHA256"] == hashlib.sha256(response.content).hexdigest()
    header, _rows = read_xlsx(response.content)
    assert header == GENERIC_HEADER
    event = AuditEvent.objects.get(action=ExpenseAction.VOUCHERS_EXPORTED)
    assert event.actor == acme.people[Role.VIEWER]


def test_the_api_refuses_an_unknown_layout_a_missing_scope_and_a_missing_mapping(
    acme: Buyer,
) -> None:
    some_claims(acme)
    reader = ApiClient(
        key_for(acme.company, acme.people[Role.FINANCE], [ApiKey.Scope.EXPENSES_READ])
    )
    no_scope = ApiClient(
        key_for(acme.company, acme.people[Role.FINANCE], [ApiKey.Scope.ORDERS_READ])
    )
    unmapped = buyer()
    period_of(unmapped.company)
    unmapped_api = ApiClient(
        key_for(unmapped.company, unmapped.people[Role.OWNER], [ApiKey.Scope.EXPENSES_READ])
    )

    wrong = reader.get(API, layout="sage")
    missing = unmapped_api.get(API)

    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    assert "layout" in wrong.json()["errors"]
    assert no_scope.get(API).status_code == HTTPStatus.FORBIDDEN
    assert missing.status_code == HTTPStatus.BAD_REQUEST
    assert missing.json()["code"] == "mapping_missing"


@pytest.mark.parametrize("month", ["2026-13", "0000-01", "2026-10"])
def test_a_month_that_is_not_a_period_of_the_company_is_a_404(acme: Buyer, month: str) -> None:
    some_claims(acme)  # 2026-11 only
    api = ApiClient(key_for(acme.company, acme.people[Role.FINANCE], [ApiKey.Scope.EXPENSES_READ]))

    assert api.get(f"/api/v1/expense-periods/{month}/vouchers").status_code == 404
    assert acme.client(Role.FINANCE).get(f"/expenses/periods/{month}/vouchers/").status_code == 404
