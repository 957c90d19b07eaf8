"""Buyer API of cards, by feature: the catalog and orders (``orders``), issued cards
(``cards``), code export (``codes``) and order files (``uploads``). ``portal/api/urls.py``
registers the viewsets and routes re-exported here."""

from cards.api.cards import CardViewSet, OrderCardViewSet, register_card_routes
from cards.api.codes import OrderCodeExportViewSet, register_code_routes
from cards.api.orders import OrderViewSet, ProductViewSet
from cards.api.uploads import OrderUploadViewSet, register_upload_routes

__all__ = [
    "CardViewSet",
    "OrderCardViewSet",
    "OrderCodeExportViewSet",
    "OrderUploadViewSet",
    "OrderViewSet",
    "ProductViewSet",
    "register_card_routes",
    "register_code_routes",
    "register_upload_routes",
]
