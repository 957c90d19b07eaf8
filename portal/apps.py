from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Portal")

    def ready(self) -> None:
        # Deploy checks: the mail spool directory, the proxy count.
        from portal import client_ip, mail  # noqa: F401
