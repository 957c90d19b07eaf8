"""The second operator's queue in the operators' admin: card service requests over
``CARD_SERVICE_SECOND_OPERATOR_ABOVE`` (voids, reissues, exchanges), approved one at a time or
several at once by another operator (never the requester), or rejected with a reason. The
services decide (``cards.services.card_service``); nothing here loads a card's code.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.admin import ReadOnlyAdmin
from billing.admin.base import money_column
from billing.money import format_cny
from cards.admin.card_service import DECIDE_PERMISSION, ReasonForm, _errors
from cards.admin.cards import CARD_SECRET_FIELDS
from cards.models import CardServiceRequest
from cards.services.card_service import (
    card_service_request_approve,
    card_service_request_reject,
)
from portal.services.audit import client_ip


@admin.register(CardServiceRequest)
class CardServiceRequestAdmin(ReadOnlyAdmin):
    """Voids, reissues and exchanges over the limit, waiting for a second operator."""

    list_display = [
        "requested_at",
        "card_serial",
        "action",
        money_column(CardServiceRequest, "amount"),
        "requested_by",
        "status",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status", "action"]
    list_select_related = ["card", "requested_by", "decided_by"]
    search_fields = ["card__serial"]
    search_help_text = gettext_lazy("One card's 16-digit serial (spaces are ignored).")
    fields = [
        "card",
        "action",
        "amount",
        "reason",
        "requested_by",
        "requested_at",
        "status",
        "decided_by",
        "decided_at",
        "decision_note",
        "new_card",
    ]
    actions = ["approve_selected"]
    change_form_template = "admin/cards/cardservicerequest/change_form.html"
    decide_template = "admin/cards/cardservicerequest/decide.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[CardServiceRequest]:
        return (
            super().get_queryset(request).defer(*(f"card__{name}" for name in CARD_SECRET_FIELDS))
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

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="cards_cardservicerequest_approve",
            ),
            path(
                "<path:object_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="cards_cardservicerequest_reject",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("card"), ordering="card__serial")
    def card_serial(self, obj: CardServiceRequest) -> str:
        return obj.card.serial_display

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(DECIDE_PERMISSION)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        links = None
        if (
            obj is not None
            and obj.status == CardServiceRequest.Status.PENDING
            and self.has_decide_permission(request)
        ):
            links = {
                "approve": reverse("admin:cards_cardservicerequest_approve", args=[obj.pk]),
                "reject": reverse("admin:cards_cardservicerequest_reject", args=[obj.pk]),
            }
        return super().change_view(
            request,
            object_id,
            form_url,
            extra_context={**(extra_context or {}), "decide_links": links},
        )

    def _request(self, request: HttpRequest, object_id: str) -> CardServiceRequest:
        if not self.has_decide_permission(request):
            raise PermissionDenied
        found = (
            self.get_queryset(request).select_related("card").filter(pk=object_id).first()
            if object_id.isdigit()
            else None
        )
        if found is None:
            raise Http404
        return found

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        service_request = self._request(request, object_id)
        errors: list[str] = []
        if request.method == "POST":
            if self._approve(request, service_request):
                return HttpResponseRedirect(reverse("admin:cards_cardservicerequest_changelist"))
            return HttpResponseRedirect(
                reverse("admin:cards_cardservicerequest_change", args=[service_request.pk])
            )
        return self._decide_page(request, service_request, approve=True, form=None, errors=errors)

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        service_request = self._request(request, object_id)
        form = ReasonForm(request.POST or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                card_service_request_reject(
                    service_request=service_request,
                    actor=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = _errors(exc)
            else:
                self.message_user(
                    request,
                    _("Request for card %(serial)s rejected; nothing was done to the card.")
                    % {"serial": service_request.card.serial_display},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:cards_cardservicerequest_changelist"))
        return self._decide_page(request, service_request, approve=False, form=form, errors=errors)

    @admin.action(description=gettext_lazy("Approve the selected requests"), permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for service_request in queryset.select_related("card").order_by("pk"):
            self._approve(request, service_request)

    def _approve(self, request: HttpRequest, service_request: CardServiceRequest) -> bool:
        try:
            outcome = card_service_request_approve(
                service_request=service_request,
                actor=request.user,  # type: ignore[arg-type]
                ip=client_ip(request),
            )
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(
                request,
                _("Card %(serial)s: %(error)s")
                % {"serial": service_request.card.serial_display, "error": " ".join(_errors(exc))},
                messages.ERROR,
            )
            return False
        self.message_user(request, _approved_message(service_request, outcome), messages.SUCCESS)
        return True

    def _decide_page(
        self,
        request: HttpRequest,
        service_request: CardServiceRequest,
        *,
        approve: bool,
        form: ReasonForm | None,
        errors: list[str],
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Approve a card service request")
            if approve
            else _("Reject a card service request"),
            "service_request": service_request,
            "amount": format_cny(service_request.amount),
            "approve": approve,
            "form": form,
            "errors": errors,
            "back": reverse("admin:cards_cardservicerequest_change", args=[service_request.pk]),
        }
        return TemplateResponse(request, self.decide_template, context)


def _approved_message(service_request: CardServiceRequest, outcome: Any) -> str:
    serial = service_request.card.serial_display
    if outcome.new_card is not None:
        return _("Approved: card %(serial)s is voided; its balance is on the new card %(new)s.") % {
            "serial": serial,
            "new": outcome.new_card.serial_display,
        }
    return _("Approved: card %(serial)s is now %(status)s.") % {
        "serial": serial,
        "status": outcome.card.get_status_display(),
    }
