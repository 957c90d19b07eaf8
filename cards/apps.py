from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CardsConfig(AppConfig):
    name = "cards"
    verbose_name = _("Cards")

    def ready(self) -> None:
        from billing.follow_ups import on_proforma_paid
        from cards import audit  # noqa: F401  (registers the action labels)
        from cards.tasks import order_fund_after_payment

        # Queued on the commit of the payment that paid an order's pro-forma invoice.
        on_proforma_paid(order_fund_after_payment)

        from billing.statement_sections import register_card_activity
        from cards.statement_activity import card_statement_activity

        register_card_activity(card_statement_activity)

        from billing.invariants import register_invariant
        from cards.invariants import card_liability_check, cards_to_issue_started_check

        register_invariant(
            "card_liability_matches_cards",
            card_liability_check,
            _("Card liability equals the balances of live cards"),
        )
        register_invariant(
            "cards_to_issue_all_started",
            cards_to_issue_started_check,
            _("No funded order waits for its cards to be generated"),
        )
