from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="endpoint_list"),
    path("events/", views.event_list, name="event_list"),
    path("<uuid:public_id>/", views.endpoint_detail, name="endpoint_detail"),
    path("<uuid:public_id>/rotate/", views.endpoint_rotate, name="endpoint_rotate"),
    path("<uuid:public_id>/enable/", views.endpoint_enable, name="endpoint_enable"),
    path("<uuid:public_id>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("<uuid:public_id>/replay/", views.endpoint_replay, name="endpoint_replay"),
]
