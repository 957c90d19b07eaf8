"""Operators' legal holds on purchase registrations: placed on a company (every registration of
it) here, or on one registration from its page (``cards.admin.register``); released with a
reason; never edited or deleted. Through ``cards.services.register``, each act audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from cards.admin.expiry import FORM_TEMPLATE, show_refusal
from cards.admin.register import ReasonForm
from cards.models import LegalHold
from cards.services import register as register_services
from portal.services.audit import client_ip


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    """Legal holds: placed on a company (every registration of it) or on one registration,
    released with a reason; never edited or deleted."""

    list_display = ["subject", "reason", "placed_by", "placed_at", "released_by", "released_at"]
    list_filter = [("released_at", admin.EmptyFieldListFilter)]
    search_fields = ["subject", "reason", "company__legal_name", "company__credit_code"]
    autocomplete_fields = ["company"]
    fields = ["company", "reason"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return [
            "subject",
            "company",
            "registration",
            "reason",
            "placed_by",
            "placed_at",
            "released_by",
            "released_at",
            "release_reason",
        ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields if obj is None else self.get_readonly_fields(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: LegalHold, form: Any, change: bool) -> None:
        saved = register_services.legal_hold_place(
            operator=request.user,  # type: ignore[arg-type]
            company=form.cleaned_data["company"],
            reason=form.cleaned_data["reason"],
            ip=client_ip(request),
        )
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and "company" in form.base_fields:
            form.base_fields["company"].required = True
        return form

    def get_urls(self) -> list[Any]:
        info = (self.opts.app_label, self.opts.model_name)
        return [
            path(
                "<path:object_id>/release/",
                self.admin_site.admin_view(self.release_view),
                name="{}_{}_release".format(*info),
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
        hold = self.get_object(request, object_id)
        release = None
        if (
            hold is not None
            and hold.in_force
            and request.user.has_perm(register_services.HOLD_PERMISSION)
        ):
            release = reverse("admin:cards_legalhold_release", args=[hold.pk])
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "release_url": release}
        )

    def release_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(register_services.HOLD_PERMISSION):
            raise PermissionDenied
        hold = self.get_object(request, object_id)
        if hold is None:
            raise Http404
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                register_services.legal_hold_release(
                    hold=hold,
                    operator=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                show_refusal(form, exc)
            else:
                self.message_user(request, _("The legal hold is released."), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:cards_legalhold_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Release a legal hold"),
            "form": form,
            "submit": _("Release the hold"),
            "summary": [(_("held"), hold.subject), (_("reason"), hold.reason)],
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)
