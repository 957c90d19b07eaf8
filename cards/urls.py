from django.urls import include, path

from cards import views

app_name = "cards"

urlpatterns = [
    # Order files: upload, check, confirm, history (cards/urls_uploads.py). First, so that
    # orders/upload/ and orders/uploads/ are not taken for order numbers.
    path("", include("cards.urls_uploads")),
    path("catalog/", views.catalog, name="catalog"),
    path("orders/", views.order_list, name="order_list"),
    path("orders/new/", views.order_create_view, name="order_create"),
    path("orders/<str:number>/", views.order_detail, name="order_detail"),
    path("orders/<str:number>/edit/", views.order_edit, name="order_edit"),
    path("orders/<str:number>/submit/", views.order_submit_view, name="order_submit"),
    path("orders/<str:number>/approve/", views.order_approve_view, name="order_approve"),
    path("orders/<str:number>/reject/", views.order_reject_view, name="order_reject"),
    path("orders/<str:number>/cancel/", views.order_cancel_view, name="order_cancel"),
    path("approvals/", views.approvals, name="approvals"),
    # Issuance: progress, card lists (cards/urls_cards.py), code downloads
    # (cards/urls_delivery.py) and recipients' one-time links (cards/urls_recipient.py).
    path("", include("cards.urls_cards")),
    path("", include("cards.urls_delivery")),
    path("", include("cards.urls_recipient")),
]
