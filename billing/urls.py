"""The portal's billing pages (namespace ``billing``): invoices and credit, aging and payment
history, statements."""

from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("invoices/", views.invoice_list, name="invoice_list"),
    path("invoices/<str:number>/", views.invoice_detail, name="invoice_detail"),
    path("invoices/<str:number>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("credit/", views.credit, name="credit"),
    # Aging and receivables.
    path("aging/", views.aging, name="aging"),
    path("payments/", views.payment_history, name="payment_history"),
    # Statements.
    path("statements/", views.statement_list, name="statement_list"),
    path("statements/request/", views.statement_request_view, name="statement_request"),
    path(
        "statements/<uuid:public_id>/retry/",
        views.statement_retry_view,
        name="statement_retry",
    ),
    path(
        "statements/<uuid:public_id>/<str:fmt>/",
        views.statement_download,
        name="statement_download",
    ),
]
