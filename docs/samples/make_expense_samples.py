"""Writes the expense report samples of docs/expense-reports.md: the same report as UTF-8 CSV
(Chinese headers), GBK CSV (really GB18030-encoded, as Excel on a Chinese Windows machine saves
"CSV"; Chinese headers) and XLSX (English headers).

    python docs/samples/make_expense_samples.py

The lines claim the spend of the demo data (portal/management/commands/seed_demo.py,
DEMO_SPEND): three employees' cards, six redemptions at the demo merchant in November 2026,
three of them with the merchant's order reference; tests/expenses/test_samples_match_demo.py
proves each line has its spend. What expense systems export: dates and amounts in several
forms, full-width digits, a currency sign, a blank row and a total row at the bottom (both
skipped with a note).
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent

ZH_HEADER = ["报销单号", "行号", "工号", "姓名", "费用日期", "金额", "商户", "商户订单号", "卡号",
             "尾号", "成本中心", "费用类别", "发票号码", "说明"]  # fmt: skip
EN_HEADER = ["Report number", "Line number", "Employee ID", "Employee name", "Expense date",
             "Amount", "Merchant", "Merchant order reference", "Card serial", "Card last 4",
             "Cost center", "Category", "Fapiao number", "Description"]  # fmt: skip
ROWS = [
    ["BX2026110001", "1", "E0001", "张三", "2026-11-03", "128.00", "示例超市",
     "DEMO-20261103-001", "", "", "人力资源部", "办公用品", "04403261", "打印纸和文件夹"],
    ["BX2026110001", "2", "E0001", "张三", "2026/11/5", "\uff15\uff16.\uff15\uff10", "示例超市",
     "", "", "", "人力资源部", "餐费", "", "加班餐"],
    ["BX2026110002", "1", "E0002", "李四", "2026-11-10", "\uffe5299.00", "示例超市",
     "DEMO-20261110-007", "", "", "销售部", "客户礼品", "", "客户拜访礼品"],
    ["BX2026110002", "2", "E0002", "李四", "2026年11月12日", "45", "示例超市", "", "", "",
     "销售部", "交通", "", "出租车"],
    ["BX2026110003", "1", "E0003", "王五", "2026-11-18", "860.00", "示例超市",
     "DEMO-20261118-012", "", "", "销售部", "办公设备", "26312000000012345678", "显示器"],
    ["BX2026110003", "2", "E0003", "王五", "20261120", "88.80", "示例超市", "", "", "", "销售部",
     "餐费", "", "团队午餐"],
]  # fmt: skip
LINE_COUNT = len(ROWS)
TOTAL = "1477.30"
ROWS += [
    [""] * 14,
    ["合计", "", "", "", "", "1,477.30", "", "", "", "", "", "", "", ""],
]
# A fixed time in the XLSX's zip entries, so that writing the samples again changes no byte.
ZIP_TIME = (2026, 1, 1, 0, 0, 0)


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
            '<sheets><sheet name="报销单" sheetId="1" r:id="rId1"/></sheets></workbook>',
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
    """File name -> content of each expense report sample."""
    return {
        "expense-report-utf8.csv": _csv_text(ZH_HEADER).encode("utf-8"),
        "expense-report-gbk.csv": _csv_text(ZH_HEADER).encode("gb18030"),
        "expense-report.xlsx": _xlsx(EN_HEADER),
    }


def main() -> None:
    for name, content in samples().items():
        (HERE / name).write_bytes(content)


if __name__ == "__main__":
    main()
