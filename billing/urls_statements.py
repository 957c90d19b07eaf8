from django.urls import URLPattern, path

from billing import views_statements as views

urlpatterns: list[URLPattern] = [
    path("statements/", views.statement_list, name="statement_list"),
    path("statements/request/", views.statement_request_view, name="statement_request"),
    path(
        "statements/<uuid:public_id>/<str:fmt>/",
        views.statement_download,
        name="statement_download",
    ),
]
