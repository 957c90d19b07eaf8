"""Delivery to recipients: the one-time link (no account) and the buyer's actions."""

from django.urls import path

from cards import views_recipient

urlpatterns = [
    path("r/<str:token>/", views_recipient.recipient_link, name="recipient_link"),
    path("r/", views_recipient.recipient_card, name="recipient_card"),
    path(
        "orders/<str:number>/recipients/<uuid:delivery>/resend/",
        views_recipient.recipient_resend,
        name="recipient_resend",
    ),
    path(
        "orders/<str:number>/recipients/<uuid:delivery>/change/",
        views_recipient.recipient_change,
        name="recipient_change",
    ),
]
