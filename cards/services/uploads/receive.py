"""Receiving an order file: who the draft is for, the size and format refused early, storing it,
and checking it at once or queueing the check."""

from __future__ import annotations

import hashlib
import os
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from cards.models import DeliveryMethod, OrderUpload, PaymentMethod, UploadStatus
from cards.services.orders import order_company_check, order_methods_check
from portal import policy
from portal.models import ApiKey, Company, User
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue
from portal.tabular import TableError, match_headers, screen_table

from .base import ORDER_COLUMNS, REQUIRED_COLUMNS, UploadAction
from .check import _check


def _creator(company: Company, actor: User, on_behalf: bool, for_member: User | None) -> User:
    """Who the draft belongs to: the buyer who uploads, or (support uploading on a company's
    behalf) the purchaser or owner the operator chose."""
    if not on_behalf:
        policy.require(company, actor, Action.ORDER_UPLOAD)
        return actor
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied(_("Only support staff upload order files for a company."))
    if for_member is None:
        raise ValidationError(
            {"for_member": _("Choose the company's purchaser the draft order is for.")}
        )
    policy.require(company, for_member, Action.ORDER_UPLOAD)
    return for_member


def _raw_file(file: UploadedFile | File[Any] | IO[bytes]) -> IO[bytes]:
    raw: IO[bytes] = getattr(file, "file", None) or file
    raw.seek(0)
    return raw


def _too_large(size: int) -> TableError:
    mb = 1024 * 1024
    return TableError(
        _("The file is %(size)s MB; files of at most %(max)s MB are accepted.")
        % {
            "size": f"{size / mb:.1f}".removesuffix(".0"),
            "max": f"{settings.UPLOAD_MAX_BYTES / mb:.1f}".removesuffix(".0"),
        },
        code="too_large",
    )


@transaction.atomic
def upload_receive(
    *,
    company: Company,
    actor: User,
    file: UploadedFile,
    payment_method: str = PaymentMethod.CREDIT,
    delivery_method: str = DeliveryMethod.FILE,
    api_key: ApiKey | None = None,
    on_behalf: bool = False,
    for_member: User | None = None,
) -> OrderUpload:
    """Store an order file and check it: at once when it is small, else in a worker (status
    CHECKING; the page polls ``upload_progress``).

    Refused before anything is stored (TableError, a ValidationError): a file over
    ``UPLOAD_MAX_BYTES`` (from its size, unread), an empty file, one that is not CSV or XLSX,
    an XLSX zip bomb or one over the row or column limits (counted from its sheet's XML, the
    workbook unopened), a CSV file over the row limit, a CSV header without rows or without a
    required column, and, for a file checked at once, one that cannot be read to the end
    (another encoding in a row, a quote swallowing rows, no order line).
    ``on_behalf``: an operator (staff) uploads for the company; ``for_member`` is the
    company's purchaser or owner who will own the draft.
    """
    creator = _creator(company, actor, on_behalf, for_member)
    order_company_check(company)
    order_methods_check(payment_method, delivery_method)
    size = file.size or 0
    if size > settings.UPLOAD_MAX_BYTES:
        raise _too_large(size)
    name = os.path.basename(file.name or "order-file")[:200] or "order-file"
    raw = _raw_file(file)
    # Cheap checks only, whatever the size: a workbook is never opened here (a large one is
    # opened by the worker, which reports a missing column as the check's failure).
    table = screen_table(
        raw, file_name=name, max_bytes=settings.UPLOAD_MAX_BYTES, max_rows=settings.UPLOAD_MAX_ROWS
    )
    if table.header is not None:
        match_headers(table.header, ORDER_COLUMNS, REQUIRED_COLUMNS)
    raw.seek(0)
    digest = hashlib.file_digest(raw, "sha256").hexdigest()  # type: ignore[arg-type]
    raw.seek(0)
    upload = OrderUpload(
        company=company,
        created_by=creator,
        created_via_key=api_key,
        on_behalf=on_behalf,
        file_name=name,
        file_size=size,
        file_sha256=digest,
        file_format=table.format,
        encoding=table.encoding,
        payment_method=payment_method,
        delivery_method=delivery_method,
        result={"language": translation.get_language() or settings.LANGUAGE_CODE},
    )
    upload.file.save(name, File(raw, name=name), save=False)
    try:
        inline = size <= settings.UPLOAD_INLINE_MAX_BYTES
        upload.status = UploadStatus.RECEIVED if inline else UploadStatus.CHECKING
        upload.save()
        audit_record(
            action=UploadAction.RECEIVED,
            actor=actor,
            company=company,
            obj=upload,
            changes={
                "file": name,
                "size": size,
                "sha256": digest,
                "on_behalf": on_behalf,
                "for": creator.email,
                "via": "api" if api_key else ("admin" if on_behalf else "portal"),
            },
        )
        if inline:
            _check(upload)
        else:
            from cards import tasks

            outbox_enqueue(tasks.upload_check, upload.pk)
    except BaseException:
        _delete_files(upload)
        raise
    return upload


def _delete_files(upload: OrderUpload) -> None:
    storage = upload.file.storage
    for name in (upload.file.name, (upload.result or {}).get("lines_file")):
        if name and storage.exists(name):
            storage.delete(name)
