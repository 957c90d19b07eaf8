"""The API: /api/v1/ (buyer endpoints), /api/schema/ (OpenAPI) and /api/docs/ (Swagger UI); the
last two for signed-in members and API keys only (portal/api/docs.py)."""

from django.urls import include, path
from django.views.generic import RedirectView
from rest_framework.routers import SimpleRouter

from billing.api import InvoiceViewSet
from billing.api.payments import register_payment_routes
from billing.api.receivables import register_receivable_routes
from billing.api.statements import register_statement_routes
from cards.api import OrderViewSet, ProductViewSet
from cards.api.cards import register_card_routes
from cards.api.codes import register_code_routes
from cards.api.exports import register_order_export_routes
from cards.api.uploads import register_upload_routes
from expenses.api import register_expense_routes
from portal.api import schema  # noqa: F401  (registers the authentication scheme)
from portal.api.docs import api_docs_view, api_schema_view
from webhooks.api import register_webhook_routes

router = SimpleRouter(trailing_slash=False)
router.register("products", ProductViewSet, basename="api-product")
register_order_export_routes(router)  # cards/api/exports.py: /orders/export (before orders)
router.register("orders", OrderViewSet, basename="api-order")
router.register("invoices", InvoiceViewSet, basename="api-invoice")
register_card_routes(router)  # cards/api/cards.py: /cards, /orders/{number}/cards
register_code_routes(router)  # cards/api/codes.py: code export (codes:export scope)
register_upload_routes(router)  # cards/api/uploads.py: /order-uploads
register_payment_routes(router)  # billing/api/payments.py: /payments
register_receivable_routes(router)  # billing/api/receivables.py: /aging
register_statement_routes(router)  # billing/api/statements.py: /statements
register_expense_routes(router)  # expenses/api: /expense-reports, /expense-periods
register_webhook_routes(router)  # webhooks/api: /webhook-endpoints, /events

urlpatterns = [
    # The merchant API (merchant keys) first: a checkout's request is resolved without trying
    # the buyer API's routes.
    path("v1/merchant/", include("cards.api.merchant")),
    path("v1/", include(router.urls)),
    path("schema/", api_schema_view(), name="api-schema"),
    path("docs/", api_docs_view(), name="api-docs"),
    # Without their slash, as Django's APPEND_SLASH would (every other /api/ path is caught by
    # the JSON 404 route of portal/urls.py, so APPEND_SLASH no longer sees these).
    path(
        "schema", RedirectView.as_view(pattern_name="api-schema", query_string=True, permanent=True)
    ),
    path("docs", RedirectView.as_view(pattern_name="api-docs", query_string=True, permanent=True)),
]
