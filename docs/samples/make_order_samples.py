"""Writes the order file samples of docs/uploads.md: the same orders as UTF-8 CSV, UTF-8 CSV with
a byte order mark (as Excel's "CSV UTF-8" saves it), GBK CSV (really GB18030-encoded, as Excel
on a Chinese Windows machine saves "CSV") and XLSX.

    python docs/samples/make_order_samples.py
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent

ZH_HEADER = ["产品", "面值", "数量", "姓名", "手机", "邮箱", "工号", "成本中心", "备注"]
EN_HEADER = [
    "Product",
    "Face value",
    "Quantity",
    "Name",
    "Mobile",
    "Email",
    "Employee ID",
    "Cost center",
    "Note",
]
# Products and face values of the demo catalog (portal/management/commands/seed_demo.py,
# DEMO_PRODUCTS), by Chinese or English name, so that the samples pass the check in the demo
# data; tests/cards/test_samples_match_demo.py proves it. What HR exports: stray spaces,
# full-width digits, thousands separators, currency signs, +86 mobiles, an empty quantity, a
# blank row and a total row at the bottom (both skipped with a note).
ROWS = [
    [
        "通用礼品卡",
        "100",
        "1",
        "张三",
        "138 0013 8000",
        "zhangsan@example.com",
        "E0001",
        "人力资源部",
        "春节福利",
    ],
    [
        "通用礼品卡",
        "\uff12\uff10\uff10",
        "1",
        " 李四 ",
        "+86 139-0013-9000",
        "lisi@example.com",
        "E0002",
        "销售部",
        "",
    ],
    [
        "Gift card",
        "1,000.00",
        "2",
        "王五",
        "13700137000",
        "wangwu@example.com",
        "E0003",
        "销售部",
        "",
    ],
    [
        "员工福利卡\uff08记名\uff09",
        "\uffe52,000",
        "1",
        "赵六",
        "13600136000",
        "",
        "E0004",
        "财务部",
        "记名卡",
    ],
    [
        "Holiday gift card",
        "300元",
        "",
        "钱七",
        "13500135000",
        "",
        "E0005",
        "财务部",
        "数量为空即 1 张",
    ],
]
CARD_COUNT = sum(int(row[2] or 1) for row in ROWS)
ROWS += [
    ["", "", "", "", "", "", "", "", ""],
    ["合计", "", str(CARD_COUNT), "", "", "", "", "", ""],
]
# A fixed time in the XLSX's zip entries, so that writing the samples again changes no byte.
ZIP_TIME = (2025, 1, 1, 0, 0, 0)


def _csv_text(header: list[str]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows([header, *ROWS])
    return text.getvalue()


def _xlsx(header: list[str]) -> bytes:
    """A minimal workbook (inline strings), written without third-party packages."""

    def cell(ref: str, value: str) -> str:
        if not value:
            return ""
        return (
            f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'
        )

    rows = []
    for number, values in enumerate([header, *ROWS], start=1):
        cells = "".join(cell(f"{chr(65 + i)}{number}", v) for i, v in enumerate(values))
        rows.append(f'<row r="{number}">{cells}</row>')
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:

        def add(name: str, text: str) -> None:
            book.writestr(zipfile.ZipInfo(name, ZIP_TIME), text, zipfile.ZIP_DEFLATED)

        add(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet+xml"/>'
            "</Types>",
        )
        add(
            "_rels/.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
        )
        add(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}">'
            '<sheets><sheet name="订单" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        add(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>",
        )
        add(
            "xl/worksheets/sheet1.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}"><sheetData>'
            + "".join(rows)
            + "</sheetData></worksheet>",
        )
    return buffer.getvalue()


def samples() -> dict[str, bytes]:
    """File name -> content of each order sample."""
    return {
        "orders-utf8.csv": _csv_text(ZH_HEADER).encode("utf-8"),
        "orders-utf8-bom.csv": _csv_text(EN_HEADER).encode("utf-8-sig"),
        "orders-gbk.csv": _csv_text(ZH_HEADER).encode("gb18030"),
        "orders.xlsx": _xlsx(EN_HEADER),
    }


def main() -> None:
    for name, content in samples().items():
        (HERE / name).write_bytes(content)


if __name__ == "__main__":
    main()
