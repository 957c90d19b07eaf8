from django.urls import URLPattern, path

from cards import views_cards

urlpatterns: list[URLPattern] = [
    path("cards/", views_cards.card_list, name="card_list"),
    path("orders/<str:number>/cards/", views_cards.order_cards, name="order_cards"),
    path("orders/<str:number>/progress.json", views_cards.order_progress, name="order_progress"),
]
