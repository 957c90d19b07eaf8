"""Operators' admin for issuance: batches (the cards of one order line) and their chunks, with a
retry of failed batches through ``cards.services.issuance``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing.admin import ReadOnlyAdmin, ReadOnlyInline
from cards.models import Batch, BatchStatus, Chunk
from cards.services.issuance import batch_retry
from portal.models import User
from portal.services.audit import client_ip

# --- Issuance: batches, cards, card transactions -------------------------------------------------


class ChunkInline(ReadOnlyInline):
    model = Chunk
    fields = [
        "index",
        "offset",
        "count",
        "status",
        "attempts",
        "enqueued_at",
        "finished_at",
        "last_error",
    ]


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdmin):
    """The cards of one order line. A failed batch names its reason; after fixing the cause,
    "Retry failed batches" sends its unfinished parts again."""

    list_display = [
        "order_number",
        "line_position",
        "company",
        "quantity",
        "generated",
        "canaries",
        "status",
        "failure_reason",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status"]
    list_select_related = ["order", "line", "company"]
    search_fields = ["order__number"]
    search_help_text = _("Order number.")
    ordering = ["-id"]
    actions = ["retry_failed"]
    inlines = [ChunkInline]
    fields = [
        "public_id",
        "order",
        "line",
        "company",
        "product",
        "face_value",
        "quantity",
        "generated",
        "canaries",
        "status",
        "failure_reason",
        "first_serial",
        "chunk_size",
        "chunk_count",
        "expires_at",
        "created_at",
        "started_at",
        "finished_at",
    ]

    @admin.display(description=_("order"), ordering="order__number")
    def order_number(self, obj: Batch) -> str:
        return obj.order.number

    @admin.display(description=_("line"), ordering="line__position")
    def line_position(self, obj: Batch) -> int:
        return obj.line.position

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("cards.change_batch")

    @admin.action(description=_("Retry failed batches"), permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Batch]) -> None:
        operator: User = request.user  # type: ignore[assignment]
        ip = client_ip(request)
        for batch in queryset.select_related("order", "line").order_by("pk"):
            label = {"number": batch.order.number, "line": batch.line.position}
            if batch.status != BatchStatus.FAILED:
                self.message_user(
                    request,
                    _("Order %(number)s, line %(line)s: not failed (%(status)s), nothing to retry.")
                    % {**label, "status": batch.get_status_display()},
                    messages.WARNING,
                )
                continue
            sent = batch_retry(batch=batch, actor=operator, ip=ip)
            if sent:
                self.message_user(
                    request,
                    ngettext(
                        "Order %(number)s, line %(line)s: %(count)s part sent to the workers "
                        "again.",
                        "Order %(number)s, line %(line)s: %(count)s parts sent to the workers "
                        "again.",
                        sent,
                    )
                    % {**label, "count": sent},
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    _("Order %(number)s, line %(line)s: it is no longer failed, nothing to retry.")
                    % label,
                    messages.WARNING,
                )
