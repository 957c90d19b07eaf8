"""The email to a company's owners when one of its webhook endpoints was disabled."""

from __future__ import annotations

from portal.models import Role
from portal.notices import (
    Notice,
    NoticeMarker,
    notice_compose,
    notice_link,
    notice_recipients,
    notice_send,
)
from webhooks.models import WebhookEndpoint


def endpoint_disabled_notify(*, endpoint_id: int) -> str:
    """Tell the active owners, once per disabling: ``sent``, ``already-sent``, ``skipped`` (no
    such endpoint, or enabled again) or ``no-recipients``."""
    marker = NoticeMarker(WebhookEndpoint, endpoint_id, "owners_notified_at")

    def prepare() -> Notice | str:
        endpoint = WebhookEndpoint.objects.select_related("company").filter(pk=endpoint_id).first()
        if endpoint is None or endpoint.disabled_at is None:
            return "skipped"
        if marker.is_set(endpoint):
            return "already-sent"
        subject, body = notice_compose(
            "emails/webhook_endpoint_disabled",
            {"endpoint": endpoint, "link": notice_link("webhooks:endpoint_list")},
        )
        return Notice(
            to=notice_recipients(endpoint.company, roles=[Role.OWNER]), subject=subject, body=body
        )

    return notice_send(prepare=prepare, marker=marker)
