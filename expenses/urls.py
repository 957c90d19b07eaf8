"""The portal's expense reconciliation pages (/expenses/...). Each part registers its own."""

from django.urls import path, re_path

from expenses.views import exceptions, figures, periods, reports, vouchers

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
    # Periods, the exception queue and closing (exp-resolve).
    path("periods/", periods.period_list, name="period_list"),
    re_path(rf"^periods/{MONTH}/$", periods.period_detail, name="period_detail"),
    re_path(rf"^periods/{MONTH}/close/$", periods.period_close_view, name="period_close"),
    re_path(rf"^periods/{MONTH}/reopen/$", periods.period_reopen_view, name="period_reopen"),
    re_path(
        rf"^periods/{MONTH}/reports/(?P<public_id>[0-9a-fA-F-]{{36}})/$",
        periods.period_report_download,
        name="period_report_download",
    ),
    re_path(
        rf"^periods/{MONTH}/exceptions/$", exceptions.period_exceptions, name="period_exceptions"
    ),
    re_path(
        rf"^periods/{MONTH}/exceptions/bulk/$",
        exceptions.period_bulk_resolve,
        name="period_bulk_resolve",
    ),
    path("lines/<uuid:public_id>/resolve/", exceptions.line_resolve, name="line_resolve"),
]
