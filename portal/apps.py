from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Portal")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # Deploy checks: the mail spool directory, the proxy count; and the signal handlers that
        # carry a request's ID into the Celery tasks it queues.
        from portal import client_ip, mail, request_id  # noqa: F401
        from portal.db_roles import grant_after_migrate

        post_migrate.connect(grant_after_migrate, sender=self, dispatch_uid="portal-db-roles")

        from portal.third_party_strings import translate_totp_device

        translate_totp_device()
