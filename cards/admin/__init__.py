"""Operators' admin for the catalog, orders, purchase registrations, the risk review queue,
and issuance: batches (with a retry of failed ones), cards and card transactions.

Every change of state goes through the services (``cards.services.workflow``); the admin only
chooses the order and collects the operator's reason.

One module per feature; importing this package registers them all:

- catalog: card products; import_: their import and export (it replaces the catalog's
  registration with one that adds django-import-export)
- orders: orders; register: the real-name register (purchase registrations, full ID number
  views, holds on one registration, the purge after retention); legal_holds: legal holds;
  review: the risk review queue; order_export: the export of orders and order lines (it replaces
  the orders' registration with one that adds it)
- issuance: batches and their chunks; cards: cards, card transactions, delivery to recipients
- uploads: order files, and the page where support uploads one for a company
- card_service: card service by operators (it replaces the cards' registration with one that
  adds the acts); card_service_requests: the second operator's queue; order_refund: refunds of
  unused cards to the buyer (it replaces the orders' registration again); settlements: merchant
  settlements
- expiry: expired cards and their reactivation; breakage: breakage decisions and their report
- merchants: merchants, their API keys, holds, and failed card look-ups at the merchant API
"""

from __future__ import annotations

from cards.admin.breakage import BreakageDecisionAdmin
from cards.admin.card_service import CardServiceAdmin
from cards.admin.card_service_requests import CardServiceRequestAdmin
from cards.admin.cards import (
    CARD_SECRET_FIELDS,
    CardAdmin,
    CardTransactionAdmin,
    CardTransactionInline,
    EstimatedCountPaginator,
    RecipientDeliveryAdmin,
)
from cards.admin.catalog import CardProductAdmin, CardProductForm
from cards.admin.expiry import (
    BreakageProposeForm,
    BreakageReverseForm,
    BreakageReviewForm,
    ExpiredCardAdmin,
    ReactivateForm,
)
from cards.admin.import_ import (
    CardProductImportExportAdmin,
    CardProductResource,
    CardTypeWidget,
    FaceValuesWidget,
    OptionalIntegerWidget,
)
from cards.admin.issuance import BatchAdmin, ChunkInline
from cards.admin.legal_holds import LegalHoldAdmin
from cards.admin.merchants import (
    CardHoldAdmin,
    MerchantAdmin,
    MerchantApiKeyAdmin,
    MerchantLookupFailureAdmin,
)
from cards.admin.order_export import (
    OrderExportAdmin,
    OrderLineAdmin,
    OrderLineResource,
    OrderResource,
)
from cards.admin.order_refund import OrderRefundAdmin
from cards.admin.orders import (
    ORDER_FIELDS,
    REVIEW_PERMISSION,
    OrderAdmin,
    OrderAdminBase,
    OrderLineInline,
    risk_flag_labels,
)
from cards.admin.register import PurchaseRegistrationAdmin
from cards.admin.review import ReasonForm, RiskReviewOrderAdmin
from cards.admin.settlements import MerchantSettlementAdmin
from cards.admin.uploads import UPLOAD_PERMISSION, OrderUploadAdmin

__all__ = [
    "CARD_SECRET_FIELDS",
    "ORDER_FIELDS",
    "REVIEW_PERMISSION",
    "UPLOAD_PERMISSION",
    "BatchAdmin",
    "BreakageDecisionAdmin",
    "BreakageProposeForm",
    "BreakageReverseForm",
    "BreakageReviewForm",
    "CardAdmin",
    "CardHoldAdmin",
    "CardProductAdmin",
    "CardProductForm",
    "CardProductImportExportAdmin",
    "CardProductResource",
    "CardServiceAdmin",
    "CardServiceRequestAdmin",
    "CardTransactionAdmin",
    "CardTransactionInline",
    "CardTypeWidget",
    "ChunkInline",
    "EstimatedCountPaginator",
    "ExpiredCardAdmin",
    "FaceValuesWidget",
    "LegalHoldAdmin",
    "MerchantAdmin",
    "MerchantApiKeyAdmin",
    "MerchantLookupFailureAdmin",
    "MerchantSettlementAdmin",
    "OptionalIntegerWidget",
    "OrderAdmin",
    "OrderAdminBase",
    "OrderExportAdmin",
    "OrderLineAdmin",
    "OrderLineInline",
    "OrderLineResource",
    "OrderRefundAdmin",
    "OrderResource",
    "OrderUploadAdmin",
    "PurchaseRegistrationAdmin",
    "ReactivateForm",
    "ReasonForm",
    "RecipientDeliveryAdmin",
    "RiskReviewOrderAdmin",
    "risk_flag_labels",
]
