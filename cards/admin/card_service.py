"""Card service in the operators' admin: a card's page (found by its exact serial, never by its
code) with its history and the acts (freeze, unfreeze, void, report lost and reissue, exchange),
each with a reason form. The queue of requests waiting for a second operator is in
``card_service_requests``.

The admin chooses the card and collects the reason; the services (``cards.services.
card_service``) decide, lock, move the balance, post and audit. Nothing here loads a code, its
digest or its ciphertext.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from billing.admin import ReadOnlyInline
from billing.money import format_cny
from cards.admin.cards import CARD_SECRET_FIELDS, CardAdmin
from cards.models import Card, CardServiceRequest, CardTransaction
from cards.services.card_service import (
    ACTIONS,
    ALLOWED_FROM,
    card_service_start,
    second_operator_threshold,
)
from portal.models import User
from portal.services.audit import client_ip

SERVICE_PERMISSION = "cards.service_card"
DECIDE_PERMISSION = "cards.decide_card_service"

ACTION_LABELS = {
    "freeze": gettext_lazy("Freeze"),
    "unfreeze": gettext_lazy("Unfreeze"),
    "void": pgettext_lazy("card service", "Void"),
    "reissue": gettext_lazy("Report lost and reissue"),
    "exchange": gettext_lazy("Exchange"),
}
ACTION_HELP = {
    "freeze": gettext_lazy("The card can no longer be spent until it is unfrozen."),
    "unfreeze": gettext_lazy("The card can be spent again."),
    "void": gettext_lazy("The balance leaves the card for good: a voided card never comes back."),
    "reissue": gettext_lazy(
        "The balance moves to a new card with a new code, delivered to the same recipient "
        "(a new link, or the order's code file); this card is voided."
    ),
    "exchange": gettext_lazy(
        "The expired card's balance moves to a new card valid for the product's full "
        "validity; this card is voided."
    ),
}


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Kept with the card's history and the audit trail."),
    )


def _errors(exc: ValidationError | PermissionDenied) -> list[str]:
    if isinstance(exc, PermissionDenied):
        return [str(exc) or _("Not allowed.")]
    return list(exc.messages)


class CardServiceTransactionInline(ReadOnlyInline):
    model = CardTransaction
    fields = [
        "created_at",
        "kind",
        "amount",
        "balance_after",
        "merchant",
        "merchant_reference",
        "reason",
        "actor",
    ]
    ordering = ["-created_at", "-id"]


admin.site.unregister(Card)


@admin.register(Card)
class CardServiceAdmin(CardAdmin):
    """A card's page with its history and the operators' acts."""

    fields = [
        *CardAdmin.fields,
        "held",
        "last_activity_at",
        "reissued_from",
        "reissued_as",
    ]
    inlines = [CardServiceTransactionInline]
    change_form_template = "admin/cards/card/change_form.html"
    service_template = "admin/cards/card/service.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/service/<str:action>/",
                self.admin_site.admin_view(self.service_view),
                name="cards_card_service",
            ),
            *super().get_urls(),
        ]

    def has_service_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SERVICE_PERMISSION)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        card = self.get_object(request, object_id)
        links = []
        if card is not None and self.has_service_permission(request):
            links = [
                {
                    "label": ACTION_LABELS[act],
                    "url": reverse("admin:cards_card_service", args=[card.pk, act]),
                    "act": act,
                }
                for act in ACTIONS
                if card.status in ALLOWED_FROM[act]
            ]
        pending = (
            CardServiceRequest.objects.filter(
                card_id=card.pk, status=CardServiceRequest.Status.PENDING
            ).first()
            if card is not None
            else None
        )
        return super().change_view(
            request,
            object_id,
            form_url,
            extra_context={
                **(extra_context or {}),
                "service_links": links,
                "pending_request": pending,
            },
        )

    def service_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if not self.has_service_permission(request):
            raise PermissionDenied
        if action not in ACTIONS:
            raise Http404
        card = (
            Card.objects.defer(*CARD_SECRET_FIELDS).filter(pk=object_id).first()
            if object_id.isdigit()
            else None
        )
        if card is None:
            raise Http404
        back = reverse("admin:cards_card_change", args=[card.pk])
        form = ReasonForm(request.POST or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            operator: User = request.user  # type: ignore[assignment]
            try:
                outcome = card_service_start(
                    card=card,
                    action=action,
                    reason=form.cleaned_data["reason"],
                    actor=operator,
                    ip=client_ip(request),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = _errors(exc)
            else:
                self.message_user(request, _outcome_message(card, outcome), messages.SUCCESS)
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("%(action)s card %(serial)s")
            % {"action": ACTION_LABELS[action], "serial": card.serial_display},
            "card": card,
            "balance": format_cny(card.balance),
            "help": ACTION_HELP[action],
            "needs_second": action in ("void", "reissue", "exchange")
            and card.balance > second_operator_threshold(),
            "limit": format_cny(second_operator_threshold()),
            "submit": ACTION_LABELS[action],
            "form": form,
            "errors": errors,
            "back": back,
        }
        return TemplateResponse(request, self.service_template, context)


def _outcome_message(card: Card, outcome: Any) -> str:
    if outcome.request is not None:
        return _(
            "Card %(serial)s: sent to a second operator for approval (%(amount)s is over "
            "%(limit)s)."
        ) % {
            "serial": card.serial_display,
            "amount": format_cny(outcome.request.amount),
            "limit": format_cny(second_operator_threshold()),
        }
    if outcome.new_card is not None:
        return _("Card %(serial)s is voided; its balance is on the new card %(new)s.") % {
            "serial": card.serial_display,
            "new": outcome.new_card.serial_display,
        }
    return _("Card %(serial)s is now %(status)s.") % {
        "serial": card.serial_display,
        "status": outcome.card.get_status_display(),
    }
