"""Operators' admin for merchants: the merchants, their API keys (created here, the secret shown
once; revoked; unfrozen with a reason), open and past holds, and the failed card look-ups at the
merchant API with their real reasons (never a code).

Every change goes through the services (``cards.services.spend``); the admin collects the
operator's input and shows the result.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.admin import ReadOnlyAdmin, ReadOnlyInline
from billing.admin.base import money_column
from cards.admin.cards import CARD_SECRET_FIELDS
from cards.models import CardHold, Merchant, MerchantApiKey, MerchantLookupFailure
from cards.services.spend import (
    merchant_key_create,
    merchant_key_revoke,
    merchant_key_unfreeze,
    merchant_save,
)
from cards.services.spend.keys import FREEZE_REASON_LABELS
from portal.models import User
from portal.services.audit import client_ip


def _form_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's refusal on the form: its field errors on the fields, others at the top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def key_state(key: MerchantApiKey) -> str:
    if key.revoked_at is not None:
        return gettext("Revoked")
    if key.frozen_at is not None:
        return gettext("Frozen")
    return gettext("Active")


def freeze_reason(key: MerchantApiKey) -> str:
    return str(FREEZE_REASON_LABELS.get(key.frozen_reason, key.frozen_reason)) or "-"


def scope_labels(key: MerchantApiKey) -> str:
    labels = dict(MerchantApiKey.Scope.choices)
    return ", ".join(str(labels.get(scope, scope)) for scope in key.scopes)


class MerchantApiKeyInline(ReadOnlyInline):
    model = MerchantApiKey
    fields = [
        "name",
        "prefix_display",
        "scopes_display",
        "created_at",
        "last_used_at",
        "frozen_at",
        "revoked_at",
    ]
    show_change_link = True
    verbose_name_plural = _("API keys (create them under Merchant API keys)")

    @admin.display(description=_("scopes"))
    def scopes_display(self, obj: MerchantApiKey) -> str:
        return scope_labels(obj)

    @admin.display(description=_("key prefix"))
    def prefix_display(self, obj: MerchantApiKey) -> str:
        return f"{obj.shown_prefix}…"


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    """Merchants that accept the cards: added and edited here, never deleted (their redemptions
    and payables point at them). A suspended merchant's keys stop working at once."""

    list_display = ["name", "status", "settlement_bank", "key_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    fields = [
        "name",
        "status",
        "settlement_account_name",
        "settlement_bank",
        "settlement_account_number",
    ]
    inlines = [MerchantApiKeyInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Merchant]:
        return super().get_queryset(request).annotate(keys=Count("api_keys"))

    @admin.display(description=_("API keys"), ordering="keys")
    def key_count(self, obj: Merchant) -> int:
        return getattr(obj, "keys", 0)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Merchant, form: Any, change: bool) -> None:
        operator: User = request.user  # type: ignore[assignment]
        merchant_save(
            merchant=obj, changed=list(form.changed_data), actor=operator, ip=client_ip(request)
        )


class MerchantKeyCreateForm(forms.Form):
    merchant = forms.ModelChoiceField(
        label=_("Merchant"), queryset=Merchant.objects.order_by("name")
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What uses the key, such as “Store 12 checkout”."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=MerchantApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Give a key only what its checkout needs."),
    )


class UnfreezeForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("What you checked with the merchant; the audit trail keeps it."),
    )


@admin.register(MerchantApiKey)
class MerchantApiKeyAdmin(ReadOnlyAdmin):
    """Merchant API keys. Adding one shows its secret once; a key is then revoked, or, when the
    merchant API froze it (a burst of failed look-ups, a canary card), unfrozen with a reason."""

    list_display = [
        "prefix_display",
        "merchant",
        "name",
        "scopes_display",
        "state",
        "freeze_reason_display",
        "last_used_at",
        "created_at",
    ]
    list_filter = ["merchant"]
    list_select_related = ["merchant"]
    search_fields = ["prefix", "merchant__name", "name"]
    fields = [
        "merchant",
        "name",
        "prefix_display",
        "scopes_display",
        "state",
        "created_by_display",
        "created_at",
        "last_used_at",
        "frozen_at",
        "freeze_reason_display",
        "revoked_at",
    ]
    exclude = ["digest"]
    change_form_template = "admin/cards/merchantapikey/change_form.html"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("cards.add_merchantapikey")

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("cards.change_merchantapikey")

    @admin.display(description=_("key prefix"), ordering="prefix")
    def prefix_display(self, obj: MerchantApiKey) -> str:
        return f"{obj.shown_prefix}…"

    @admin.display(description=_("state"))
    def state(self, obj: MerchantApiKey) -> str:
        return key_state(obj)

    @admin.display(description=_("scopes"))
    def scopes_display(self, obj: MerchantApiKey) -> str:
        return scope_labels(obj)

    @admin.display(description=_("created by"))
    def created_by_display(self, obj: MerchantApiKey) -> str:
        return str(obj.created_by or "-")

    @admin.display(description=_("why frozen"))
    def freeze_reason_display(self, obj: MerchantApiKey) -> str:
        return freeze_reason(obj) if obj.frozen_at is not None else "-"

    def get_urls(self) -> list[Any]:
        info = (self.opts.app_label, self.opts.model_name)
        return [
            path(
                "<path:object_id>/revoke/",
                self.admin_site.admin_view(self.revoke_view),
                name="{}_{}_revoke".format(*info),
            ),
            path(
                "<path:object_id>/unfreeze/",
                self.admin_site.admin_view(self.unfreeze_view),
                name="{}_{}_unfreeze".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        key = self._key(object_id)
        links: dict[str, str] = {}
        if key is not None and self.has_manage_permission(request) and key.revoked_at is None:
            links["revoke"] = reverse("admin:cards_merchantapikey_revoke", args=[key.pk])
            if key.frozen_at is not None:
                links["unfreeze"] = reverse("admin:cards_merchantapikey_unfreeze", args=[key.pk])
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "key_links": links}
        )

    def _key(self, object_id: str) -> MerchantApiKey | None:
        if not str(object_id).isdigit():
            return None
        return MerchantApiKey.objects.select_related("merchant").filter(pk=object_id).first()

    def _managed_key(self, request: HttpRequest, object_id: str) -> MerchantApiKey:
        if not self.has_manage_permission(request):
            raise PermissionDenied
        key = self._key(object_id)
        if key is None:
            raise Http404
        return key

    def _page(self, request: HttpRequest, template: str, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            f"admin/cards/merchantapikey/{template}",
            {**self.admin_site.each_context(request), "opts": self.opts, **context},
        )

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = MerchantKeyCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            operator: User = request.user  # type: ignore[assignment]
            try:
                key, plaintext = merchant_key_create(
                    merchant=form.cleaned_data["merchant"],
                    name=form.cleaned_data["name"],
                    scopes=list(form.cleaned_data["scopes"]),
                    actor=operator,
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                # The only time the secret exists outside the merchant's systems: never cached,
                # never put in a message (messages are stored in the session).
                response = self._page(
                    request,
                    "created.html",
                    title=gettext("Merchant API key created"),
                    key=key,
                    plaintext=plaintext,
                )
                response.render()
                add_never_cache_headers(response)
                return response
        return self._page(request, "add.html", title=gettext("Add a merchant API key"), form=form)

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        key = self._managed_key(request, object_id)
        if request.method == "POST":
            operator: User = request.user  # type: ignore[assignment]
            merchant_key_revoke(key=key, actor=operator, ip=client_ip(request))
            self.message_user(
                request,
                gettext("Key %(prefix)s of %(merchant)s is revoked; it no longer works.")
                % {"prefix": key.shown_prefix, "merchant": key.merchant.name},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:cards_merchantapikey_change", args=[key.pk]))
        return self._page(
            request, "revoke.html", title=gettext("Revoke a merchant API key"), key=key
        )

    def unfreeze_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        key = self._managed_key(request, object_id)
        form = UnfreezeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            operator: User = request.user  # type: ignore[assignment]
            try:
                merchant_key_unfreeze(
                    key=key,
                    reason=form.cleaned_data["reason"],
                    actor=operator,
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                self.message_user(
                    request,
                    gettext("Key %(prefix)s of %(merchant)s works again.")
                    % {"prefix": key.shown_prefix, "merchant": key.merchant.name},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:cards_merchantapikey_change", args=[key.pk])
                )
        return self._page(
            request,
            "unfreeze.html",
            title=gettext("Unfreeze a merchant API key"),
            key=key,
            why=freeze_reason(key),
            form=form,
        )


@admin.register(MerchantLookupFailure)
class MerchantLookupFailureAdmin(ReadOnlyAdmin):
    """Codes that found no usable card at the merchant API, with the real reason the merchant
    was not told. Never the code: at most the first digits of the serial of a card it found."""

    list_display = [
        "created_at",
        "merchant",
        "key_prefix",
        "client_ip",
        "endpoint",
        "reason",
        "serial_prefix",
    ]
    list_filter = ["reason", "endpoint", "merchant"]
    list_select_related = ["merchant", "key"]
    search_fields = ["key__prefix", "client_ip"]
    search_help_text = _("A key prefix or a client address.")
    fields = [
        "created_at",
        "merchant",
        "key_prefix",
        "client_ip",
        "endpoint",
        "reason",
        "serial_prefix",
    ]
    date_hierarchy = "created_at"

    @admin.display(description=_("API key"), ordering="key__prefix")
    def key_prefix(self, obj: MerchantLookupFailure) -> str:
        return f"{obj.key.shown_prefix}…"


@admin.register(CardHold)
class CardHoldAdmin(ReadOnlyAdmin):
    """Holds merchants put on cards: open ones count against the card's available balance."""

    list_display = [
        "created_at",
        "card_serial",
        "merchant",
        money_column(CardHold, "amount"),
        money_column(CardHold, "captured"),
        "status",
        "expires_at",
        "merchant_reference",
    ]
    list_filter = ["status", "merchant"]
    search_fields = ["card__serial"]
    search_help_text = _("One card's 16-digit serial (spaces are ignored).")
    fields = [
        "card_serial",
        "merchant",
        "amount",
        "captured",
        "status",
        "merchant_reference",
        "created_at",
        "expires_at",
        "closed_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CardHold]:
        return (
            super()
            .get_queryset(request)
            .select_related("card", "merchant")
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
    def card_serial(self, obj: CardHold) -> str:
        return obj.card.serial_display
