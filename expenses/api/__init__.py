"""The expense reconciliation API (/api/v1/expense-reports, /api/v1/expense-periods, ...)."""

from rest_framework.routers import SimpleRouter


def register_expense_routes(router: SimpleRouter) -> None:
    """Each part of the expense API adds its routes here."""
    from expenses.api.periods import register_period_routes
    from expenses.api.reports import register_report_routes
    from expenses.api.vouchers import register_voucher_routes

    register_report_routes(router)  # expenses/api/reports.py: /expense-reports
    # expenses/api/vouchers.py: /expense-periods/{month}/vouchers|figures, /expense-lines/{id}/chain
    register_voucher_routes(router)
    # expenses/api/periods.py: /expense-periods, /expense-periods/{month}[/exceptions|close|
    # reopen], /expense-lines/{id}/resolution
    register_period_routes(router)
