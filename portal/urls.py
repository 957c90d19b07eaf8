from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _

from portal.admin_site import PortalAdminSite
from portal.views.errors import API_NOT_FOUND, api_not_found

# Staff sign in to the admin with a TOTP code as well as their password.
admin.site.__class__ = PortalAdminSite
admin.site.site_header = _("E-card Portal operations")
admin.site.site_title = _("E-card Portal operations")

urlpatterns = [
    path(settings.ADMIN_PATH, admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("portal.api.urls")),
    # Whatever under /api/ the API's routes leave: a JSON 404, also with DEBUG on.
    re_path(r"^api(?:/|$)", api_not_found, name=API_NOT_FOUND),
    path("", include("cards.urls")),
    path("", include("billing.urls")),
    path("expenses/", include("expenses.urls")),
    path("sso/", include("sso.urls")),
    path("settings/webhooks/", include("webhooks.urls")),
    path("", include("portal.portal_urls")),
]

# Under /api/ these answer JSON in the API's error shape; elsewhere Django's HTML pages.
handler400 = "portal.views.errors.bad_request"
handler403 = "portal.views.errors.permission_denied"
handler404 = "portal.views.errors.page_not_found"
handler500 = "portal.views.errors.server_error"
