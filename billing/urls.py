from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("invoices/", views.invoice_list, name="invoice_list"),
    path("invoices/<str:number>/", views.invoice_detail, name="invoice_detail"),
    path("invoices/<str:number>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("credit/", views.credit, name="credit"),
]
