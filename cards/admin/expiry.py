"""Operators' admin for expiry: expired cards and their reactivation on a holder's request, and
the forms and page helpers the breakage decisions' admin (``cards.admin.breakage``) shares.

Every change goes through ``cards.services.expiry``; the admin only collects what the operator
types. A card's code is typed into a POST form (a password field: never shown back, never in a
URL); the serial may be in a URL, it is public.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from billing.admin.base import money_column
from billing.money import format_cny
from cards.admin.cards import CardAdmin
from cards.models import CardStatus, ExpiredCard
from cards.services import expiry
from portal.models import User
from portal.services.audit import client_ip

REACTIVATE_PERMISSION = "cards.change_expiredcard"
PROPOSE_PERMISSION = "cards.add_breakagedecision"
REVIEW_PERMISSION = "cards.change_breakagedecision"
FORM_TEMPLATE = "admin/cards/expiry_form.html"


class ReasonField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Reason"))
        kwargs.setdefault("max_length", 500)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "cols": 60}))
        kwargs.setdefault("help_text", _("Kept in the audit trail."))
        super().__init__(**kwargs)


class ReactivateForm(forms.Form):
    serial = forms.CharField(
        label=_("Serial"),
        max_length=32,
        required=False,
        help_text=_("The 16-digit serial printed on the card."),
    )
    code = forms.CharField(
        label=_("Or the card's code"),
        max_length=64,
        required=False,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        help_text=_("As the holder reads it out; it is not stored or shown."),
    )
    reason = ReasonField(help_text=_("For example: the holder's request, and how they asked."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("serial") or "").strip() and not (data.get("code") or "").strip():
            raise ValidationError(_("Type the card's serial or its code."), code="card_required")
        return data


class BreakageProposeForm(forms.Form):
    reason = ReasonField()


class BreakageReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            ("approve", _("Approve and post the entry")),
            ("reject", _("Reject")),
        ],
        widget=forms.RadioSelect,
    )
    note = ReasonField(
        label=_("Note"),
        required=False,
        help_text=_("Required to reject; kept in the audit trail."),
    )


class BreakageReverseForm(forms.Form):
    reason = ReasonField()


def form_page(
    admin_obj: admin.ModelAdmin,
    request: HttpRequest,
    *,
    title: str,
    form: forms.Form,
    intro: list[str],
    summary: list[tuple[str, str]],
    submit: str,
) -> TemplateResponse:
    context = {
        **admin_obj.admin_site.each_context(request),
        "opts": admin_obj.opts,
        "title": title,
        "form": form,
        "intro": intro,
        "summary": summary,
        "submit": submit,
        "media": admin_obj.media + form.media,
    }
    return TemplateResponse(request, FORM_TEMPLATE, context)


def show_refusal(form: forms.Form, exc: ValidationError) -> None:
    form.add_error(None, exc.messages)


# --- Expired cards and reactivation ---------------------------------------------------------


@admin.register(ExpiredCard)
class ExpiredCardAdmin(CardAdmin):
    """Expired cards (bearer cards past their date), searchable by one exact serial. An operator
    reactivates one on its holder's request, found by serial or code."""

    list_display = [
        "serial_display",
        "last4_display",
        money_column(ExpiredCard, "face_value"),
        money_column(ExpiredCard, "balance"),
        "expires_at",
        "reactivate_link",
    ]
    list_filter = []
    change_list_template = "admin/cards/expiredcard/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(status=CardStatus.EXPIRED)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "reactivate/",
                self.admin_site.admin_view(self.reactivate_view),
                name="cards_expiredcard_reactivate",
            ),
            *super().get_urls(),
        ]

    def has_reactivate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff) and request.user.has_perm(
            REACTIVATE_PERMISSION
        )

    @admin.display(description=_("reactivate"))
    def reactivate_link(self, obj: ExpiredCard) -> str:
        if obj.balance <= 0:
            return "-"
        url = reverse("admin:cards_expiredcard_reactivate") + f"?serial={obj.serial_display}"
        return format_html('<a href="{}">{}</a>', url, _("Reactivate…"))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {
            "reactivate_url": reverse("admin:cards_expiredcard_reactivate")
            if self.has_reactivate_permission(request)
            else "",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def reactivate_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_reactivate_permission(request):
            raise PermissionDenied
        initial = {"serial": request.GET.get("serial", "")[:32]}
        form = ReactivateForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            operator: User = request.user  # type: ignore[assignment]
            try:
                card = expiry.card_find(
                    serial=form.cleaned_data["serial"], code=form.cleaned_data["code"]
                )
                expiry.card_reactivate(
                    card_id=card.pk,
                    operator=operator,
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                show_refusal(form, exc)
            else:
                card.refresh_from_db(fields=["balance", "expires_at"])
                self.message_user(
                    request,
                    _("Card %(serial)s is active again with %(balance)s, valid until %(date)s.")
                    % {
                        "serial": card.serial_display,
                        "balance": format_cny(card.balance),
                        "date": timezone.localtime(card.expires_at).date().isoformat()
                        if card.expires_at
                        else "-",
                    },
                    messages.SUCCESS,
                )
                if request.user.has_perm("cards.view_card"):
                    return HttpResponseRedirect(reverse("admin:cards_card_change", args=[card.pk]))
                return HttpResponseRedirect(reverse("admin:cards_expiredcard_changelist"))
        return form_page(
            self,
            request,
            title=str(_("Reactivate an expired card")),
            form=form,
            intro=[
                str(
                    _(
                        "On the holder's request, an expired bearer card with money on it is "
                        "reactivated: valid for %(months)s more months from today, its balance "
                        "owed on the card again."
                    )
                    % {"months": settings.CARD_REACTIVATION_MONTHS}
                ),
                str(_("Find the card by its serial, or by the code the holder reads out.")),
            ],
            summary=[],
            submit=str(_("Reactivate")),
        )


__all__ = [
    "BreakageProposeForm",
    "BreakageReverseForm",
    "BreakageReviewForm",
    "ExpiredCardAdmin",
    "ReactivateForm",
]
