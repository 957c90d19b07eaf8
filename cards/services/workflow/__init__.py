"""An order's way from draft to funded: submit, approvals, risk review, funding, cancel.

Every move goes through ``_move``, which checks it against the map of allowed transitions. Each
service takes its row locks through ``billing.locks``, in the one global order for money (company,
order, credit line, payment, company accounts, invoices by id, invoice number last), and
re-checks the state after the lock, so two approvers clicking at once approve once and a cancel
racing a payment gets a clear refusal. Refusals are ``portal.errors.DomainError``s.
"""

from .approval import (
    RISK_FLAG_LABELS,
    order_approve,
    order_reject,
    order_review_approve,
    order_review_reject,
    order_risk_flags,
    order_submit,
)
from .base import CANCELLABLE, S_PAID, TRANSITIONS, OrderStateError
from .fulfilment import order_begin_fulfilment, order_mark_fulfilled, stranded_orders_start
from .funding import order_cancel, order_fund_from_proforma, order_mark_funded

__all__ = [
    "CANCELLABLE",
    "RISK_FLAG_LABELS",
    "S_PAID",
    "TRANSITIONS",
    "OrderStateError",
    "order_approve",
    "order_begin_fulfilment",
    "order_cancel",
    "order_fund_from_proforma",
    "order_mark_fulfilled",
    "order_mark_funded",
    "order_reject",
    "order_review_approve",
    "order_review_reject",
    "order_risk_flags",
    "order_submit",
    "stranded_orders_start",
]
