"""Card service by the issuer's operators: freeze, unfreeze, void, report lost and reissue,
exchange an expired card; maker-checker for large amounts; refunds of unused cards to the buyer.

Every act needs a reason, locks the card's row (``cards.services.card_movements.card_lock``),
moves the balance only through ``card_transaction_write``, posts its ledger entry and writes its
audit row in the same transaction. A card's code is never read here except by the new card's
generation (``cards.codes``), and never leaves it.

- base: audit actions, refusals, allowed statuses, the second-operator rule, the void
- status: freeze, unfreeze, void
- reissue: report lost and reissue (registered cards), exchange (expired bearer cards)
- requests: what the admin calls (``card_service_start``) and the second operator's decision
- refunds: unused cards of an order credited back to the company
"""

from .base import (
    ALLOWED_FROM,
    CardServiceAction,
    CardStateError,
    SecondOperatorRequired,
    second_operator_threshold,
)
from .refunds import RefundOutcome, order_refund_unused_cards, refund_summary, unused_cards
from .reissue import card_exchange, card_reissue
from .requests import (
    ACTIONS,
    ServiceOutcome,
    card_service_request_approve,
    card_service_request_create,
    card_service_request_reject,
    card_service_start,
)
from .status import card_freeze, card_unfreeze, card_void

__all__ = [
    "ACTIONS",
    "ALLOWED_FROM",
    "CardServiceAction",
    "CardStateError",
    "RefundOutcome",
    "SecondOperatorRequired",
    "ServiceOutcome",
    "card_exchange",
    "card_freeze",
    "card_reissue",
    "card_service_request_approve",
    "card_service_request_create",
    "card_service_request_reject",
    "card_service_start",
    "card_unfreeze",
    "card_void",
    "order_refund_unused_cards",
    "refund_summary",
    "second_operator_threshold",
    "unused_cards",
]
