"""Operators' admin for the catalog, orders, purchase registrations, the risk review queue,
and issuance: batches (with a retry of failed ones), cards and card transactions.

Every change of state goes through the services (``cards.services.workflow``); the admin only
chooses the order and collects the operator's reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing.admin import ReadOnlyAdmin, ReadOnlyInline
from billing.money import format_cny
from cards.models import (
    Batch,
    BatchStatus,
    Card,
    CardProduct,
    CardTransaction,
    Chunk,
    Order,
    OrderLine,
    OrderStatus,
    PurchaseRegistration,
    RecipientDelivery,
    RiskReviewOrder,
)
from cards.services.issuance import batch_retry
from cards.services.workflow import RISK_FLAG_LABELS, order_review_approve, order_review_reject
from portal.models import User
from portal.services.audit import client_ip

REVIEW_PERMISSION = "cards.review_order"


# --- Catalog -------------------------------------------------------------------------------------


class CardProductForm(forms.ModelForm):
    """Face values typed as "100, 200, 500" rather than JSON; the rules are in the model's
    ``clean`` (the prepaid card caps and validity, each error naming its rule)."""

    face_values = forms.CharField(
        label=_("face values"),
        required=False,
        help_text=_("Separate values with commas, such as 100, 200, 500; leave empty for a range."),
    )

    class Meta:
        model = CardProduct
        fields = [
            "name",
            "name_en",
            "description",
            "card_type",
            "face_values",
            "face_min",
            "face_max",
            "face_step",
            "validity_months",
            "active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.face_values:
            self.initial["face_values"] = ", ".join(
                f"{value:f}" for value in self.instance.listed_face_values()
            )

    def clean_face_values(self) -> list[str]:
        text = self.cleaned_data.get("face_values") or ""
        for separator in (
            "\uff0c",
            "\u3001",
            ";",
            "\uff1b",
            "\n",
        ):  # full-width comma, ideographic comma, semicolons
            text = text.replace(separator, ",")
        return [part.strip() for part in text.split(",") if part.strip()]


@admin.register(CardProduct)
class CardProductAdmin(admin.ModelAdmin):
    form = CardProductForm
    list_display = [
        "name",
        "name_en",
        "card_type",
        "face_values_label",
        "validity_months",
        "active",
    ]
    list_filter = ["card_type", "active"]
    search_fields = ["name", "name_en"]
    readonly_fields = ["public_id", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Orders keep pointing at their products: take a product off sale instead.
        return False

    @admin.display(description=_("face values"))
    def face_values_label(self, obj: CardProduct) -> str:
        return obj.face_values_label


# --- Purchase registrations ----------------------------------------------------------------------


@admin.register(PurchaseRegistration)
class PurchaseRegistrationAdmin(ReadOnlyAdmin):
    """Kept at least five years, never edited or deleted; the ID number only ever masked."""

    list_display = ["created_at", "company_name", "agent_name", "id_type", "id_number_masked"]
    list_filter = ["id_type"]
    search_fields = ["company_name", "credit_code", "agent_name"]
    date_hierarchy = "created_at"
    fields = [
        "public_id",
        "company",
        "company_name",
        "credit_code",
        "agent_name",
        "id_type",
        "id_number_masked",
        "contact_phone",
        "created_by",
        "created_at",
    ]


# --- Orders --------------------------------------------------------------------------------------


def risk_flag_labels(flags: Iterable[str]) -> str:
    return ", ".join(str(RISK_FLAG_LABELS.get(flag, flag)) for flag in flags)


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = [
        "position",
        "product",
        "face_value",
        "quantity",
        "unit_price",
        "amount",
        "recipient_name",
        "employee_id",
        "cost_center",
    ]


ORDER_FIELDS = (
    "number",
    "company",
    "status",
    "payment_method",
    "delivery_method",
    "client_reference",
    "note",
    "face_total",
    "total",
    "card_count",
    "line_count",
    "needs_approval",
    "risk_flags_display",
    "registration",
    "created_by",
    "created_at",
    "submitted_at",
    "approved_by",
    "approved_at",
    "reviewed_by",
    "reviewed_at",
    "funded_at",
    "closed_at",
    "closing_reason",
    "invoice",
    "proforma",
)


class OrderAdminBase(ReadOnlyAdmin):
    fields = ORDER_FIELDS
    inlines = [OrderLineInline]
    list_select_related = ["company", "created_by"]
    search_fields = ["number", "client_reference", "company__legal_name"]
    change_form_template = "admin/cards/order/change_form.html"

    @admin.display(description=_("risk flags"))
    def risk_flags_display(self, obj: Order) -> str:
        return risk_flag_labels(obj.risk_flags) or "-"

    @admin.display(description=_("price"), ordering="total")
    def total_display(self, obj: Order) -> str:
        return format_cny(obj.total)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        order = self.get_object(request, object_id)
        review_links = None
        if (
            order is not None
            and order.status == OrderStatus.PENDING_REVIEW
            and self.has_review_permission(request)
        ):
            review_links = {
                "approve": reverse("admin:cards_riskrevieworder_approve", args=[order.pk]),
                "reject": reverse("admin:cards_riskrevieworder_reject", args=[order.pk]),
            }
        return super().change_view(
            request,
            object_id,
            form_url,
            extra_context={**(extra_context or {}), "review_links": review_links},
        )


@admin.register(Order)
class OrderAdmin(OrderAdminBase):
    list_display = [
        "number",
        "company",
        "status",
        "payment_method",
        "total_display",
        "card_count",
        "created_by",
        "created_at",
        "submitted_at",
    ]
    list_filter = ["status", "payment_method", "delivery_method", "created_at"]
    date_hierarchy = "created_at"


# --- Risk review queue ---------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("The buyer sees this reason in the portal and in the email."),
    )


@admin.register(RiskReviewOrder)
class RiskReviewOrderAdmin(OrderAdminBase):
    """Orders held for an operator: over the platform limit, too many or too much in a day, or
    several just under a threshold. Clearing one funds it (invoice or pro-forma); rejecting one
    releases its held credit and tells the buyer why."""

    list_display = [
        "number",
        "company",
        "total_display",
        "payment_method",
        "risk_flags_display",
        "submitted_at",
        "created_by",
    ]
    list_filter = ["payment_method"]
    ordering = ["submitted_at", "id"]
    actions = ["approve_selected", "reject_selected"]
    review_template = "admin/cards/riskrevieworder/review.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[RiskReviewOrder]:
        return super().get_queryset(request).filter(status=OrderStatus.PENDING_REVIEW)

    def get_urls(self) -> list[Any]:
        info = (self.opts.app_label, self.opts.model_name)
        return [
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="{}_{}_approve".format(*info),
            ),
            path(
                "<path:object_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="{}_{}_reject".format(*info),
            ),
            *super().get_urls(),
        ]

    # -- one order at a time, from its page

    def _review_object(self, request: HttpRequest, object_id: str) -> Order:
        if not self.has_review_permission(request):
            raise PermissionDenied
        # Any order: one that has left the queue gets a clear message from the service.
        order = (
            Order.objects.select_related("company").filter(pk=object_id).first()
            if object_id.isdigit()
            else None
        )
        if order is None:
            raise Http404
        return order

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self._review_object(request, object_id)
        if request.method == "POST":
            self._decide(request, [order], approve=True)
            return HttpResponseRedirect(reverse("admin:cards_riskrevieworder_changelist"))
        return self._review_page(request, [order], approve=True, form=None)

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self._review_object(request, object_id)
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            self._decide(request, [order], approve=False, reason=form.cleaned_data["reason"])
            return HttpResponseRedirect(reverse("admin:cards_riskrevieworder_changelist"))
        return self._review_page(request, [order], approve=False, form=form)

    # -- several at once, from the queue

    @admin.action(description=_("Approve the selected orders"), permissions=["review"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._decide(request, list(queryset.order_by("pk")), approve=True)

    @admin.action(description=_("Reject the selected orders…"), permissions=["review"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        orders = list(queryset.order_by("pk"))
        form = ReasonForm(request.POST if "post" in request.POST else None)
        if "post" in request.POST and form.is_valid():
            self._decide(request, orders, approve=False, reason=form.cleaned_data["reason"])
            return None
        return self._review_page(request, orders, approve=False, form=form, bulk=True)

    def _review_page(
        self,
        request: HttpRequest,
        orders: list[Order],
        *,
        approve: bool,
        form: ReasonForm | None,
        bulk: bool = False,
    ) -> TemplateResponse:
        title = _("Approve orders in risk review") if approve else _("Reject orders in risk review")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "orders": [
                {
                    "order": order,
                    "total": format_cny(order.total),
                    "flags": risk_flag_labels(order.risk_flags) or "-",
                }
                for order in orders
            ],
            "approve": approve,
            "form": form,
            "bulk": bulk,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, self.review_template, context)

    def _decide(
        self, request: HttpRequest, orders: list[Order], *, approve: bool, reason: str = ""
    ) -> None:
        operator: User = request.user  # type: ignore[assignment]
        ip = client_ip(request)
        for order in orders:
            try:
                if approve:
                    done = order_review_approve(order=order, operator=operator, ip=ip)
                else:
                    done = order_review_reject(order=order, operator=operator, reason=reason, ip=ip)
            except (ValidationError, PermissionDenied) as exc:
                detail = (
                    " ".join(exc.messages)
                    if isinstance(exc, ValidationError)
                    else str(exc) or _("not allowed.")
                )
                self.message_user(
                    request,
                    _("Order %(number)s: %(error)s") % {"number": order.number, "error": detail},
                    messages.ERROR,
                )
                continue
            self.message_user(
                request,
                (
                    _("Order %(number)s cleared; it is now %(status)s.")
                    if approve
                    else _("Order %(number)s rejected; the buyer is told why.")
                )
                % {"number": done.number, "status": done.get_status_display()},
                messages.SUCCESS,
            )


# --- Issuance: batches, cards, card transactions -------------------------------------------------


class EstimatedCountPaginator(Paginator):
    """Counting every row of a table of millions of cards takes seconds; an unfiltered list
    shows PostgreSQL's estimate instead. Any filter or search counts for real."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if (
            connection.vendor == "postgresql"
            and isinstance(queryset, QuerySet)
            and not queryset.query.where
        ):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > 10_000:
                return int(row[0])
        return super().count


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


# Never loaded for the admin's pages, let alone shown: the code's digest, ciphertext and key id.
CARD_SECRET_FIELDS = ("digest", "ciphertext", "key_id")


class CardTransactionInline(ReadOnlyInline):
    model = CardTransaction
    fields = ["created_at", "kind", "amount", "balance_after", "merchant_reference"]
    ordering = ["-created_at", "-id"]


@admin.register(Card)
class CardAdmin(ReadOnlyAdmin):
    """Cards are read here, never edited: a balance moves only through card transactions. The
    search takes one exact serial; it never looks at codes."""

    list_display = [
        "serial_display",
        "last4_display",
        "face_value",
        "balance",
        "status",
        "expires_at",
    ]
    list_filter = ["status"]
    search_fields = ["serial"]
    search_help_text = _("One card's 16-digit serial (spaces are ignored).")
    fields = [
        "serial_display",
        "last4_display",
        "batch",
        "face_value",
        "balance",
        "status",
        "expires_at",
        "created_at",
    ]
    exclude = CARD_SECRET_FIELDS
    inlines = [CardTransactionInline]
    ordering = ["serial"]
    sortable_by = ["serial_display"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Card]:
        return super().get_queryset(request).defer(*CARD_SECRET_FIELDS)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.replace(" ", "").replace("-", "")
        if not term:
            return queryset, False
        if not term.isascii() or not term.isdigit() or len(term) != 16:
            return queryset.none(), False
        return queryset.filter(serial=int(term)), False

    @admin.display(description=_("serial"), ordering="serial")
    def serial_display(self, obj: Card) -> str:
        return obj.serial_display

    @admin.display(description=_("last 4"))
    def last4_display(self, obj: Card) -> str:
        return f"···{obj.last4}"


@admin.register(CardTransaction)
class CardTransactionAdmin(ReadOnlyAdmin):
    """Append-only movements of card balances. Search by the card's exact serial."""

    list_display = [
        "created_at",
        "card_serial",
        "kind",
        "amount",
        "balance_after",
        "merchant_reference",
    ]
    list_filter = ["kind"]
    search_fields = ["card__serial"]
    search_help_text = _("One card's 16-digit serial (spaces are ignored).")
    fields = [
        "card_serial",
        "kind",
        "amount",
        "balance_after",
        "merchant_reference",
        "idempotency_key",
        "created_at",
    ]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CardTransaction]:
        return (
            super()
            .get_queryset(request)
            .select_related("card")
            .defer(*(f"card__{name}" for name in CARD_SECRET_FIELDS))
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.replace(" ", "").replace("-", "")
        if not term:
            return queryset, False
        if not term.isascii() or not term.isdigit() or len(term) != 16:
            return queryset.none(), False
        return queryset.filter(card__serial=int(term)), False

    @admin.display(description=_("card"), ordering="card__serial")
    def card_serial(self, obj: CardTransaction) -> str:
        return str(obj.card)


@admin.register(RecipientDelivery)
class RecipientDeliveryAdmin(ReadOnlyAdmin):
    """Delivery to recipients, for the service desk. Never shows the link token's digest."""

    list_display = (
        "order",
        "card_serial",
        "masked_recipient",
        "status",
        "send_count",
        "sent_at",
        "opened_at",
        "revealed_at",
        "bounced_at",
        "last_error",
    )
    list_filter = ("status",)
    search_fields = ("order__number",)
    list_select_related = ("order", "card")
    exclude = ("token_digest",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RecipientDelivery]:
        return (
            super().get_queryset(request).defer("token_digest", "card__ciphertext", "card__digest")
        )

    @admin.display(description=_("serial"))
    def card_serial(self, obj: RecipientDelivery) -> str:
        return obj.card.serial_display

    @admin.display(description=_("recipient"))
    def masked_recipient(self, obj: RecipientDelivery) -> str:
        from portal.crypto import mask

        parts = [obj.recipient_name]
        if obj.email:
            name, _sep, domain = obj.email.partition("@")
            parts.append(f"{name[:2]}***@{domain}")
        if obj.mobile:
            parts.append(mask(obj.mobile, keep_start=3, keep_end=4))
        return " · ".join(p for p in parts if p)


# Import and export of products, and order files uploaded by support: cards/admin_import.py.
from cards import admin_import  # noqa: E402, F401
