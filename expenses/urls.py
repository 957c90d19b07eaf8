"""The portal's expense reconciliation pages (/expenses/...). Each part registers its own."""

from django.urls import path, re_path

from expenses.views import figures, reports, vouchers

app_name = "expenses"

MONTH = r"(?P<month>[0-9]{4}-[0-9]{2})"

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
    # Vouchers and figures (expenses/views/vouchers.py, figures.py).
    path("mapping/", vouchers.mapping_page, name="mapping"),
    re_path(rf"^periods/{MONTH}/reports/$", figures.period_reports, name="period_reports"),
    re_path(rf"^periods/{MONTH}/vouchers/$", vouchers.period_vouchers, name="period_vouchers"),
    path("lines/<uuid:public_id>/chain/", figures.line_chain_page, name="line_chain"),
]
