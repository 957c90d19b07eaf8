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
