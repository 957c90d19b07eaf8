"""OpenAPI pieces shared by the API modules: the Bearer scheme, the Idempotency-Key header and
the error shape."""

from __future__ import annotations

from typing import Any

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers

from portal.api.idempotency import HEADER, MAX_KEY_LENGTH


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ecp_<prefix>_<secret>",
            "description": str(
                _(
                    "An API key a member created under Settings → API keys; it acts for that "
                    "member, within what their role allows. Send it as "
                    "“Authorization: Bearer <key>” (or “X-Api-Key: <key>”)."
                )
            ),
        }


class SingleObjectSchema(AutoSchema):
    """For a ``list`` action that answers one object (a report), not a list of them."""

    def _is_list_view(self, serializer: Any = None) -> bool:
        return False


DATE_OR_DATETIME = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
}

SHA256_HEADER = OpenApiParameter(
    "X-Content-SHA256",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200],
    description=_("The SHA-256 of the file, in hexadecimal."),
)


def text_enum(values: list[str], **kwargs: Any) -> serializers.CharField:
    """A text field documented as an inline enum of ``values``: its own set of values, not a
    component shared with other fields of the same name."""
    field_class = extend_schema_field({"type": "string", "enum": list(values)})(
        type("TextEnumField", (serializers.CharField,), {})
    )
    return field_class(**kwargs)


# A class attribute named "errors" would shadow Serializer.errors, hence the inline form.
ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "detail": serializers.CharField(help_text=_("What went wrong and what to do.")),
        "code": serializers.CharField(
            help_text=_(
                "A stable code for programs, never translated: the problem's own "
                "(insufficient_credit, idempotency_key_missing, required, not_found ...), or "
                "“invalid” when the problems are of several kinds."
            )
        ),
        "errors": serializers.JSONField(
            help_text=_(
                "A list of messages (one per problem, e.g. per order line) or an object mapping "
                "fields to their messages."
            )
        ),
    },
)


ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description=_("The request breaks a rule.")),
    401: OpenApiResponse(ErrorSerializer, description=_("No valid API key.")),
    403: OpenApiResponse(
        ErrorSerializer, description=_("Missing scope, or the member's role forbids it.")
    ),
    404: OpenApiResponse(ErrorSerializer, description=_("No such object in your company.")),
    409: OpenApiResponse(ErrorSerializer, description=_("The object's state does not allow this.")),
}

_IDEMPOTENCY_DESCRIPTION = format_lazy(
    _(
        "A unique value per request (for example a UUID), at most {max} characters. Resending "
        "the same request with the same key returns the first response (header "
        "Idempotent-Replayed: true) and does nothing twice; the same key with a different body "
        "is refused with 422. Keys are per company."
    ),
    max=MAX_KEY_LENGTH,
)

# What portal.api.idempotency accepts (after trimming spaces at either end).
_IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    "pattern": r"^[\x21-\x7e]+$",
}

IDEMPOTENCY_KEY_REQUIRED = OpenApiParameter(
    HEADER,
    _IDEMPOTENCY_KEY_SCHEMA,
    OpenApiParameter.HEADER,
    required=True,
    description=_IDEMPOTENCY_DESCRIPTION,
)
IDEMPOTENCY_KEY_OPTIONAL = OpenApiParameter(
    HEADER,
    _IDEMPOTENCY_KEY_SCHEMA,
    OpenApiParameter.HEADER,
    required=False,
    description=_IDEMPOTENCY_DESCRIPTION,
)


# --- Headers every answer carries (a postprocessing hook: SPECTACULAR_SETTINGS) -----------------

_REQUEST_ID_HEADER = {"schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:-]{1,200}$"}}


def _rate_header_descriptions() -> dict[str, str]:
    return {
        "RateLimit-Limit": str(_("Requests allowed per window for this kind of request.")),
        "RateLimit-Remaining": str(_("Requests left in the current window.")),
        "RateLimit-Reset": str(_("Seconds until the current window ends.")),
        "RateLimit-Policy": str(_("The quota and its window in seconds, e.g. 600;w=60.")),
    }


def add_common_headers(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Every operation's answers carry X-Request-ID and the RateLimit-* headers, and may be a
    429 (docs/api.md, "Rate limits" and "Request IDs")."""
    request_id = {
        **_REQUEST_ID_HEADER,
        "description": str(
            _(
                "The request's ID: the X-Request-ID you sent when it is 1 to 200 characters of "
                "letters, digits and . _ : -, else one the server made. Quote it to support."
            )
        ),
    }
    rate = {
        name: {
            "schema": {"type": "string" if name == "RateLimit-Policy" else "integer"},
            "description": text,
        }
        for name, text in _rate_header_descriptions().items()
    }
    throttled: dict[str, Any] = {
        "description": str(
            _("Too many requests of this kind: wait Retry-After seconds, then try again.")
        ),
        "headers": {
            "Retry-After": {
                "schema": {"type": "integer"},
                "description": str(_("Seconds to wait before trying again.")),
            }
        },
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "put", "post", "patch", "delete", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            if path.startswith("/api/v1/") and "429" not in responses:
                responses["429"] = {**throttled, "headers": dict(throttled["headers"])}
            for answer in responses.values():
                headers = answer.setdefault("headers", {})
                headers.setdefault("X-Request-ID", request_id)
                for name, header in rate.items():
                    headers.setdefault(name, header)
    return result
