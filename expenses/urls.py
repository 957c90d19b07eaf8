"""The portal's expense reconciliation pages (/expenses/...). Each part registers its own."""

from django.urls import path

from expenses.views import reports

app_name = "expenses"

urlpatterns: list = [
    # Expense reports (expenses/views/reports.py).
    path("", reports.report_list, name="report_list"),
    path("reports/new/", reports.report_new, name="report_new"),
    path(
        "reports/template/<str:language>.<str:fmt>",
        reports.report_template,
        name="report_template",
    ),
    path("reports/<uuid:public_id>/", reports.report_detail, name="report_detail"),
    path("reports/<uuid:public_id>/progress/", reports.report_progress, name="report_progress"),
    path("reports/<uuid:public_id>/errors.<str:fmt>", reports.report_errors, name="report_errors"),
    path("reports/<uuid:public_id>/discard/", reports.report_discard, name="report_discard"),
]
