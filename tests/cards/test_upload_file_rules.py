"""Order files, what a buyer's file must never lose or refuse wrongly: a quote that swallows rows,
values over a field's limit, whitespace-only rows, full-width digits and at signs, a file without a
header, a column given twice through an alias, the error file's round trip, limits enforced as
soon as they are crossed, and a progress answer that agrees with itself."""

# Full-width digits, letters and punctuation are this file's subject.
# ruff: noqa: RUF001

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cards.models import OrderLine, OrderUpload, UploadStatus
from cards.services.uploads import (
    upload_confirm,
    upload_error_file,
    upload_errors,
    upload_messages,
    upload_progress,
    upload_receive,
)
from portal.models import Role
from portal.tabular import TableError, read_table
from tests import factories
from tests.cards.test_upload_check import EN, ZH, csv_bytes, errors_of, refused, xlsx_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

CORPUS = Path(__file__).parent / "corpus"


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


def receive(company, actor, data: bytes, name: str = "orders.csv", **kwargs: Any) -> OrderUpload:
    return upload_receive(
        company=company, actor=actor, file=SimpleUploadedFile(name, data), **kwargs
    )


# --- 1. No row lost, no value cut -------------------------------------------------------------


def test_an_unterminated_quote_that_swallows_the_rows_after_it_is_refused_naming_its_row(
    company, buyer, card
):
    data = (CORPUS / "unterminated-quote-row-9.csv").read_bytes()

    message = refused(company, buyer, data)

    assert message == (
        'Row 9 opens a quote (") that is not closed on its line, so the rows after it were read '
        "into one of its cells. Close the quote or remove it, and upload the file again."
    )


def test_a_quoted_cell_with_a_line_break_and_no_rows_in_it_is_still_one_cell(company, buyer, card):
    data = b'Product,Face value,Note\r\nGift card,100,"first line\r\nsecond line"\r\n'

    upload = receive(company, buyer, data)

    assert upload.status == UploadStatus.VALID, upload.result


@pytest.mark.parametrize(
    ("column", "index", "limit"),
    [("Name", 3, 100), ("Employee ID", 6, 64), ("Cost center", 7, 64), ("Note", 8, 200),
     ("Email", 5, 254)],
)  # fmt: skip
def test_a_value_over_its_fields_limit_is_a_row_error_naming_the_field_and_the_limit(
    company, buyer, card, column, index, limit
):
    value = "x" * (limit + 1)
    if column == "Email":
        value = "a" * (limit - 11) + "@example.com"
    row = ["Gift card", "100", "1", "", "", "", "", "", ""]
    row[index] = value
    fits = list(row)
    fits[index] = value[1:] if column != "Email" else value[2:]

    upload = receive(company, buyer, csv_bytes([EN, fits, row]))

    assert errors_of(upload) == [
        (3, column, value, f"{limit + 1} characters; at most {limit} fit. Shorten it.")
    ]


def test_a_name_over_the_limit_is_an_error_in_the_chinese_reason_too(company, buyer, card):
    upload = receive(company, buyer, csv_bytes([ZH, ["京东礼品卡", "100", "1", "张" * 101]]))

    (error,) = upload.result["errors"]
    assert error["row"] == 2
    assert error["column"] == {"en": "姓名", "zh-hans": "姓名"}
    assert set(error["reason"]) == {"en", "zh-hans"}
    assert error["reason"]["en"] == "101 characters; at most 100 fit. Shorten it."


# --- 2. Whitespace-only rows are blank ---------------------------------------------------------


def test_rows_of_spaces_and_ideographic_spaces_are_blank_rows(company, buyer, card):
    rows = [
        ZH,
        ["京东礼品卡", "100", "1"],
        ["  ", "\u3000", "", "\t"],
        ["\u3000\u3000"],
        ["京东礼品卡", "200", "1"],
        [" ", " "],
    ]

    upload = receive(company, buyer, csv_bytes(rows))

    assert upload.status == UploadStatus.VALID, upload_errors(upload.result)
    assert upload.result["line_count"] == 2
    assert [n["message"] for n in upload_messages(upload.result, "notes")] == [
        "Row 3 is blank; skipped.",
        "Row 4 is blank; skipped.",
    ]


def test_an_xlsx_row_of_ideographic_spaces_is_blank(company, buyer, card):
    rows = [ZH, ["京东礼品卡", "100", "1"], ["\u3000", "\u3000 "], ["京东礼品卡", "100", "1"]]

    upload = receive(company, buyer, xlsx_bytes(rows), "orders.xlsx")

    assert upload.status == UploadStatus.VALID, upload_errors(upload.result)
    assert upload.result["line_count"] == 2


# --- 3. NFKC on every cell ----------------------------------------------------------------------


def test_full_width_mobiles_and_emails_are_read_half_width(company, buyer, card):
    rows = [
        ZH,
        [
            "京东礼品卡",
            "100",
            "1",
            "张三",
            "１３８００１３８０００",
            "ｚｓ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        ],
        ["京东礼品卡", "100", "1", "李四", "＋８６ １３９－００１３－９０００", "LS＠Example.com"],
    ]

    upload = receive(company, buyer, csv_bytes(rows))

    assert upload.status == UploadStatus.VALID, upload_errors(upload.result)
    order = upload_confirm(upload=upload, actor=buyer)
    lines = OrderLine.objects.filter(order=order).order_by("position")
    assert [(line.recipient_mobile, line.recipient_email) for line in lines] == [
        ("13800138000", "zs@example.com"),
        ("13900139000", "ls@example.com"),
    ]


# --- 4, 5. Headers --------------------------------------------------------------------------------


def test_a_file_without_a_header_row_says_so_and_shows_a_header(company, buyer, card):
    message = refused(company, buyer, csv_bytes([["京东礼品卡", "100", "1", "张三"]] * 2))

    assert message == (
        "The first row is not a header (it reads “京东礼品卡, 100, 1, 张三”). Put a row naming "
        "the columns first, for example: Product, Face value, Quantity, Name, Mobile, Email, "
        "Employee ID, Cost center, Note (the template has every column)."
    )


def test_a_column_given_twice_through_an_alias_names_both_headers(company, buyer, card):
    message = refused(
        company, buyer, csv_bytes([["产品", "面值", "部门", "成本中心"], ["京东礼品卡", "100"]])
    )

    assert message == (
        "The header names a column twice: “部门” and “成本中心” both mean “Cost center”. Keep "
        "one of them."
    )


# --- 6. Limits as soon as they are crossed (counted, not timed) -----------------------------------


class _CountingFile(io.BytesIO):
    """Counts the lines a reader takes from it."""

    taken = 0

    def __next__(self) -> bytes:
        line = super().__next__()
        self.taken += 1
        return line


def test_a_csv_over_the_row_limit_is_refused_in_the_request_before_any_row_is_checked(
    company, buyer, card, settings, monkeypatch
):
    settings.UPLOAD_MAX_ROWS = 50
    settings.UPLOAD_INLINE_MAX_BYTES = 0  # a large file: the worker would check it
    checked: list[int] = []

    def check(self: Any, raw: Any) -> tuple[None, list[Any]]:
        checked.append(1)
        return None, []

    monkeypatch.setattr("cards.services.orders.rules.LineRules.check", check)
    data = csv_bytes([ZH] + [["京东礼品卡", "100", "1"]] * 60)

    message = refused(company, buyer, data)

    assert message.startswith("The file has more than 50 rows (row 52 is over the limit)")
    assert checked == []


def test_the_csv_row_limit_stops_reading_at_the_first_row_over():
    data = _CountingFile(b"product,face value\n" + b"card,100\n" * 200)

    with pytest.raises(TableError) as caught:
        read_table(data, file_name="f.csv", max_bytes=1 << 20, max_rows=50)

    assert caught.value.row == 52
    assert data.taken == 52


def test_blank_csv_lines_stop_at_the_blank_allowance_without_reading_on():
    from portal.tabular import BLANK_ROWS_ALLOWED

    data = _CountingFile(b"product,face value\n" + b" ,\xe3\x80\x80\n" * 30_000 + b"card,100\n")

    with pytest.raises(TableError) as caught:
        read_table(data, file_name="f.csv", max_bytes=1 << 20, max_rows=10)

    over = 1 + 10 + BLANK_ROWS_ALLOWED + 1  # the header, the rows allowed, the first row over
    assert (caught.value.code, caught.value.row, data.taken) == ("too_many_rows", over, over)


def _sheet_xml(rows: int, *, value: str = "<v>1</v>") -> bytes:
    body = "".join(
        f'<row r="{n}"><c r="A{n}" t="n">{value}</c><c r="B{n}"><v>100</v></c></row>'
        for n in range(2, rows + 2)
    )
    return (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>product</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>face value</t></is></c></row>'
        f"{body}</sheetData></worksheet>"
    ).encode()


def _workbook(sheet: bytes) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


def test_an_xlsx_over_the_row_limit_is_refused_in_the_request_without_opening_the_workbook(
    company, buyer, card, settings, monkeypatch
):
    settings.UPLOAD_MAX_ROWS = 50
    settings.UPLOAD_INLINE_MAX_BYTES = 0

    def no_workbook(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the workbook was opened")

    monkeypatch.setattr("python_calamine.CalamineWorkbook.from_filelike", no_workbook)
    monkeypatch.setattr("openpyxl.load_workbook", no_workbook)

    message = refused(company, buyer, _workbook(_sheet_xml(51)), "orders.xlsx")

    assert message.startswith("The file has more than 50 rows (row 52 is over the limit)")


def test_a_large_xlsx_is_not_opened_in_the_request(company, buyer, card, settings, monkeypatch):
    settings.UPLOAD_INLINE_MAX_BYTES = 0

    def no_workbook(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the workbook was opened")

    monkeypatch.setattr("python_calamine.CalamineWorkbook.from_filelike", no_workbook)
    monkeypatch.setattr("openpyxl.load_workbook", no_workbook)
    monkeypatch.setattr("cards.services.uploads.receive.outbox_enqueue", lambda *a, **k: None)

    upload = receive(company, buyer, xlsx_bytes([ZH, ["京东礼品卡", "100", "1"]]), "a.xlsx")

    assert upload.status == UploadStatus.CHECKING
    assert upload.file_format == "xlsx"


def test_blank_xlsx_rows_stop_at_the_limit_without_reading_on(settings):
    sheet = _sheet_xml(0)
    # A header, then one value far below: the gap is blank rows over the allowance.
    sheet = sheet.replace(
        b"</sheetData>",
        b'<row r="20000"><c r="A20000" t="inlineStr"><is><t> </t></is></c></row></sheetData>',
    )

    with pytest.raises(TableError) as caught:
        read_table(_workbook(sheet), file_name="f.xlsx", max_bytes=1 << 20, max_rows=10)

    assert caught.value.code == "too_many_rows"


# --- 7. The error file's round trip -------------------------------------------------------------

ROUND_TRIP = [
    ZH,
    ["京东礼品卡", "100", "1", "-3", "+86 138-0013-8000", "", "=E1", "@team", "+1 note"],
    ["京东礼品卡", "150", "1", "张三", "+86 139-0013-9000"],
    ["", "", "", "", ""],
    ["京东礼品卡", "1e3", "1", "-李四", "13700137000"],
]


def _fix(rows: list[list[str]]) -> list[list[str]]:
    """What a buyer does with the error file: fix the face values, drop the error column."""
    fixed = []
    for row in rows:
        cells = row[:-1]
        # (in the CSV, text of digits only ends with a tab so that spreadsheets keep it exact)
        if cells[1].strip() in ("150", "1e3"):
            cells[1] = "200"
        fixed.append(cells)
    return fixed


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_fixed_error_file_uploads_again_with_the_original_values(company, buyer, card, fmt):
    upload = receive(company, buyer, csv_bytes(ROUND_TRIP))
    assert upload.status == UploadStatus.INVALID

    data = upload_error_file(upload, fmt)
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        fixed = csv_bytes(_fix(rows), encoding="utf-8-sig")
    else:
        book = openpyxl.load_workbook(io.BytesIO(data))
        sheet = book.active
        rows = [[str(c) if c is not None else "" for c in row] for row in sheet.values]
        # User text is a string cell as it was, no apostrophe shown.
        assert rows[1][3:9] == ["-3", "+86 138-0013-8000", "", "=E1", "@team", "+1 note"]
        assert all(sheet.cell(row=2, column=n).data_type == "s" for n in (4, 5, 7, 8, 9))
        # Fixed in the workbook itself, as in Excel: text cells stay text.
        for number in (3, 5):
            sheet.cell(row=number, column=2).value = "200"
        sheet.delete_cols(10)
        buffer = io.BytesIO()
        book.save(buffer)
        fixed = buffer.getvalue()
    # The blank row stays blank: no note on it.
    assert all(cell == "" for cell in rows[3])

    again = receive(company, buyer, fixed, f"fixed.{fmt}")

    assert again.status == UploadStatus.VALID, upload_errors(again.result)
    order = upload_confirm(upload=again, actor=buyer)
    lines = list(OrderLine.objects.filter(order=order).order_by("position"))
    assert [(x.recipient_name, x.recipient_mobile, x.employee_id, x.cost_center, x.note)
            for x in lines] == [
        ("-3", "13800138000", "=E1", "@team", "+1 note"),
        ("张三", "13900139000", "", "", ""),
        ("-李四", "13700137000", "", "", ""),
    ]  # fmt: skip


def test_a_csv_cell_starting_with_an_apostrophe_before_other_text_keeps_it(company, buyer, card):
    rows = [ZH, ["京东礼品卡", "100", "1", "'Connor"], ["京东礼品卡", "100", "1", "'=x"]]

    upload = receive(company, buyer, csv_bytes(rows))
    order = upload_confirm(upload=upload, actor=buyer)

    names = list(
        OrderLine.objects.filter(order=order)
        .order_by("position")
        .values_list("recipient_name", flat=True)
    )
    assert names == ["'Connor", "=x"]


# --- 8. One consistent poll answer ------------------------------------------------------------


def test_the_progress_answer_agrees_with_the_status_and_result_it_is_sent_with(
    company, buyer, card
):
    from cards.serializers.uploads import OrderUploadSerializer

    upload = receive(company, buyer, csv_bytes([ZH, ["京东礼品卡", "100", "1"]]))
    OrderUpload.objects.filter(pk=upload.pk).update(status=UploadStatus.CHECKING)
    stale = OrderUpload.objects.get(pk=upload.pk)
    stale.result = None
    OrderUpload.objects.filter(pk=upload.pk).update(status=UploadStatus.VALID)

    data = OrderUploadSerializer(stale).data

    assert (data["status"], data["progress"]["finished"], data["result"]) == (
        "checking",
        False,
        None,
    )
    assert data["progress"]["status"] == "checking"


def test_progress_is_finished_only_with_a_final_status_and_a_result(company, buyer, card):
    upload = receive(company, buyer, csv_bytes([ZH, ["京东礼品卡", "100", "1"]]))
    upload.result = None

    assert upload_progress(upload, fresh=False)["finished"] is False
    assert upload_progress(upload)["finished"] is True
    assert upload.result["line_count"] == 1  # read again with the status
