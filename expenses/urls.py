"""The portal's expense reconciliation pages (/expenses/...). Each part registers its own."""

from django.urls import path  # noqa: F401

app_name = "expenses"

urlpatterns: list = []
