"""The portal's ordering and card pages (namespace ``cards``), by feature: order files, orders and
approvals, issued cards, delivery by file, delivery to recipients."""

from django.urls import path

from cards import views

app_name = "cards"

urlpatterns = [
    # Order files: upload, the check's preview and progress, error file, confirm, discard,
    # history. First, so that orders/upload/ and orders/uploads/ are not taken for order numbers.
    path("orders/upload/", views.upload_new, name="upload_new"),
    path(
        "orders/upload/template-<str:language>.<str:fmt>",
        views.upload_template_view,
        name="upload_template",
    ),
    path("orders/uploads/", views.upload_list, name="upload_list"),
    path("orders/uploads/<uuid:public_id>/", views.upload_detail, name="upload_detail"),
    path(
        "orders/uploads/<uuid:public_id>/progress.json",
        views.upload_progress_view,
        name="upload_progress",
    ),
    path(
        "orders/uploads/<uuid:public_id>/errors.<str:fmt>",
        views.upload_errors_view,
        name="upload_errors",
    ),
    path(
        "orders/uploads/<uuid:public_id>/confirm/",
        views.upload_confirm_view,
        name="upload_confirm",
    ),
    path(
        "orders/uploads/<uuid:public_id>/discard/",
        views.upload_discard_view,
        name="upload_discard",
    ),
    # Ordering: catalog, orders and their actions, approvals.
    path("catalog/", views.catalog, name="catalog"),
    path("orders/", views.order_list, name="order_list"),
    path("orders/export.<str:fmt>", views.order_export, name="order_export"),
    path("orders/new/", views.order_create_view, name="order_create"),
    path("orders/new/preview/", views.order_preview, name="order_preview"),
    path("orders/new/face-value/", views.order_face_value, name="order_face_value"),
    path("orders/<str:number>/", views.order_detail, name="order_detail"),
    path("orders/<str:number>/edit/", views.order_edit, name="order_edit"),
    path("orders/<str:number>/submit/", views.order_submit_view, name="order_submit"),
    path("orders/<str:number>/approve/", views.order_approve_view, name="order_approve"),
    path("orders/<str:number>/reject/", views.order_reject_view, name="order_reject"),
    path("orders/<str:number>/cancel/", views.order_cancel_view, name="order_cancel"),
    path("approvals/", views.approvals, name="approvals"),
    # Issuance: progress and card lists.
    path("cards/", views.card_list, name="card_list"),
    path("cards/<str:serial>/", views.card_detail, name="card_detail"),
    path("orders/<str:number>/cards/", views.order_cards, name="order_cards"),
    path("orders/<str:number>/progress.json", views.order_progress, name="order_progress"),
    # Delivery by file: the page of an order's code downloads and the archive itself.
    path("orders/<str:number>/codes/", views.code_download, name="code_download"),
    path("orders/<str:number>/codes/archive/", views.code_archive, name="code_archive"),
    # Delivery to recipients: the one-time link (no account) and the buyer's actions.
    # The card's balance page behind the same link (before r/<token>/, which would take it).
    path("r/balance/", views.recipient_balance, name="recipient_balance"),
    path("r/<str:token>/", views.recipient_link, name="recipient_link"),
    path("r/", views.recipient_card, name="recipient_card"),
    path(
        "orders/<str:number>/recipients/<uuid:delivery>/resend/",
        views.recipient_resend,
        name="recipient_resend",
    ),
    path(
        "orders/<str:number>/recipients/<uuid:delivery>/change/",
        views.recipient_change,
        name="recipient_change",
    ),
]
