"""The files of a period's reconciliation report: an XLSX (the summary, then every claim line
with its state, evidence, matches and resolution) and a PDF (the summary and the exceptions
with finance's answers), both in the company's language (the caller activates it)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from billing.money import format_cny
from billing.pdf import render_pdf
from expenses.models import (
    EXCEPTION_STATES,
    ExpenseLine,
    LineState,
    ReconciliationPeriod,
    Resolution,
)
from portal import days
from portal.exports import XlsxWriter

# The PDF lists the exceptions up to this many; the XLSX has every line.
PDF_MAX_LINES = 2000


class _ReportXlsx(XlsxWriter):
    """The portal's streaming writer with a second titled sheet (as statements do)."""

    def start_sheet(self, title: str, header: list[str]) -> None:
        self._close_sheet()
        self._title = title
        self._header = header
        self._columns = []
        self._open_sheet()
        self._sheet_names[-1] = title[:31]


def _state_labels() -> dict[str, str]:
    return {value: str(label) for value, label in LineState.choices}


def _resolution_labels() -> dict[str, str]:
    return {(value or "open"): str(label) for value, label in Resolution.choices}


def summary_rows(period: ReconciliationPeriod, figures: dict[str, Any]) -> list[list[Any]]:
    states = _state_labels()
    resolutions = _resolution_labels()
    rows: list[list[Any]] = [
        [_("Reconciliation report"), figures["month"], _("Version"), figures["version"]],
        [_("Company"), period.company.legal_name],
        [_("Unified social credit code"), period.company.credit_code],
        [_("Closed by"), figures.get("closed_by", "")],
        [],
        [_("Claim lines"), figures["lines"]["count"], Decimal(figures["lines"]["amount"])],
        [
            _("Matched spend"),
            figures["matched_spend"]["matches"],
            Decimal(figures["matched_spend"]["amount"]),
        ],
        [
            _("Unclaimed spend of the month"),
            figures["unclaimed_spend"]["count"],
            Decimal(figures["unclaimed_spend"]["amount"]),
        ],
        [],
        [_("Result"), _("Lines"), _("Amount")],
        *(
            [states[state], value["count"], Decimal(value["amount"])]
            for state, value in figures["states"].items()
        ),
        [],
        [_("Resolution"), _("Lines"), _("Amount")],
        *(
            [resolutions[key], value["count"], Decimal(value["amount"])]
            for key, value in figures["resolutions"].items()
        ),
    ]
    return rows


def _line_header() -> list[str]:
    return [
        _("Report number"),
        _("Line number"),
        _("Row"),
        _("Employee ID"),
        _("Employee name"),
        _("Expense date"),
        _("Amount"),
        _("Cost center"),
        _("Category"),
        _("Fapiao number"),
        _("Merchant order reference"),
        _("Card serial"),
        _("Result"),
        _("Evidence"),
        _("Matched amount"),
        _("Difference"),
        _("Transactions"),
        _("Resolution"),
        _("Note"),
        _("Resolved by"),
        _("Resolved at"),
    ]


def _period_lines(period: ReconciliationPeriod) -> Any:
    return (
        ExpenseLine.objects.filter(period=period)
        .select_related("card", "resolved_by")
        .prefetch_related("matches__transaction")
        .order_by("report_number", "row_number", "pk")
    )


def _transactions_text(line: ExpenseLine) -> str:
    return "; ".join(
        f"{days.local(m.transaction.created_at):%Y-%m-%d} "
        f"{m.transaction.merchant_reference or m.transaction.public_id} {m.amount}"
        for m in line.matches.all()
    )


def _line_row(line: ExpenseLine) -> list[Any]:
    resolved_at = days.local(line.resolved_at).replace(tzinfo=None) if line.resolved_at else ""
    return [
        line.report_number,
        line.line_number,
        line.row_number,
        line.employee_id,
        line.employee_name,
        line.expense_date,
        line.amount,
        line.cost_center,
        line.category,
        line.fapiao_number,
        line.merchant_reference,
        line.card.serial_display if line.card else (line.card_serial or line.card_last4),
        line.get_state_display(),
        line.get_evidence_display() if line.evidence else "",
        line.matched_amount,
        line.difference,
        _transactions_text(line),
        line.get_resolution_display() if line.resolution else "",
        line.resolution_note,
        line.resolved_by.email if line.resolved_by else "",
        resolved_at,
    ]


def write_xlsx(period: ReconciliationPeriod, figures: dict[str, Any], path: Path) -> None:
    with open(path, "wb") as binary:
        writer = _ReportXlsx(binary, _("Summary"), None, widths=(30, 16, 16, 10))
        writer.writerows(summary_rows(period, figures))
        writer.start_sheet(_("Claim lines"), _line_header())
        for line in _period_lines(period).iterator(chunk_size=2000):
            writer.writerow(_line_row(line))
        writer.close()


def write_pdf(period: ReconciliationPeriod, figures: dict[str, Any], path: Path) -> None:
    states = _state_labels()
    resolutions = _resolution_labels()
    exceptions = list(_period_lines(period).filter(state__in=EXCEPTION_STATES)[: PDF_MAX_LINES + 1])
    pdf = render_pdf(
        "expenses/period_report_pdf.html",
        {
            "period": period,
            "company": period.company,
            "figures": figures,
            "version": figures["version"],
            "issued_on": timezone.localdate(),
            "lines_amount": format_cny(Decimal(figures["lines"]["amount"])),
            "matched_spend": format_cny(Decimal(figures["matched_spend"]["amount"])),
            "unclaimed_amount": format_cny(Decimal(figures["unclaimed_spend"]["amount"])),
            "states": [
                (states[state], value["count"], format_cny(Decimal(value["amount"])))
                for state, value in figures["states"].items()
            ],
            "resolutions": [
                (resolutions[key], value["count"], format_cny(Decimal(value["amount"])))
                for key, value in figures["resolutions"].items()
            ],
            "exceptions": [
                {
                    "line": f"{line.report_number}/{line.line_number}",
                    "employee": line.employee_name or line.employee_id,
                    "date": f"{line.expense_date:%Y-%m-%d}",
                    "amount": format_cny(line.amount),
                    "state": line.get_state_display(),
                    "difference": format_cny(line.difference) if line.difference else "",
                    "resolution": line.get_resolution_display() if line.resolution else "",
                    "note": line.resolution_note,
                }
                for line in exceptions[:PDF_MAX_LINES]
            ],
            "exceptions_cut": len(exceptions) > PDF_MAX_LINES,
        },
    )
    path.write_bytes(pdf)
