"""Idempotency-Key for API POSTs: the same key never does the work twice.

The unique index on IdempotencyRecord (company, key) decides, not a look-up before the insert.
The record is inserted first, in a savepoint of the transaction that does the work, and filled
with the response before commit. A second request with the key blocks on the unique index until
the first commits (PostgreSQL), then replays the stored response. If the work fails (an error
response or an exception), the whole transaction rolls back, record included, so the client can
fix the request and retry with the same key.

Reuse it for any POST that creates something or moves money::

    return idempotent_response(request, company=company, endpoint="payments.create",
                               handler=lambda: Response(...))
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.exceptions import UnprocessableRequest
from portal.models import Company, IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 128


class IdempotencyKeyInProgress(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy(
        "A request with this Idempotency-Key is still being processed; retry in a moment."
    )
    default_code = "idempotency_key_in_progress"


class _Undo(Exception):
    """Carries an error response out of the transaction, rolling the transaction back."""

    def __init__(self, response: Response) -> None:
        self.response = response


def idempotency_key(request: Request, *, required: bool) -> str | None:
    raw = request.headers.get(HEADER)
    key = (raw or "").strip()
    if not key:
        if required:
            raise ValidationError(
                {
                    HEADER: _(
                        "This request needs an Idempotency-Key header: a unique value you choose "
                        "per order (for example a UUID), sent again unchanged when you retry."
                    )
                },
                code="idempotency_key_missing",
            )
        return None
    if len(key) > MAX_KEY_LENGTH or not all(" " < ch < "\x7f" for ch in key):
        raise ValidationError(
            {
                HEADER: _(
                    "An Idempotency-Key has 1 to %(max)s visible ASCII characters without "
                    "spaces; this one has %(length)s characters."
                )
                % {"max": MAX_KEY_LENGTH, "length": len(key)}
            },
            code="idempotency_key_invalid",
        )
    return key


def request_fingerprint(data: Any) -> str:
    """SHA-256 of the body as canonical JSON: key order and whitespace do not matter."""
    canonical = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, *, endpoint: str, fingerprint: str) -> Response:
    if record.endpoint != endpoint or record.request_hash != fingerprint:
        raise UnprocessableRequest(
            _(
                "This Idempotency-Key was used with a different request. Use a new key for a "
                "new request; resend the original request unchanged to get its response."
            ),
            code="idempotency_key_reused",
        )
    if record.status_code is None:  # pragma: no cover - only without PostgreSQL's index wait
        raise IdempotencyKeyInProgress()
    return Response(
        record.response_body, status=record.status_code, headers={REPLAYED_HEADER: "true"}
    )


def idempotent_response(
    request: Request,
    *,
    company: Company,
    endpoint: str,
    handler: Callable[[], Response],
    required: bool = True,
) -> Response:
    """Run ``handler`` once per (company, Idempotency-Key); replay its response afterwards.

    ``endpoint`` names the operation (and its object, e.g. ``orders/PO.../approve``): a key
    reused for another operation or another body is refused with 422."""
    key = idempotency_key(request, required=required)
    if key is None:
        return handler()
    fingerprint = request_fingerprint(request.data)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        company=company, key=key, endpoint=endpoint, request_hash=fingerprint
                    )
            except IntegrityError:
                stored = IdempotencyRecord.objects.get(company=company, key=key)
                return _replay(stored, endpoint=endpoint, fingerprint=fingerprint)
            response = handler()
            if response.status_code >= 400:
                raise _Undo(response)
            # Stored as the client will read it: plain JSON, amounts as strings.
            record.status_code = response.status_code
            record.response_body = json.loads(JSONRenderer().render(response.data))
            record.save(update_fields=["status_code", "response_body"])
            return response
    except _Undo as undo:
        return undo.response
