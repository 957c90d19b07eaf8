"""The admin's path, import-export in the admin, and the API (REST framework, OpenAPI schema)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .base import env

# --- Admin and API -------------------------------------------------------------------------------

ADMIN_PATH = env.str("ADMIN_PATH", default="ops/").strip("/") + "/"

# django-import-export in the admin (billing/admin/import_.py, cards/admin/import_.py). Its formats
# there neutralise formula cells and write CSV in UTF-8 with a BOM themselves: the library's own
# escaping only drops a leading "=" (and makes every value text), so it stays off. Previews are
# dry runs inside a transaction that is rolled back; importing needs the change permission.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# The API takes buyer API keys only (no session cookies, so no CSRF surface), speaks JSON only,
# and answers errors as {"detail", "code", "errors"} in the request's language.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["portal.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.HasApiKeyScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["portal.api.parsers.DecimalJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.ApiPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portal.api.exceptions.api_exception_handler",
}

# --- API rate limits (portal/api/rate_limits.py) -------------------------------------------------
# Requests per API key (or per client address, without a key) per route class per window, on the
# buyer API (the merchant API has its own: MERCHANT_RATE_*). Answered 429 with Retry-After past
# the limit; every answer carries RateLimit-* headers. docs/api.md publishes these defaults.
API_RATE_LIMIT_WINDOW_SECONDS = env.int("API_RATE_LIMIT_WINDOW_SECONDS", default=60)
API_RATE_LIMITS = {
    # Reading: lists, objects, files (GET, HEAD, OPTIONS).
    "read": env.int("API_RATE_LIMIT_READ", default=600),
    # Changing: create, submit, approve, cancel, resolve ...
    "write": env.int("API_RATE_LIMIT_WRITE", default=120),
    # Sending a file: an order file or an expense report.
    "upload": env.int("API_RATE_LIMIT_UPLOAD", default=20),
    # Revealing card codes: the encrypted code export of an order.
    "codes": env.int("API_RATE_LIMIT_CODES", default=10),
}
# The cache keys' namespace (tests give each test its own).
API_RATE_LIMIT_NAMESPACE = env.str("API_RATE_LIMIT_NAMESPACE", default="api-limits")

SPECTACULAR_SETTINGS = {
    "TITLE": "E-card procurement portal API",
    "DESCRIPTION": _(
        "Order prepaid e-cards in bulk and read invoices. Authenticate with an API key "
        "(Authorization: Bearer <key>) created by an owner under Settings → API keys. "
        "POST /api/v1/orders needs an Idempotency-Key header."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every answer's X-Request-ID and RateLimit-* headers, and the 429 (portal/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.add_common_headers",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "cards.models.OrderStatus",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        "InvoiceKindEnum": "billing.models.Invoice.Kind",
        "PaymentStatusEnum": "billing.models.Payment.Status",
        "AllocationKindEnum": "billing.models.Allocation.Kind",
        "AllocationMethodEnum": "billing.models.Allocation.Method",
        "StatementStatusEnum": "billing.models.Statement.Status",
        "ExpenseReportStatusEnum": "expenses.models.ReportStatus.values",
        "ExpensePeriodStatusEnum": "expenses.models.PeriodStatus",
        "ExpenseLineStateEnum": "expenses.models.LineState",
        "ExpenseEvidenceEnum": "expenses.models.Evidence",
        "ExpenseResolutionEnum": "expenses.models.Resolution",
        "WebhookEventTypeEnum": "webhooks.events.EventType",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "displayOperationId": False},
}
