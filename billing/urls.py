from django.urls import include, path

from billing import views

app_name = "billing"

urlpatterns = [
    path("invoices/", views.invoice_list, name="invoice_list"),
    path("invoices/<str:number>/", views.invoice_detail, name="invoice_detail"),
    path("invoices/<str:number>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("credit/", views.credit, name="credit"),
    # Payments (billing/urls_payments.py), aging and receivables (billing/urls_receivables.py),
    # statements (billing/urls_statements.py).
    path("", include("billing.urls_payments")),
    path("", include("billing.urls_receivables")),
    path("", include("billing.urls_statements")),
]
