"""Checking an order file (the dry run): every row, the totals, notes, warnings and errors stored
in ``upload.result``, progress for the page that polls it."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing.money import ZERO, format_cny
from cards.models import CardProduct, CardType, OrderUpload, UploadStatus
from cards.services.orders import registration_required
from portal.copy_rows import copy_text
from portal.tabular import TableError
from webhooks.events import EventType
from webhooks.services import emit

from .base import MAX_STORED_ERRORS, MAX_STORED_NOTES, PROGRESS_EVERY
from .messages import in_every_language
from .scanner import _open_stored, _Scanner, _scanner


def _count_lines(binary: IO[bytes]) -> int:
    count = 0
    while block := binary.read(1 << 20):
        count += block.count(b"\n")
    binary.seek(0)
    return count


def upload_check(*, upload: OrderUpload) -> OrderUpload:
    """Check an order file (the dry run): read it, normalise and check every row, and store
    the outcome in ``upload.result`` (totals per product and face value, price, notes,
    warnings, the first 1,000 errors and ``duplicate_of``) with status VALID or INVALID, or
    FAILED with the reason when the file cannot be read to the end. Progress goes to
    ``rows_done`` as it reads (committed at once when called outside a transaction, as the
    worker does). An upload no longer waiting for its check is left alone."""
    try:
        return _check(upload)
    except TableError as exc:
        return _finish(upload, status=UploadStatus.FAILED, failure=exc.messages[0][:500])


def _check(upload: OrderUpload) -> OrderUpload:
    progress = not connection.in_atomic_block
    with _open_stored(upload) as binary:
        rows_total = max(_count_lines(binary) - 1, 0) if upload.file_format == "csv" else 0
        scanner = _scanner(upload, binary)
        scanner.every_language_rows = MAX_STORED_ERRORS
        if scanner.table.rows_estimate:
            rows_total = scanner.table.rows_estimate - scanner.table.header_row
        if progress:
            OrderUpload.objects.filter(pk=upload.pk).update(rows_total=rows_total, rows_done=0)
        upload.rows_total = rows_total
        return _check_rows(upload, scanner, progress=progress)


def _check_rows(upload: OrderUpload, scanner: _Scanner, *, progress: bool) -> OrderUpload:
    errors: list[dict[str, Any]] = []
    error_count = 0
    notes: list[dict[str, Any]] = []
    note_count = 0
    warnings: list[dict[str, Any]] = []
    warning_count = 0
    seen: dict[str, dict[str, int]] = {"mobile": {}, "email": {}, "employee_id": {}}
    seen_mobile, seen_email, seen_employee = seen["mobile"], seen["email"], seen["employee_id"]
    # (product pk, face value) -> [lines, cards, amount]
    totals: dict[tuple[int, Decimal], list[Any]] = {}
    products: dict[int, CardProduct] = {}
    has_registered = False
    line_count = 0
    last_row = scanner.table.header_row
    next_progress = PROGRESS_EVERY
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="\n") as lines_file:
        write = lines_file.write
        for outcome in scanner.outcomes():
            number = last_row = outcome.row
            if progress and number >= next_progress:
                next_progress = number + PROGRESS_EVERY
                OrderUpload.objects.filter(pk=upload.pk).update(rows_done=number - 1)
            line = outcome.line
            if line is None:
                if outcome.errors:
                    error_count += len(outcome.errors)
                    if len(errors) < MAX_STORED_ERRORS:
                        errors.extend(outcome.errors[: MAX_STORED_ERRORS - len(errors)])
                elif outcome.note:
                    note_count += 1
                    if len(notes) < MAX_STORED_NOTES:
                        message: Any = outcome.note
                        if outcome.note_text is not None:
                            message = in_every_language(outcome.note_text)
                        notes.append({"row": number, "message": message})
                continue
            line_count += 1
            product = line.product
            key = (product.pk, line.face_value)
            group = totals.get(key)
            if group is None:
                group = totals[key] = [0, 0, ZERO]
                products[product.pk] = product
                if product.card_type == CardType.REGISTERED:
                    has_registered = True
            group[0] += 1
            group[1] += line.quantity
            group[2] += line.amount
            recipient = line.recipient
            for kind, value, index in (
                ("mobile", recipient["recipient_mobile"], seen_mobile),
                ("email", recipient["recipient_email"], seen_email),
                ("employee_id", recipient["employee_id"], seen_employee),
            ):
                if not value:
                    continue
                first = index.get(value)
                if first is None:
                    index[value] = number
                    continue
                warning_count += 1
                if len(warnings) < MAX_STORED_NOTES:
                    warnings.append(
                        {
                            "rows": [first, number],
                            "message": in_every_language(
                                lambda: _duplicate_message(scanner, kind, value, first, number)  # noqa: B023 - called at once
                            ),
                        }
                    )
            if not error_count:
                write(
                    f"{number}\t{product.pk}\t{line.face_value}\t{line.quantity}\t"
                    f"{copy_text(recipient['recipient_name'])}\t"
                    f"{recipient['recipient_mobile']}\t"
                    f"{copy_text(recipient['recipient_email'])}\t"
                    f"{copy_text(recipient['employee_id'])}\t"
                    f"{copy_text(recipient['cost_center'])}\t"
                    f"{copy_text(recipient['note'])}\n"
                )
        if line_count > settings.ORDER_MAX_LINES:
            error_count += 1
            errors.append(
                {
                    "row": last_row,
                    "column": "",
                    "value": f"{line_count:,}",
                    "reason": in_every_language(
                        lambda: (
                            _("An order can have at most %(max)s lines; this one has %(count)s.")
                            % {"max": f"{settings.ORDER_MAX_LINES:,}", "count": f"{line_count:,}"}
                        )
                    ),
                }
            )
        if not line_count and not error_count:
            raise TableError(
                _("The file has no order lines: every row is blank or a total row."),
                code="no_rows",
            )
        face_total = sum(
            (face_value * group[1] for (_pk, face_value), group in totals.items()), ZERO
        )
        total = sum((group[2] for group in totals.values()), ZERO)
        if scanner.match.unknown:
            note_count += 1
            notes.insert(
                0,
                {
                    "row": scanner.table.header_row,
                    "message": in_every_language(
                        lambda: (
                            _("Columns not used: %(columns)s.")
                            % {"columns": ", ".join(f"“{c}”" for c in scanner.match.unknown)}
                        )
                    ),
                },
            )
        result = {
            "language": (upload.result or {}).get("language") or translation.get_language(),
            "header": scanner.table.header,
            "columns": scanner.match.columns,
            "unknown_columns": scanner.match.unknown,
            "totals": [
                {
                    "product": str(products[pk].public_id),
                    "product_name": products[pk].display_name,
                    "face_value": str(face_value),
                    "lines": group[0],
                    "cards": group[1],
                    "face_total": str(face_value * group[1]),
                    "amount": str(group[2]),
                }
                for (pk, face_value), group in sorted(
                    totals.items(), key=lambda item: (products[item[0][0]].name, item[0][1])
                )
            ],
            "line_count": line_count,
            "card_count": sum(group[1] for group in totals.values()),
            "face_total": str(face_total),
            "total": str(total),
            "total_label": format_cny(total),
            "needs_registration": registration_required(
                face_total=face_total, total=total, has_registered=has_registered
            ),
            "notes": notes,
            "note_count": note_count,
            "warnings": warnings,
            "warning_count": warning_count,
            "errors": errors,
            "duplicate_of": _duplicate_orders(upload),
        }
        if not error_count:
            lines_file.seek(0)
            result["lines_file"] = upload.file.storage.save(
                f"{upload.file.name}.lines", File(lines_file)
            )
    return _finish(
        upload,
        status=UploadStatus.INVALID if error_count else UploadStatus.VALID,
        result=result,
        error_count=error_count,
        rows_done=max(last_row - scanner.table.header_row, 0),
    )


def _duplicate_message(scanner: _Scanner, kind: str, value: str, first: int, second: int) -> str:
    labels = {"mobile": "mobile", "email": "email", "employee_id": "employee_id"}
    return _("Rows %(first)s and %(second)s have the same %(column)s “%(value)s”.") % {
        "first": first,
        "second": second,
        "column": scanner.column_label(labels[kind]),
        "value": value,
    }


def _duplicate_orders(upload: OrderUpload) -> list[str]:
    """Order numbers of earlier uploads of the same file by the same company that became
    orders."""
    return list(
        OrderUpload.objects.filter(
            company_id=upload.company_id,
            file_sha256=upload.file_sha256,
            status=UploadStatus.CONFIRMED,
            order__isnull=False,
        )
        .exclude(pk=upload.pk)
        .order_by("confirmed_at")
        .values_list("order__number", flat=True)
    )


def _finish(
    upload: OrderUpload,
    *,
    status: str,
    result: dict[str, Any] | None = None,
    error_count: int = 0,
    failure: str = "",
    rows_done: int | None = None,
) -> OrderUpload:
    with transaction.atomic():
        locked = OrderUpload.objects.select_for_update().get(pk=upload.pk)
        if locked.finished:
            # Discarded (or checked by another run) meanwhile: leave it as it is.
            if result and result.get("lines_file"):
                upload.file.storage.delete(result["lines_file"])
            return locked
        locked.status = status
        locked.failure = failure
        locked.error_count = error_count
        locked.result = result or {"language": (locked.result or {}).get("language", "")}
        locked.checked_at = timezone.now()
        locked.rows_total = upload.rows_total
        if rows_done is not None:
            locked.rows_done = rows_done
            locked.rows_total = max(locked.rows_total, rows_done)
        locked.save()
        upload_checked_event(locked)
    upload.__dict__.update(
        {f.attname: getattr(locked, f.attname) for f in OrderUpload._meta.concrete_fields}
    )
    return upload


def upload_fail(*, upload_id: int, reason: str) -> None:
    """Mark an upload whose check broke down (the worker's last resort): FAILED, with a reason
    the buyer can read, unless it has finished meanwhile."""
    with transaction.atomic():
        locked = OrderUpload.objects.select_for_update().filter(pk=upload_id).first()
        if locked is None or locked.finished:
            return
        locked.status = UploadStatus.FAILED
        locked.failure = reason[:500]
        locked.checked_at = timezone.now()
        locked.save(update_fields=["status", "failure", "checked_at"])
        upload_checked_event(locked)


def upload_checked_event(upload: OrderUpload) -> None:
    """The webhook event of an order file whose check ended (valid, with errors, or unreadable)."""
    emit(
        upload.company_id,
        EventType.UPLOAD_CHECKED,
        upload,
        {
            "id": str(upload.public_id),
            "status": upload.status,
            "rows": upload.rows_total,
            "errors": upload.error_count,
        },
    )


_PROGRESS_FIELDS = ("status", "rows_done", "rows_total", "error_count", "failure")


def upload_progress(upload: OrderUpload, *, fresh: bool = True) -> dict[str, Any]:
    """Where the check is, for the page that polls it. ``fresh``: read from the database first,
    into ``upload`` (the whole row, result included, when the status moved meanwhile or the
    result is missing), so that the answer and the upload agree; otherwise from ``upload`` as
    its caller read it (the API's answer: its status, progress and result come from that one
    read). Finished only once the
    status is final and the check left its result (or its reason, for a failed check)."""
    if fresh:
        row = OrderUpload.objects.filter(pk=upload.pk).values(*_PROGRESS_FIELDS).get()
        if row["status"] != upload.status or not upload.result:
            upload.refresh_from_db()
        else:
            for name, value in row.items():
                setattr(upload, name, value)
    status = upload.status
    finished = upload.finished and bool(
        upload.result or status in (UploadStatus.FAILED, UploadStatus.DISCARDED)
    )
    total = upload.rows_total
    done = upload.rows_done
    percent = 100 if finished else (min(99, done * 100 // total) if total else 0)
    return {
        "status": status,
        "status_label": str(UploadStatus(status).label),
        "rows_done": done,
        "rows_total": total,
        "percent": percent,
        "finished": finished,
        "error_count": upload.error_count,
        "failure": upload.failure,
    }
