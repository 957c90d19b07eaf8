"""Delivery by file: the page of an order's code downloads and the archive itself."""

from django.urls import URLPattern, path

from cards import views_delivery

urlpatterns: list[URLPattern] = [
    path("orders/<str:number>/codes/", views_delivery.code_download, name="code_download"),
    path("orders/<str:number>/codes/archive/", views_delivery.code_archive, name="code_archive"),
]
