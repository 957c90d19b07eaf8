from django.urls import URLPattern, path

from billing import views_receivables as views

urlpatterns: list[URLPattern] = [
    path("aging/", views.aging, name="aging"),
    path("payments/", views.payment_history, name="payment_history"),
]
