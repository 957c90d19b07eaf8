"""The portal's expense reconciliation pages (/expenses/...). Each part registers its own."""

from django.urls import path, re_path

from expenses.views import figures, vouchers

app_name = "expenses"

MONTH = r"(?P<month>[0-9]{4}-[0-9]{2})"

urlpatterns: list = [
    # Vouchers and figures (exp-vouchers).
    path("mapping/", vouchers.mapping_page, name="mapping"),
    re_path(rf"^periods/{MONTH}/reports/$", figures.period_reports, name="period_reports"),
    re_path(rf"^periods/{MONTH}/vouchers/$", vouchers.period_vouchers, name="period_vouchers"),
    path("lines/<uuid:public_id>/chain/", figures.line_chain_page, name="line_chain"),
]
