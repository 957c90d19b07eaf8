from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExpensesConfig(AppConfig):
    name = "expenses"
    verbose_name = _("Expense reconciliation")

    def ready(self) -> None:
        from expenses import audit  # noqa: F401  (registers the action labels)
