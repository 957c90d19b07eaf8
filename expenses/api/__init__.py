"""The expense reconciliation API (/api/v1/expense-reports, /api/v1/expense-periods, ...)."""

from rest_framework.routers import SimpleRouter


def register_expense_routes(router: SimpleRouter) -> None:
    """Each part of the expense API adds its routes here."""
    from expenses.api.reports import register_report_routes

    register_report_routes(router)  # expenses/api/reports.py: /expense-reports
