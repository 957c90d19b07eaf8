"""The cards app's models: the catalog and orders (``ordering``), batches and cards
(``issuance``), merchants and holds (``spend``), card service requests and merchant settlements
(``card_service``)."""

from cards.models.card_service import CardServiceRequest, MerchantSettlement
from cards.models.delivery import CodeDownload, DeliveryStatus, RecipientDelivery
from cards.models.issuance import (
    Batch,
    BatchStatus,
    Card,
    CardStatus,
    CardTransaction,
    Chunk,
    ChunkStatus,
    SerialCounter,
)
from cards.models.ordering import (
    BEARER_FACE_VALUE_CAP,
    BEARER_MIN_VALIDITY_MONTHS,
    FACE_VALUE_CAPS,
    REGISTERED_FACE_VALUE_CAP,
    REGISTRATION_ORDER_THRESHOLD,
    CardProduct,
    CardType,
    DeliveryMethod,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    PurchaseRegistration,
    RiskReviewOrder,
    bearer_validity_rule,
    face_value_cap_rule,
)
from cards.models.spend import CardHold, HoldStatus, Merchant, MerchantApiKey, MerchantStatus
from cards.models.uploads import OrderUpload, UploadStatus

__all__ = [
    "BEARER_FACE_VALUE_CAP",
    "BEARER_MIN_VALIDITY_MONTHS",
    "FACE_VALUE_CAPS",
    "REGISTERED_FACE_VALUE_CAP",
    "REGISTRATION_ORDER_THRESHOLD",
    "Batch",
    "BatchStatus",
    "Card",
    "CardHold",
    "CardProduct",
    "CardServiceRequest",
    "CardStatus",
    "CardTransaction",
    "CardType",
    "Chunk",
    "ChunkStatus",
    "CodeDownload",
    "DeliveryMethod",
    "DeliveryStatus",
    "HoldStatus",
    "Merchant",
    "MerchantApiKey",
    "MerchantSettlement",
    "MerchantStatus",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OrderUpload",
    "PaymentMethod",
    "PurchaseRegistration",
    "RecipientDelivery",
    "RiskReviewOrder",
    "SerialCounter",
    "UploadStatus",
    "bearer_validity_rule",
    "face_value_cap_rule",
]
