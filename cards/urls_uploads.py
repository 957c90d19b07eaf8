"""Order files: upload, the check's preview and progress, error file, confirm, discard, history.

Included from cards/urls.py before ``orders/<str:number>/``, which would otherwise take
``orders/upload/`` and ``orders/uploads/`` for order numbers."""

from django.urls import URLPattern, path

from cards import views_uploads

urlpatterns: list[URLPattern] = [
    path("orders/upload/", views_uploads.upload_new, name="upload_new"),
    path(
        "orders/upload/template-<str:language>.<str:fmt>",
        views_uploads.upload_template_view,
        name="upload_template",
    ),
    path("orders/uploads/", views_uploads.upload_list, name="upload_list"),
    path("orders/uploads/<uuid:public_id>/", views_uploads.upload_detail, name="upload_detail"),
    path(
        "orders/uploads/<uuid:public_id>/progress.json",
        views_uploads.upload_progress_view,
        name="upload_progress",
    ),
    path(
        "orders/uploads/<uuid:public_id>/errors.<str:fmt>",
        views_uploads.upload_errors_view,
        name="upload_errors",
    ),
    path(
        "orders/uploads/<uuid:public_id>/confirm/",
        views_uploads.upload_confirm_view,
        name="upload_confirm",
    ),
    path(
        "orders/uploads/<uuid:public_id>/discard/",
        views_uploads.upload_discard_view,
        name="upload_discard",
    ),
]
