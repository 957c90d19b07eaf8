"""The expense reconciliation API (/api/v1/expense-reports, /api/v1/expense-periods, ...)."""

from rest_framework.routers import SimpleRouter

from expenses.api.vouchers import register_voucher_routes


def register_expense_routes(router: SimpleRouter) -> None:
    """Each part of the expense API adds its routes here."""
    register_voucher_routes(
        router
    )  # /expense-periods/{month}/vouchers|figures, /expense-lines/{id}/chain
