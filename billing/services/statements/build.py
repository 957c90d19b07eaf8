"""Building a claimed statement: its files stored, then the row issued (and immutable), once."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from billing.models import Statement, StatementFile
from billing.services.statements.content import statement_content
from billing.services.statements.files import _write_files
from billing.services.statements.notify import statement_notify
from portal.models import register_audit_actions
from portal.services.audit import audit_record
from webhooks.events import EventType
from webhooks.services import emit

# The package's logger, named as before the split into modules.
logger = logging.getLogger("billing.services.statements")


class StatementAction(models.TextChoices):
    ISSUED = "billing.statement_issued", gettext_lazy("Issued a statement of account")
    REQUESTED = "billing.statement_requested", gettext_lazy("Requested a statement of account")
    REISSUED = "billing.statement_reissued", gettext_lazy("Re-issued a statement of account")
    RETRIED = "billing.statement_retried", gettext_lazy("Retried a failed statement of account")


register_audit_actions(StatementAction)


def _failure_code(exc: BaseException) -> str:
    """What the page tells the company about a failed build (``Statement.Failure``)."""
    if isinstance(exc, (OSError, SuspiciousFileOperation)):
        return Statement.Failure.STORAGE
    if isinstance(exc, DatabaseError):
        return Statement.Failure.DATABASE
    return Statement.Failure.UNEXPECTED


def _digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def _store(statement: Statement, fmt: str, path: Path, stored: list[str]) -> StatementFile:
    sha, size = _digest(path)
    record = StatementFile(statement=statement, format=fmt, size=size, sha256=sha)
    with open(path, "rb") as handle:
        record.file.save(f"{statement.number}.{fmt}", File(handle), save=False)
    stored.append(str(record.file.name))
    record.save()
    return record


def _build(statement_id: int) -> Statement:
    stored: list[str] = []
    # Inside a caller's transaction, a second connection would not see its uncommitted rows.
    outer_transaction = connection.in_atomic_block
    try:
        with transaction.atomic():
            statement = (
                Statement.objects.select_for_update(of=("self",))
                .select_related("company")
                .get(pk=statement_id)
            )
            if statement.status == Statement.Status.ISSUED:
                return statement
            # A document sent to the company: in the company's language, whoever asked for it.
            with (
                translation.override(statement.company.language),
                tempfile.TemporaryDirectory(prefix="statement-") as work,
            ):
                content = statement_content(statement)
                folder = Path(work)
                paths = {fmt: folder / f"statement.{fmt}" for fmt in StatementFile.Format.values}
                _write_files(content, paths, overlap=not outer_transaction)
                # Stored only once every file is written: a failure stores nothing.
                for fmt in (
                    StatementFile.Format.PDF,
                    StatementFile.Format.CSV,
                    StatementFile.Format.XLSX,
                ):
                    _store(statement, fmt, paths[fmt], stored)
            issued_at = timezone.now()
            # The last write: from here on the trigger refuses any change.
            Statement.objects.filter(pk=statement.pk).update(
                status=Statement.Status.ISSUED,
                issued_at=issued_at,
                opening_balance=content.opening,
                closing_balance=content.closing,
                summary=content.summary,
                failure="",
                failure_code="",
            )
            statement.refresh_from_db()
            audit_record(
                action=StatementAction.ISSUED,
                company=statement.company,
                obj=statement,
                actor_label="statements",
                changes={
                    "number": statement.number,
                    "opening": content.summary["opening"],
                    "closing": content.summary["closing"],
                },
            )
            emit(
                statement.company_id,
                EventType.STATEMENT_ISSUED,
                statement,
                {
                    "id": str(statement.public_id),
                    "number": statement.number,
                    "period_start": statement.period_start,
                    "period_end": statement.period_end,
                    "version": statement.version,
                    "opening_balance": content.summary["opening"],
                    "closing_balance": content.summary["closing"],
                },
            )
            transaction.on_commit(lambda: statement_notify(statement_id=statement.pk))
            return statement
    except Exception as exc:
        for name in stored:
            default_storage.delete(name)
        logger.exception("statement %s failed", statement_id)
        reason = f"{type(exc).__name__}: {exc}"[:500]
        Statement.objects.filter(pk=statement_id).exclude(status=Statement.Status.ISSUED).update(
            status=Statement.Status.FAILED, failure=reason, failure_code=_failure_code(exc)
        )
        return Statement.objects.get(pk=statement_id)
