"""Guessing alerts in the admin: the look-up blocks in force (the console's queue links here).

A block names its subject by kind: a merchant key by its prefix, a merchant by its id, a client
address, or a code prefix, which is kept only as a keyed digest (nothing of a code); the list
shows a few characters of that digest, enough to tell two apart."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from billing.admin import ReadOnlyAdmin
from cards.models import LookupBlock
from console.queues import lookup_blocks_in_force

SUBJECT_KINDS = {
    "key": _("Merchant API key"),
    "merchant": _("Merchant"),
    "ip": _("Client address"),
    "code": _("Code prefix"),
}


@admin.register(LookupBlock)
class LookupBlockAdmin(ReadOnlyAdmin):
    list_display = ["subject_kind", "subject_shown", "window_start", "until"]
    fields = ["subject_kind", "subject_shown", "window_start", "until"]
    readonly_fields = ["subject_kind", "subject_shown", "window_start"]
    ordering = ["until", "id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LookupBlock]:
        return lookup_blocks_in_force().order_by("until", "id")

    @admin.display(description=_("blocked"))
    def subject_kind(self, obj: LookupBlock) -> str:
        kind = obj.subject.partition(":")[0]
        return str(SUBJECT_KINDS.get(kind, kind))

    @admin.display(description=_("subject"))
    def subject_shown(self, obj: LookupBlock) -> str:
        kind, _sep, ident = obj.subject.partition(":")
        if kind == "key":
            return f"ecm_{ident}_…"
        if kind == "code":
            return f"{ident[:8]}…"
        return ident

    @admin.display(description=_("since"))
    def window_start(self, obj: LookupBlock) -> datetime.datetime:
        return obj.until - datetime.timedelta(seconds=int(settings.MERCHANT_FAILURE_WINDOW_SECONDS))
