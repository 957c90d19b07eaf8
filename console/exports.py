"""A key figure's table as CSV (UTF-8 with BOM) or XLSX: the header, the rows and the total row
the console shows, amounts as numbers, text neutralised (``portal.exports``)."""

from __future__ import annotations

import io

from console.selectors import Figure
from portal import days
from portal.exports import CsvWriter, XlsxWriter

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def figure_export(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "xlsx":
        xlsx = XlsxWriter(buffer, figure.title, figure.header, widths=[24] * len(figure.columns))
        xlsx.writerows(figure.table())
        xlsx.close()
    elif fmt == "csv":
        writer = CsvWriter(buffer)
        writer.writerow(figure.header)
        writer.writerows(figure.table())
        writer.close()
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return buffer.getvalue()


def figure_file_name(figure: Figure, fmt: str) -> str:
    return f"console-{figure.key}-{days.today():%Y-%m-%d}.{fmt}"
