"""The API's shapes of cards, by feature: the catalog and orders (``orders``), issued cards
(``cards``) and order files (``uploads``)."""

from cards.serializers.cards import CardSerializer, CardTransactionSerializer
from cards.serializers.orders import (
    ORDER_DETAIL_MAX_LINES,
    OrderCreateSerializer,
    OrderDetailSerializer,
    OrderLineInputSerializer,
    OrderLineSerializer,
    OrderLinesField,
    OrderSummarySerializer,
    PassThroughChoiceField,
    ProductSerializer,
    ReasonSerializer,
    RegistrationInputSerializer,
    RegistrationSerializer,
    money_field,
)
from cards.serializers.uploads import (
    OrderUploadConfirmSerializer,
    OrderUploadCreateSerializer,
    OrderUploadSerializer,
)

__all__ = [
    "ORDER_DETAIL_MAX_LINES",
    "CardSerializer",
    "CardTransactionSerializer",
    "OrderCreateSerializer",
    "OrderDetailSerializer",
    "OrderLineInputSerializer",
    "OrderLineSerializer",
    "OrderLinesField",
    "OrderSummarySerializer",
    "OrderUploadConfirmSerializer",
    "OrderUploadCreateSerializer",
    "OrderUploadSerializer",
    "PassThroughChoiceField",
    "ProductSerializer",
    "ReasonSerializer",
    "RegistrationInputSerializer",
    "RegistrationSerializer",
    "money_field",
]
