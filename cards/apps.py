from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CardsConfig(AppConfig):
    name = "cards"
    verbose_name = _("Cards")

    def ready(self) -> None:
        from billing.signals import proforma_paid
        from cards import audit  # noqa: F401  (registers the action labels)
        from cards.receivers import fund_order_on_proforma_paid

        proforma_paid.connect(fund_order_on_proforma_paid, dispatch_uid="cards.fund_on_proforma")
