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
