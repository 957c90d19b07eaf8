"""Order files, the check (dry run): what a buyer's spreadsheet says, row by row, and every bad
file refused with its own message and nothing written."""

# Full-width digits, letters and punctuation are this file's subject.
# ruff: noqa: RUF001

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import InMemoryUploadedFile, SimpleUploadedFile
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from cards.models import CardProduct, Order, OrderLine, OrderUpload, UploadStatus
from cards.services.uploads import (
    ORDER_COLUMNS,
    TEMPLATE_HEADERS,
    upload_check,
    upload_error_file,
    upload_errors,
    upload_messages,
    upload_progress,
    upload_receive,
    upload_template,
)
from portal.models import Role
from portal.tabular import TableError
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

ZH = ["产品", "面值", "数量", "姓名", "手机", "邮箱", "工号", "成本中心", "备注"]
EN = ["Product", "Face value", "Quantity", "Name", "Mobile", "Email", "Employee ID", "Cost center",
      "Note"]  # fmt: skip


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def company():
    return factories.company()


@pytest.fixture
def buyer(company):
    return factories.member(company, Role.PURCHASER)


@pytest.fixture
def card():
    return factories.product(name="京东礼品卡", face_values=["100", "200", "500", "1000"])


def csv_bytes(rows: list[list[Any]], *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def receive(company, actor, data: bytes, name: str = "orders.csv", **kwargs: Any) -> OrderUpload:
    return upload_receive(
        company=company, actor=actor, file=SimpleUploadedFile(name, data), **kwargs
    )


def nothing_written() -> None:
    assert not Order.objects.exists()
    assert not OrderLine.objects.exists()


def refused(company, buyer, data: bytes, name: str = "orders.csv") -> str:
    with pytest.raises(ValidationError) as caught:
        receive(company, buyer, data, name)
    nothing_written()
    assert not OrderUpload.objects.exists()
    return " ".join(caught.value.messages)


def errors_of(upload: OrderUpload) -> list[tuple[int, str, str, str]]:
    return [(e["row"], e["column"], e["value"], e["reason"]) for e in upload_errors(upload.result)]


# --- A good file, as Excel on a Chinese Windows machine writes it -----------------------------


def test_a_gbk_file_with_full_width_digits_spaces_a_blank_and_a_total_row_is_valid(
    company, buyer, card
):
    rows = [
        ZH,
        [" 京东礼品卡 ", "１００", "２", " 张三 ", "+86 138-0013-8000", "ZS@Example.com ", "E1",
         "人力", ""],
        ["京东礼品卡", "1,000.00", "", "李四", "139 0013 9000", "", "E2", "", "生日"],
        ["", "", "", "", "", "", "", "", ""],
        ["合计", "1200", "3", "", "", "", "", "", ""],
    ]  # fmt: skip
    upload = receive(company, buyer, csv_bytes(rows, encoding="gbk"))

    assert upload.status == UploadStatus.VALID
    assert upload.encoding == "gb18030"
    assert upload.file_format == "csv"
    assert upload.error_count == 0
    result = upload.result
    assert result["line_count"] == 2
    assert result["card_count"] == 3
    assert result["face_total"] == "1200.00"
    assert [(t["face_value"], t["lines"], t["cards"]) for t in result["totals"]] == [
        ("100.00", 1, 2),
        ("1000.00", 1, 1),
    ]
    assert [n["message"] for n in upload_messages(result, "notes")] == [
        "Row 4 is blank; skipped.",
        "Row 5 is a total row (“合计”); skipped.",
    ]
    nothing_written()


def test_an_english_xlsx_with_columns_in_another_order_and_an_unknown_column(company, buyer, card):
    rows = [
        ["Mobile", "FACE VALUE", "product", "Shoe size"],
        [13800138000, 500.0, "Gift card", 42],
    ]
    upload = receive(company, buyer, xlsx_bytes(rows), "orders.xlsx")

    assert upload.status == UploadStatus.VALID, upload.result
    assert upload.file_format == "xlsx"
    assert upload.result["totals"][0]["face_value"] == "500.00"
    assert upload_messages(upload.result, "notes")[0]["message"] == "Columns not used: “Shoe size”."


def test_duplicate_recipients_are_warnings_naming_both_rows(company, buyer, card):
    rows = [ZH, ["京东礼品卡", "100", "1", "张三", "13800138000"],
            ["京东礼品卡", "200", "1", "张三", "138 0013 8000"]]  # fmt: skip
    upload = receive(company, buyer, csv_bytes(rows))

    assert upload.status == UploadStatus.VALID
    assert upload_messages(upload.result, "warnings") == [
        {"rows": [2, 3], "message": "Rows 2 and 3 have the same 手机 “13800138000”."}
    ]


def test_a_file_uploaded_again_names_the_order_it_became(company, buyer, card):
    from cards.services.uploads import upload_confirm

    data = csv_bytes([ZH, ["京东礼品卡", "100", "1"]])
    first = receive(company, buyer, data)
    order = upload_confirm(upload=first, actor=buyer)

    again = receive(company, buyer, data)

    assert again.result["duplicate_of"] == [order.number]


def test_the_progress_of_a_checked_file_is_complete(company, buyer, card):
    upload = receive(company, buyer, csv_bytes([ZH, ["京东礼品卡", "100", "1"]]))

    assert upload_progress(upload) == {
        "status": "valid",
        "status_label": "Ready to confirm",
        "rows_done": 1,
        "rows_total": 1,
        "percent": 100,
        "finished": True,
        "error_count": 0,
        "failure": "",
    }


@pytest.mark.parametrize(("language", "fmt"), [("zh-hans", "csv"), ("en", "xlsx")])
def test_the_template_has_the_headers_in_the_language_and_checks_valid(
    company, buyer, card, language, fmt
):
    data = upload_template(language=language, fmt=fmt, company=company)

    upload = receive(company, buyer, data, f"template.{fmt}")

    assert upload.result["header"] == TEMPLATE_HEADERS[language]
    assert upload.status == UploadStatus.VALID, upload.result["errors"]
    assert upload.result["line_count"] == 2


# --- Bad files: refused before anything is stored ---------------------------------------------


def test_an_empty_file_is_refused(company, buyer):
    assert refused(company, buyer, b"") == "The file is empty."


def test_a_file_of_only_headers_is_refused(company, buyer):
    message = refused(company, buyer, csv_bytes([ZH]))
    assert message == (
        "The file has a header but no rows; add one row per card line under the header."
    )


def test_a_renamed_png_is_refused(company, buyer):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)
    message = refused(company, buyer, png, "orders.csv")
    assert message == (
        "“orders.csv” is not a CSV or XLSX file (its content is PNG); upload the order file as "
        "CSV or Excel (.xlsx)."
    )


def test_a_binary_file_is_refused(company, buyer):
    message = refused(company, buyer, bytes(range(256)) * 10, "orders.xlsx")
    assert "is not a CSV or XLSX file (it holds binary data)" in message


def test_an_xlsx_zip_bomb_is_refused_before_it_is_opened(company, buyer, settings):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        # 300 MB of the same row compresses to a few hundred KB.
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            block = b"<row><c><v>1</v></c></row>" * 40_000
            for _ in range(300 * 1024 * 1024 // len(block)):
                member.write(block)
    data = buffer.getvalue()
    assert len(data) < 2 * 1024 * 1024

    message = refused(company, buyer, data, "orders.xlsx")

    assert message.startswith("The workbook unpacks to 299.5 MB, far more than its data can need")


def test_a_highly_compressed_member_is_a_zip_bomb_even_under_the_size_limit(
    company, buyer, settings
):
    settings.UPLOAD_XLSX_MAX_UNCOMPRESSED = 500 * 1024 * 1024
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (50 * 1024 * 1024))

    message = refused(company, buyer, buffer.getvalue(), "orders.xlsx")

    assert "(a “zip bomb”); it was not opened" in message


class _Unreadable(io.BytesIO):
    def read(self, *args: Any) -> bytes:
        raise AssertionError("a file over the size limit was read")

    def __iter__(self) -> Any:
        raise AssertionError("a file over the size limit was read")


def test_a_50_mb_file_is_refused_from_its_size_without_being_read(company, buyer):
    size = 50 * 1024 * 1024
    upload = InMemoryUploadedFile(_Unreadable(), "file", "orders.csv", "text/csv", size, None)

    with pytest.raises(TableError) as caught:
        upload_receive(company=company, actor=buyer, file=upload)

    assert caught.value.messages == ["The file is 50 MB; files of at most 20 MB are accepted."]
    assert not OrderUpload.objects.exists()
    nothing_written()


def test_a_real_50_mb_file_is_refused_too(company, buyer):
    data = b"a,b\n" + b"1," * (25 * 1024 * 1024)
    message = refused(company, buyer, data)
    assert message == "The file is 50 MB; files of at most 20 MB are accepted."


def test_a_file_with_more_rows_than_the_limit_is_refused_at_the_first_row_over(
    company, buyer, card, settings
):
    settings.UPLOAD_MAX_ROWS = 5
    rows = [ZH] + [["京东礼品卡", "100", "1"]] * 6

    message = refused(company, buyer, csv_bytes(rows))

    assert message == (
        "The file has more than 5 rows (row 7 is over the limit); split it into files of at "
        "most 5 rows."
    )


def test_mixed_encodings_name_the_row_in_the_other_encoding(company, buyer, card):
    data = csv_bytes([ZH, ["京东礼品卡", "100", "1", "张三"]]) + csv_bytes(
        [["京东礼品卡", "100", "1", "李四"]], encoding="gbk"
    )
    message = refused(company, buyer, data)
    assert message == (
        "Row 3 is in another text encoding than the rows before it (the file is UTF-8); save "
        "the whole file once as “CSV UTF-8” and upload it again."
    )


def test_a_header_missing_a_required_column_names_it(company, buyer):
    message = refused(company, buyer, csv_bytes([["产品", "数量"], ["京东礼品卡", "1"]]))
    assert message == (
        "The header has no column for “面值 / Face value”; add it (the template has every column)."
    )


def test_an_approver_cannot_upload(company, card):
    approver = factories.member(company, Role.APPROVER)
    with pytest.raises(PermissionDenied):
        receive(company, approver, csv_bytes([ZH, ["京东礼品卡", "100", "1"]]))
    assert not OrderUpload.objects.exists()


# --- Bad rows: the check lists them, and nothing becomes an order -----------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1e3", "face value: 1e3 is not an amount; write digits such as 100 or 99.50."),
        ("NaN", "face value: NaN is not an amount; write digits such as 100 or 99.50."),
        ("-5", "must be above zero."),
        ("0.001", "face value: 0.001 has more than 2 decimal places."),
    ],
)
def test_a_bad_face_value_is_a_row_level_error(company, buyer, card, value, reason):
    rows = [ZH, ["京东礼品卡", "100", "1"], ["京东礼品卡", value, "1"]]

    upload = receive(company, buyer, csv_bytes(rows))

    assert upload.status == UploadStatus.INVALID
    assert upload.error_count == 1
    assert errors_of(upload) == [(3, "面值", value, reason)]
    nothing_written()


@pytest.mark.parametrize(("value", "expected"), [("１００", "100.00"), ("1,000.00", "1000.00")])
def test_full_width_digits_and_thousands_separators_are_accepted(
    company, buyer, card, value, expected
):
    upload = receive(company, buyer, csv_bytes([ZH, ["京东礼品卡", value, "1"]]))

    assert upload.status == UploadStatus.VALID
    assert upload.result["totals"][0]["face_value"] == expected


def test_a_face_value_the_product_does_not_come_in_uses_the_forms_message(company, buyer, card):
    upload = receive(company, buyer, csv_bytes([ZH, ["京东礼品卡", "150", "1"]]))

    assert errors_of(upload) == [(2, "面值", "150", "Gift card comes in 100 / 200 / 500 / 1,000.")]


def test_a_product_of_another_companys_catalog_is_refused(company, buyer, card):
    other = factories.company()
    exclusive = factories.product(name="专属卡")
    CardProduct.objects.filter(pk=exclusive.pk).update(company=other)

    upload = receive(company, buyer, csv_bytes([ZH, ["专属卡", "100", "1"]]))

    assert upload.status == UploadStatus.INVALID
    assert errors_of(upload) == [(2, "产品", "专属卡", "not in your company's catalog.")]
    nothing_written()


def test_an_unknown_product_and_bad_contacts_are_listed_by_row_and_column(company, buyer, card):
    rows = [
        EN,
        ["No such card", "100", "1", "Ann", "12345", "not-an-email"],
        ["Gift card", "100", "0"],
    ]
    upload = receive(company, buyer, csv_bytes(rows))

    assert errors_of(upload) == [
        (2, "Product", "No such card", "not a product on sale."),
        (2, "Mobile", "12345", "a mainland mobile number has 11 digits starting with 1."),
        (2, "Email", "not-an-email", "not an email address."),
        (3, "Quantity", "0", "give a whole number of cards from 1 to 1,000,000."),
    ]


def test_delivery_to_recipients_needs_a_contact_on_every_row(company, buyer, card):
    rows = [
        ZH,
        ["京东礼品卡", "100", "1", "张三", "13800138000"],
        ["京东礼品卡", "100", "1", "李四"],
    ]

    upload = receive(company, buyer, csv_bytes(rows), delivery_method="recipients")

    assert errors_of(upload) == [
        (3, "手机", "", "delivery to recipients needs an email or mobile on every line.")
    ]


FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "@SUM(A1)", "-1+1"]


def test_formula_injection_in_names_is_data_and_the_error_file_neutralises_it(company, buyer, card):
    rows = [ZH] + [["京东礼品卡", "100", "1", name] for name in FORMULAS]
    rows.append(["京东礼品卡", "1e3", "1", '=HYPERLINK("http://x")'])
    upload = receive(company, buyer, csv_bytes(rows))
    assert upload.status == UploadStatus.INVALID

    text = upload_error_file(upload, "csv").decode("utf-8-sig")
    back = list(csv.reader(io.StringIO(text)))

    assert back[0] == [*ZH, "error"]
    assert [row[3] for row in back[1:]] == [
        "'" + name for name in [*FORMULAS, '=HYPERLINK("http://x")']
    ]
    assert back[5][9].startswith("面值: face value: 1e3 is not an amount")
    assert back[1][9] == ""
    sheet = openpyxl.load_workbook(io.BytesIO(upload_error_file(upload, "xlsx"))).active
    # In XLSX the text is a string cell as sent (never a formula), with no apostrophe to show.
    names = [sheet.cell(row=r, column=4).value for r in range(2, 7)]
    assert names == [*FORMULAS, '=HYPERLINK("http://x")']
    assert all(sheet.cell(row=r, column=4).data_type == "s" for r in range(2, 7))


def test_a_file_that_fails_in_the_check_is_failed_with_the_reason(company, buyer, card):
    upload = receive(company, buyer, csv_bytes([ZH, ["京东礼品卡", "100", "1"]]))
    OrderUpload.objects.filter(pk=upload.pk).update(status=UploadStatus.CHECKING)
    upload.refresh_from_db()
    with upload.file.open("wb") as stored:
        stored.write(
            csv_bytes([ZH, ["京东礼品卡", "100", "1", "张三"]])
            + csv_bytes([["京东礼品卡", "100", "1", "李四"]], encoding="gbk")
        )

    checked = upload_check(upload=upload)

    assert checked.status == UploadStatus.FAILED
    assert checked.failure.startswith("Row 3 is in another text encoding")
    nothing_written()


# --- Generated files --------------------------------------------------------------------------

_NAMES = st.text(
    alphabet="张王李赵刘陈杨黄周吴郑孙马朱胡林郭何高罗abcXYZ'-=+@ ", min_size=0, max_size=8
)
_FACES = st.sampled_from(["100", "200", "500", "1000", "１００", "1,000.00", " 200 ", "500.00"])


@st.composite
def order_files(draw: st.DrawFn) -> tuple[bytes, str, Decimal, int]:
    language = draw(st.sampled_from(["zh", "en"]))
    header = list(ZH if language == "zh" else EN)
    order = draw(st.permutations(range(len(header))))
    rows = []
    face_total = Decimal(0)
    cards = 0
    for _ in range(draw(st.integers(1, 12))):
        face = draw(_FACES)
        quantity = draw(st.integers(1, 5))
        name = draw(_NAMES)
        values = [draw(st.sampled_from(["京东礼品卡", "Gift card", "ＧＩＦＴ ＣＡＲＤ"])), face,
                  str(quantity), name, "", "", "", "", ""]  # fmt: skip
        rows.append([values[i] for i in order])
        face_total += Decimal(face.strip().replace(",", "").replace("１００", "100")) * quantity
        cards += quantity
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    data = csv_bytes([[header[i] for i in order], *rows], encoding=encoding, delimiter=delimiter)
    return data, encoding, face_total, cards


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(generated=order_files())
def test_generated_valid_files_give_exactly_the_expected_totals(company, buyer, card, generated):
    data, _encoding, face_total, cards = generated

    upload = receive(company, buyer, data)

    assert upload.status == UploadStatus.VALID, upload.result.get("errors")
    assert Decimal(upload.result["face_total"]) == face_total
    assert upload.result["card_count"] == cards
    nothing_written()


_JUNK = st.one_of(
    st.sampled_from(["1e3", "NaN", "-5", "0.001", "abc", "100元元", "1.2.3", "∞", "0", "1,00"]),
    st.text(alphabet="xyz!#%&*", min_size=1, max_size=5),
)


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    good=st.integers(0, 5),
    junk=st.lists(_JUNK, min_size=1, max_size=4),
    where=st.integers(0, 5),
)
def test_generated_junk_never_creates_an_order_and_names_its_row(
    company, buyer, card, good, junk, where
):
    from cards.services.uploads import upload_confirm

    rows: list[list[str]] = [["京东礼品卡", "100", "1"] for _ in range(good)]
    position = min(where, len(rows))
    for offset, value in enumerate(junk):
        rows.insert(position + offset, ["京东礼品卡", value, "1"])
    upload = receive(company, buyer, csv_bytes([ZH, *rows]))

    assert upload.status == UploadStatus.INVALID
    bad_rows = {position + offset + 2 for offset in range(len(junk))}
    assert {error["row"] for error in upload.result["errors"]} == bad_rows
    assert all(error["column"] == "面值" for error in upload_errors(upload.result))
    with pytest.raises(ValidationError):
        upload_confirm(upload=upload, actor=buyer)
    nothing_written()


def test_order_columns_cover_the_issues_fields():
    assert set(ORDER_COLUMNS) == {
        "product", "face_value", "quantity", "recipient_name", "mobile", "email", "employee_id",
        "cost_center", "note",
    }  # fmt: skip
