"""Reading uploaded tables: CSV in the encodings and delimiters Excel writes, XLSX, and every file
that is not a table refused with a message saying what is wrong."""

# Full-width digits, letters and punctuation are this file's subject.
# ruff: noqa: RUF001

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.tabular import (
    TableError,
    cell_text,
    match_headers,
    normalise_cell,
    read_table,
)

pytestmark = pytest.mark.usefixtures("english_and_fast_hashing")

MB = 1024 * 1024


def read(data: bytes, *, max_rows: int = 1000, max_bytes: int = 20 * MB, name: str = "f.csv"):
    return read_table(data, file_name=name, max_bytes=max_bytes, max_rows=max_rows)


def error(data: bytes, **kwargs: Any) -> TableError:
    def read_all() -> None:
        list(read(data, **kwargs).rows())

    with pytest.raises(TableError) as caught:
        read_all()
    return caught.value


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- CSV --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030")],
)
def test_the_encodings_excel_writes_are_recognised(encoding, expected):
    table = read(csv_bytes([["姓名", "面值"], ["张三", "100"]], encoding))

    assert table.format == "csv"
    assert table.encoding == expected
    assert table.header == ["姓名", "面值"]
    assert list(table.rows()) == [(2, ["张三", "100"])]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_comes_from_the_header_line(delimiter):
    table = read(csv_bytes([["a", "b", "c"], ["1,5", "x;y", "z"]], delimiter=delimiter))

    assert table.delimiter == delimiter
    assert list(table.rows()) == [(2, ["1,5", "x;y", "z"])]


def test_quoted_fields_with_line_breaks_count_as_one_row_like_excel():
    table = read(b'a,b\r\n"two\r\nlines","say ""hi"""\r\nx,y\r\n')

    assert list(table.rows()) == [(2, ["two\r\nlines", 'say "hi"']), (3, ["x", "y"])]


def test_blank_rows_are_kept_in_place_and_trailing_ones_dropped():
    table = read(b"a,b\n1,2\n\n,,\n3,4\n\n,\n")

    assert list(table.rows()) == [(2, ["1", "2"]), (3, []), (4, []), (5, ["3", "4"])]


def test_an_empty_file_is_refused():
    assert error(b"").messages == ["The file is empty."]
    assert error(b"\xef\xbb\xbf\r\n\r\n").messages == ["The file is empty."]


def test_a_header_without_rows_is_refused():
    assert error(b"a,b\r\n\r\n").code == "no_rows"


def test_a_file_over_the_size_is_refused_before_reading():
    class Unread(io.BytesIO):
        def read(self, *args: Any) -> bytes:
            raise AssertionError("read")

    with pytest.raises(TableError) as caught:
        read_table(Unread(b"x" * (3 * MB)), file_name="f.csv", max_bytes=2 * MB, max_rows=10)

    assert caught.value.messages == ["The file is 3 MB; files of at most 2 MB are accepted."]


class CountingFile(io.BytesIO):
    """A file that counts the lines the reader took from it."""

    taken = 0

    def __next__(self) -> bytes:
        line = super().__next__()
        self.taken += 1
        return line


def test_200001_rows_are_refused_at_the_first_row_over_without_reading_on():
    rows = b"".join(b"%d,100\n" % i for i in range(200_010))
    data = CountingFile(b"product,face value\n" + rows)

    # Refused as the file is opened (its lines are more than the limit, so it is read through
    # once before any row is handed out), not after every row before the limit was checked.
    with pytest.raises(TableError) as caught:
        read_table(data, file_name="f.csv", max_bytes=20 * MB, max_rows=200_000)

    assert caught.value.messages == [
        "The file has more than 200,000 rows (row 200,002 is over the limit); split it into "
        "files of at most 200,000 rows."
    ]
    assert caught.value.row == 200_002
    # The header and 200,001 data rows were read; the 9 rows after them never were.
    assert data.taken == 200_002


def test_a_gbk_row_in_a_utf8_file_is_named():
    data = csv_bytes([["姓名"], ["张三"], ["王五"]]) + csv_bytes([["李四"]], "gbk")

    caught = error(data)

    assert caught.code == "mixed_encoding"
    assert caught.row == 4


def test_a_utf8_row_in_a_gbk_file_is_named():
    data = csv_bytes([["姓名"], ["张三"]], "gbk") + csv_bytes([["李四"]])

    assert error(data).row == 3


def test_text_in_no_accepted_encoding_is_refused():
    caught = error(b"name\n\x81\x20\xff\n")
    assert caught.code == "encoding"
    assert caught.messages[0].startswith("Row 2 is not text in UTF-8 or GB18030")


def test_utf16_text_gets_its_own_advice():
    caught = error("a\tb\n1\t2\n".encode("utf-16"))
    assert "UTF-16" in caught.messages[0]


@pytest.mark.parametrize(
    ("data", "kind"),
    [(b"\x89PNG\r\n\x1a\n" + bytes(50), "PNG"), (b"\xff\xd8\xff\xe0" + bytes(50), "JPEG"),
     (b"%PDF-1.7\n", "PDF")],
)  # fmt: skip
def test_images_and_documents_are_not_tables(data, kind):
    assert error(data, name="orders.csv").messages == [
        f"“orders.csv” is not a CSV or XLSX file (its content is {kind}); upload the order "
        "file as CSV or Excel (.xlsx)."
    ]


def test_an_old_xls_gets_its_own_advice():
    assert "old Excel file (.xls)" in error(b"\xd0\xcf\x11\xe0" + bytes(100)).messages[0]


def test_binary_data_is_not_a_table():
    assert error(bytes(range(256))).code == "not_a_table"


# --- XLSX -------------------------------------------------------------------------------------


def test_xlsx_cells_read_as_a_person_sees_them():
    rows: list[list[Any]] = [
        ["产品", "面值", "日期", None, None],
        ["卡", 100.0, datetime.datetime(2026, 1, 31), 13800138000, None],
        [None, None, None],
        ["卡", 1000.5, datetime.date(2026, 2, 1), True],
        [None],
    ]
    table = read(xlsx_bytes(rows), name="a.xlsx")

    assert (table.format, table.encoding, table.header) == ("xlsx", "", ["产品", "面值", "日期"])
    assert list(table.rows()) == [
        (2, ["卡", "100", "2026-01-31", "13800138000"]),
        (3, []),
        (4, ["卡", "1000.5", "2026-02-01", "TRUE"]),
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [(100.0, "100"), (1000.5, "1000.5"), (0.1 + 0.2, "0.3"), (1e-7, "0.0000001"), (7, "7"),
     (None, ""), (datetime.time(9, 30), "09:30:00")],
)  # fmt: skip
def test_cell_text_has_no_float_artefacts(value, text):
    assert cell_text(value) == text


def test_xlsx_row_limit():
    rows = [["a"]] + [[i] for i in range(12)]
    assert error(xlsx_bytes(rows), max_rows=10, name="a.xlsx").row == 12


def test_a_damaged_workbook_is_refused():
    data = xlsx_bytes([["a"], [1]])
    assert error(data[: len(data) // 2], name="a.xlsx").code == "not_a_table"


def test_a_zip_that_is_no_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    assert "not an Excel workbook" in error(buffer.getvalue()).messages[0]


def test_a_zip_bomb_is_refused_from_its_member_sizes(settings):
    settings.UPLOAD_XLSX_MAX_UNCOMPRESSED = 10 * MB
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<row/>" * (3 * MB))
    assert error(buffer.getvalue()).code == "zip_bomb"


# --- Cells and headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("\uff11\uff10\uff10", "100"), ("  a   b\t c ", "a b c"), ("\u3000张三\u3000", "张三"),
     ("\uff21\uff22\uff23", "ABC"), ("1\uff0c000", "1,000"), ("plain", "plain")],
)  # fmt: skip
def test_normalise_cell(raw, clean):
    assert normalise_cell(raw) == clean


COLUMNS = {
    "product": ("产品", "Product", "商品"),
    "face_value": ("面值", "Face value"),
    "note": ("备注", "Note"),
}


def test_headers_match_in_either_language_any_case_width_and_spacing():
    match = match_headers(
        ["商品", "\uff26\uff41\uff43\uff45 \uff36\uff41\uff4c\uff55\uff45", "颜色"],
        COLUMNS,
        {"product", "face_value"},
    )

    assert match.columns == {"product": 0, "face_value": 1}
    assert match.unknown == ["颜色"]
    assert match.get(["卡", "100"], "face_value") == "100"
    assert match.get(["卡", "100"], "note") == ""


def test_a_missing_required_column_is_named():
    with pytest.raises(TableError) as caught:
        match_headers(["备注"], COLUMNS, {"product", "face_value"})
    assert caught.value.messages == [
        "The header has no column for “产品 / Product”, “面值 / Face value”; add it (the "
        "template has every column)."
    ]


def test_a_column_given_twice_is_refused():
    with pytest.raises(TableError) as caught:
        match_headers(["产品", "Product", "面值"], COLUMNS, {"product"})
    assert caught.value.code == "duplicate_column"


# --- Generated files -----------------------------------------------------------------------

# Text of the kind order files hold: CJK names, Latin, digits, punctuation, quotes, delimiters.
_CELL = st.text(
    alphabet=st.sampled_from(
        list("张王李赵刘陈杨黄周吴郑孙马朱胡林郭何高罗礼品卡面值数量备注")
        + list("abcXYZ0123456789 ,;\t\"'=+-@.()（）：，")
    ),
    max_size=12,
).map(lambda s: " ".join(s.split()))


_HEADER_CELL = (
    st.text(
        alphabet=st.sampled_from(list("产品面值数量姓名手机备注abcXYZ ()")), min_size=1, max_size=8
    )
    .map(normalise_cell)
    .filter(bool)
)


@settings(max_examples=150, deadline=None)
@given(
    header=st.lists(_HEADER_CELL, min_size=2, max_size=5),
    body=st.lists(st.lists(_CELL, min_size=1, max_size=5), min_size=1, max_size=20),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
    delimiter=st.sampled_from([",", ";", "\t"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_generated_csv_files_round_trip(header, body, encoding, delimiter, quoting):
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, quoting=quoting, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(body)
    data = text.getvalue().encode(encoding)
    expected = [
        (number, cells)
        for number, row in enumerate(body, start=2)
        for cells in [row[: max((i + 1 for i, c in enumerate(row) if c), default=0)]]
    ]
    while expected and not expected[-1][1]:
        expected.pop()

    if not expected:
        assert error(data).code == "no_rows"
        return
    table = read(data)
    assert table.delimiter == delimiter
    if encoding == "utf-8-sig" or not data.isascii():
        assert table.encoding == encoding
    else:
        assert table.encoding == "utf-8"  # plain ASCII is the same in all three
    assert table.header == header
    assert list(table.rows()) == expected


def test_a_small_workbook_claiming_a_huge_sheet_is_refused_quickly():
    """One cell in the sheet's last row and last column: a few KB that, read by its declared
    dimension, would be 16,384 cells in each of a million rows."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["产品", "面值"])
    sheet.append(["礼品卡", "100"])
    sheet.cell(row=1_048_576, column=16_384, value="x")
    buffer = io.BytesIO()
    book.save(buffer)
    assert len(buffer.getvalue()) < 10_000

    refused = error(buffer.getvalue(), name="f.xlsx", max_rows=1000)

    assert "1,000" in refused.messages[0]


def test_a_file_of_blank_lines_counts_them_beyond_an_allowance():
    data = ("产品,面值\n礼品卡,100\n" + "\n" * 30_000 + "礼品卡,100\n").encode()

    refused = error(data, max_rows=1000)

    assert "1,000" in refused.messages[0]
