from django.urls import path

from sso import views

app_name = "sso"

urlpatterns = [
    path("", views.sign_in, name="start"),
    path("again/", views.sign_in_again, name="again"),
    path("callback/", views.callback, name="callback"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/remove/", views.settings_remove, name="remove"),
]
