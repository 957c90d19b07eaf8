"""API shapes of expense reports (/api/v1/expense-reports): what is sent, a report's status,
progress and result, and its claim lines."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from cards.services.uploads.messages import upload_errors, upload_messages
from expenses.intake_selectors import state_counts
from expenses.models import Evidence, ExpenseLine, ExpenseReport, LineState, ReportStatus
from expenses.services.intake import EXPENSE_COLUMNS, expense_report_progress
from expenses.services.intake.base import LINE_FIELDS
from portal.api.schema import text_enum


class ExpenseReportFileSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text=_(
            "The expense report: CSV (UTF-8, UTF-8 with BOM or GBK; comma, semicolon or tab) or "
            "XLSX, with a header row in Chinese or English."
        )
    )


def _line_fields() -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    fields: dict[str, serializers.Field[Any, Any, Any, Any]] = {}
    for name in EXPENSE_COLUMNS:
        if name == "amount":
            fields[name] = serializers.CharField(
                help_text=_("The amount claimed, in CNY, such as 128.00 (a string or a number).")
            )
        else:
            fields[name] = serializers.CharField(required=False, allow_blank=True)
    return fields


ExpenseClaimInputSerializer = inline_serializer(
    name="ExpenseClaimInput",
    fields=_line_fields(),
    help_text=_(
        "One claim line; the fields of the file's columns (docs/expense-reports.md). "
        "report_number, line_number, employee_id, expense_date and amount are required."
    ),
)


class ExpenseReportLinesSerializer(serializers.Serializer[Any]):
    lines = serializers.ListField(
        child=serializers.DictField(),
        allow_empty=False,
        help_text=_("The claim lines, as objects with the fields of ExpenseClaimInput."),
    )


class ExpenseReportProgressSerializer(serializers.Serializer[Any]):
    status = text_enum(ReportStatus.values)
    status_label = serializers.CharField(help_text=_("The status, in the request's language."))
    stage = text_enum(
        ["checking", "matching", ""], help_text=_("What the worker is doing; empty once done.")
    )
    rows_done = serializers.IntegerField()
    rows_total = serializers.IntegerField()
    percent = serializers.IntegerField(min_value=0, max_value=100)
    finished = serializers.BooleanField()
    error_count = serializers.IntegerField()
    failure = serializers.CharField(
        help_text=_("Why the report could not be read; empty unless the status is failed.")
    )


class ExpenseReportErrorSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField(
        help_text=_("The row of the file (the header is row 1), or the line of the JSON lines.")
    )
    field = serializers.CharField(help_text=_("The claim line's field (its JSON name)."))
    column = serializers.CharField(help_text=_("The column, as the report names it."))
    value = serializers.CharField()
    reason = serializers.CharField()


class ExpenseReportNoteSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField()
    message = serializers.CharField()


# A serializer class cannot declare a field named "label" (it would shadow Field.label): the class
# is made the inline way, once, so that both its uses are one schema component.
_StateCount = type(
    inline_serializer(
        name="ExpenseStateCount",
        fields={
            "state": text_enum([s for s in LineState.values if s != LineState.PENDING]),
            "label": serializers.CharField(help_text=_("The state, in the request's language.")),
            "count": serializers.IntegerField(),
        },
    )
)


def _state_counts(**kwargs: Any) -> Any:
    """The counts per line state (a fresh field each time it is used)."""
    return _StateCount(many=True, **kwargs)


ExpenseReportResultSerializer = inline_serializer(
    name="ExpenseReportResult",
    allow_null=True,
    fields={
        "line_count": serializers.IntegerField(),
        "total": serializers.DecimalField(
            max_digits=14, decimal_places=2, help_text=_("The amount claimed, in CNY.")
        ),
        "months": serializers.ListField(
            child=serializers.CharField(), help_text=_("The periods of the lines (2026-11).")
        ),
        "unknown_columns": serializers.ListField(
            child=serializers.CharField(), help_text=_("Columns (or fields) not used.")
        ),
        "notes": ExpenseReportNoteSerializer(many=True),
        "note_count": serializers.IntegerField(),
        "errors": ExpenseReportErrorSerializer(
            many=True,
            help_text=_("Each error's row, column, value and reason; at most the first 1,000."),
        ),
        "error_count": serializers.IntegerField(help_text=_("All errors, also those not listed.")),
        "states": _state_counts(help_text=_("Once matched: the lines in each state.")),
    },
)
_RESULT_FIELDS = tuple(ExpenseReportResultSerializer.fields)


class ExpenseReportSerializer(serializers.ModelSerializer[ExpenseReport]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    status = text_enum(ReportStatus.values, read_only=True)
    progress = serializers.SerializerMethodField()
    states = serializers.SerializerMethodField()
    poll_url = serializers.SerializerMethodField()
    lines_url = serializers.SerializerMethodField()

    class Meta:
        model = ExpenseReport
        fields = [
            "id",
            "source",
            "file_name",
            "file_size",
            "file_format",
            "encoding",
            "file_sha256",
            "status",
            "failure",
            "rows_total",
            "error_count",
            "progress",
            "states",
            "created_at",
            "checked_at",
            "matched_at",
            "poll_url",
            "lines_url",
        ]
        read_only_fields = fields

    @extend_schema_field(ExpenseReportProgressSerializer)
    def get_progress(self, report: ExpenseReport) -> dict[str, Any]:
        return expense_report_progress(report, fresh=False)

    @extend_schema_field(_state_counts())
    def get_states(self, report: ExpenseReport) -> list[dict[str, Any]]:
        counts = getattr(report, "state_counts", None)
        if counts is None and "result" in report.__dict__:
            counts = (report.result or {}).get("states")
        return state_counts(counts)

    def get_poll_url(self, report: ExpenseReport) -> str:
        return reverse("api-expense-report-detail", kwargs={"public_id": report.public_id})

    def get_lines_url(self, report: ExpenseReport) -> str:
        return reverse("api-expense-report-lines", kwargs={"public_id": report.public_id})


class ExpenseReportDetailSerializer(ExpenseReportSerializer):
    result = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta(ExpenseReportSerializer.Meta):
        fields = [*ExpenseReportSerializer.Meta.fields, "result", "errors_url"]
        read_only_fields = fields

    @extend_schema_field(ExpenseReportResultSerializer)
    def get_result(self, report: ExpenseReport) -> dict[str, Any] | None:
        stored = report.result or {}
        if not (report.status != ReportStatus.CHECKING and "line_count" in stored):
            return None
        result = {
            **stored,
            "errors": [
                {
                    "row": error.get("row"),
                    "field": error.get("field", ""),
                    "column": error["column"],
                    "value": error.get("value", ""),
                    "reason": error["reason"],
                }
                for error in upload_errors(stored)
            ],
            "notes": upload_messages(stored, "notes"),
            "error_count": report.error_count,
            "states": state_counts(stored.get("states")),
        }
        return {name: result[name] for name in _RESULT_FIELDS if name in result}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_errors_url(self, report: ExpenseReport) -> str | None:
        if not report.error_count:
            return None
        return reverse("api-expense-report-errors", kwargs={"public_id": report.public_id})


class ExpenseLineSerializer(serializers.ModelSerializer[ExpenseLine]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    row = serializers.IntegerField(source="row_number", read_only=True)
    period = serializers.SerializerMethodField()
    state = text_enum(LineState.values, read_only=True)
    evidence = text_enum(Evidence.values, read_only=True)
    card_serial_matched = serializers.SerializerMethodField()
    duplicate_of = serializers.SerializerMethodField()

    class Meta:
        model = ExpenseLine
        fields = [
            "id",
            "row",
            "period",
            *LINE_FIELDS,
            "state",
            "evidence",
            "card_serial_matched",
            "matched_amount",
            "difference",
            "duplicate_of",
            "resolution",
            "resolution_note",
        ]
        read_only_fields = fields

    def get_period(self, line: ExpenseLine) -> str:
        return line.period.month.strftime("%Y-%m")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_card_serial_matched(self, line: ExpenseLine) -> str | None:
        """The serial of the company card the line was matched to."""
        return line.card.serial_display if line.card_id is not None and line.card else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_duplicate_of(self, line: ExpenseLine) -> str | None:
        """The earlier claim line this one repeats."""
        return (
            str(line.duplicate_of.public_id) if line.duplicate_of_id and line.duplicate_of else None
        )
