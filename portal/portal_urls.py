from django.contrib.auth import views as auth_views
from django.urls import path

from portal.views import api_keys as api_key_views
from portal.views import auth, company_documents, pages

app_name = "portal"

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("healthz", pages.healthz, name="healthz"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="portal/auth/password_reset_sent.html"
        ),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="portal/auth/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    path("2fa/", auth.two_factor_settings, name="two_factor_settings"),
    path("2fa/setup/", auth.two_factor_setup, name="two_factor_setup"),
    path("2fa/verify/", auth.two_factor_verify, name="two_factor_verify"),
    path("2fa/disable/", auth.two_factor_disable, name="two_factor_disable"),
    path("no-company/", pages.no_company, name="no_company"),
    path("companies/<uuid:public_id>/", pages.company_detail, name="company_detail"),
    path("companies/<uuid:public_id>/switch/", pages.company_switch, name="company_switch"),
    path("members/", pages.member_list, name="members"),
    path("members/<uuid:public_id>/", pages.member_detail, name="member_detail"),
    path("members/<uuid:public_id>/role/", pages.member_change_role, name="member_change_role"),
    path("members/<uuid:public_id>/remove/", pages.member_remove, name="member_remove"),
    path("invitations/<uuid:public_id>/revoke/", pages.invitation_revoke, name="invitation_revoke"),
    path("invite/accept/", pages.invitation_accept, name="invitation_accept"),
    path("invite/<str:token>/", pages.invitation_open, name="invitation_open"),
    path("settings/api-keys/", api_key_views.api_key_list, name="api_keys"),
    path(
        "settings/api-keys/<uuid:public_id>/revoke/",
        api_key_views.api_key_revoke,
        name="api_key_revoke",
    ),
    path(
        "settings/company-documents/",
        company_documents.company_documents,
        name="company_documents",
    ),
    path("audit/", pages.audit_list, name="audit"),
    path("audit/<uuid:public_id>/", pages.audit_detail, name="audit_detail"),
]
