"""Every API error has one shape: ``{"detail": "...", "code": "...", "errors": [...] | {...}}``.

Domain refusals (``portal.errors.DomainError``) keep their machine-readable code: a state
conflict (an order already funded, an invoice already paid) is a 409, any other refusal (not
enough credit) a 400, like every other validation error.

``errors`` keeps what the services said: a list of line-level messages ("Line 3, face value
“150”: ...") or a dict of field messages. Messages are translated by the request's
Accept-Language (LocaleMiddleware activates it before the view runs).

``code`` is the code the error was raised with, never translated: a domain rule's
(``insufficient_credit``), the API's own (``idempotency_key_missing``), or a serializer field's
(``required``, ``invalid_choice``, ``min_value``, ...); ``invalid`` when the problem names no code,
or when the response carries problems of several kinds. docs/api-errors.md lists every code
(tests/api/test_api_error_codes.py keeps it complete).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import status
from rest_framework.exceptions import APIException, ErrorDetail
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from portal.errors import DomainError, StateConflict

Errors = list[str] | dict[str, list[str]]
# The code of a problem that names none, and of a response whose problems are of several kinds.
GENERIC_CODE = "invalid"


class Conflict(APIException):
    """The object's state does not allow the action (e.g. approving an order already funded)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("The object's current state does not allow this.")
    default_code = "conflict"


class UnprocessableRequest(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = gettext_lazy("The request cannot be processed.")
    default_code = "unprocessable"


def _summary(errors: Errors) -> str:
    messages = errors if isinstance(errors, list) else [m for ms in errors.values() for m in ms]
    if len(messages) == 1:
        return messages[0]
    return _("The request has %(count)s problems; see “errors”.") % {"count": len(messages)}


def _code(codes: list[str | None]) -> str:
    """The response's code: the one its problems share, else ``invalid`` (several kinds)."""
    kinds = {code or GENERIC_CODE for code in codes}
    return kinds.pop() if len(kinds) == 1 else GENERIC_CODE


Coded = list[tuple[str, str | None]]


def _flatten(detail: Any, path: str = "") -> dict[str, Coded]:
    """DRF's nested serializer errors as {"lines[2].quantity": [(message, code), ...]}."""
    flat: dict[str, Coded] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # DRF's errors of a list field: {index: errors}
                child = f"{path}[{key + 1}]"
            else:
                name = key if key != "non_field_errors" else ""
                child = f"{path}.{name}" if path and name else (name or path)
            for k, v in _flatten(value, child).items():
                flat.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            flat.setdefault(path or "non_field_errors", []).extend(
                (str(item), getattr(item, "code", None)) for item in detail
            )
        else:
            for index, item in enumerate(detail, start=1):
                for k, v in _flatten(item, f"{path}[{index}]").items():
                    flat.setdefault(k, []).extend(v)
    else:
        flat.setdefault(path or "non_field_errors", []).append(
            (str(detail), getattr(detail, "code", None))
        )
    return flat


def error_body(detail: str, code: str, errors: Errors | None = None) -> dict[str, Any]:
    return {"detail": detail, "code": code, "errors": errors if errors is not None else []}


def _django_codes(exc: DjangoValidationError) -> list[str | None]:
    if isinstance(exc, DomainError):
        return [exc.code]
    if hasattr(exc, "error_dict"):
        return [error.code for errors in exc.error_dict.values() for error in errors]
    return [error.code for error in exc.error_list]


def validation_error_body(exc: DjangoValidationError) -> dict[str, Any]:
    errors: Errors = (
        {field: list(messages) for field, messages in exc.message_dict.items()}
        if hasattr(exc, "error_dict")
        else list(exc.messages)
    )
    return error_body(_summary(errors), _code(_django_codes(exc)), errors)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, StateConflict):
        set_rollback()
        return Response(validation_error_body(exc), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        return Response(validation_error_body(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoPermissionDenied):
        set_rollback()
        message = str(exc) or _("You do not have permission to perform this action.")
        return Response(error_body(message, "permission_denied"), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, Http404):
        set_rollback()
        return Response(error_body(_("Not found."), "not_found"), status=status.HTTP_404_NOT_FOUND)
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, APIException):
        return response
    detail = exc.detail
    if isinstance(detail, (dict, list)):
        flat = _flatten(detail)
        codes = [code for coded in flat.values() for _text, code in coded]
        messages = {field: [text for text, _kind in coded] for field, coded in flat.items()}
        errors: Errors = (
            messages["non_field_errors"] if list(messages) == ["non_field_errors"] else messages
        )
        response.data = error_body(_summary(errors), _code(codes), errors)
    else:
        code = detail.code if isinstance(detail, ErrorDetail) and detail.code else "error"
        response.data = error_body(str(detail), str(code))
    return response
