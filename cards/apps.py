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

        from cards.invariants import (
            card_and_expired_liability_check,
            card_held_check,
            card_history_check,
            voided_cards_check,
        )

        register_invariant(
            "card_and_expired_liability_match_cards",
            card_and_expired_liability_check,
            _(
                "Card liability and expired-balance liability equal the balances of live and "
                "expired cards, less breakage"
            ),
        )
        register_invariant(
            "voided_cards_match_voids",
            voided_cards_check,
            _("The voided-cards account holds the balances voided and not yet refunded"),
        )
        register_invariant(
            "card_balances_match_transactions",
            card_history_check,
            _("Each card's balance equals its face value plus its transactions"),
        )
        register_invariant(
            "card_held_matches_open_holds",
            card_held_check,
            _("Each card's held amount equals its open holds"),
        )
