"""Operators' real-name register: purchase registrations, searchable by company, credit code and
agent, filtered by a date range, paginated, the ID number masked in every list; one full ID
number shown at a time, for a reason, each view audited; a legal hold placed on one registration
(company holds and releases: ``cards.admin.legal_holds``); the purge of registrations past their
retention. Nothing is deleted from here otherwise.

Every act goes through ``cards.services.register``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from billing.admin import ReadOnlyAdmin
from cards.admin.expiry import FORM_TEMPLATE, ReasonField, show_refusal
from cards.models import Order, PurchaseRegistration
from cards.register import registrations_kept, retention_until
from cards.services import register as register_services
from portal import days
from portal.models import User
from portal.services.audit import client_ip


class PurchaseDateRangeFilter(admin.ListFilter):
    """Registrations recorded from one day to another (Asia/Shanghai days, both included)."""

    title = _("recorded between")
    template = "admin/cards/purchaseregistration/date_range_filter.html"
    parameters = ("recorded_from", "recorded_to")

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, admin: Any):
        super().__init__(request, params, model, admin)
        self.values: dict[str, datetime.date | None] = {}
        self.raw: dict[str, str] = {}
        for name in self.parameters:
            value = params.pop(name, None)
            text = (value[-1] if isinstance(value, list) else value) or ""
            self.raw[name] = text
            try:
                self.values[name] = datetime.date.fromisoformat(text) if text else None
            except ValueError:
                self.values[name] = None

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return list(self.parameters)

    def choices(self, changelist: Any) -> Iterator[Mapping[str, object]]:
        yield from [
            {
                "from": self.raw["recorded_from"],
                "to": self.raw["recorded_to"],
                "keep": [
                    (name, value)
                    for name, value in changelist.get_filters_params().items()
                    if name not in self.parameters
                ],
            }
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        first, last = self.values["recorded_from"], self.values["recorded_to"]
        if first is not None:
            queryset = queryset.filter(created_at__gte=days.day_start(first))
        if last is not None:
            queryset = queryset.filter(created_at__lt=days.day_end(last))
        return queryset


class RevealForm(forms.Form):
    reason = ReasonField(
        help_text=_("Why you need the full number (an inquiry, a court order…). Kept in the audit.")
    )


class ReasonForm(forms.Form):
    reason = ReasonField()


class PurgeForm(forms.Form):
    reason = ReasonField(initial="")


@admin.register(PurchaseRegistration)
class PurchaseRegistrationAdmin(ReadOnlyAdmin):
    """Kept at least five years from the last purchase, never edited; the ID number masked
    everywhere but on its own audited page."""

    list_display = [
        "created_at",
        "company_name",
        "credit_code",
        "agent_name",
        "id_type",
        "id_number_masked",
        "contact_phone",
        "kept_until",
        "held",
    ]
    list_filter = [PurchaseDateRangeFilter, "id_type"]
    search_fields = ["company_name", "credit_code", "agent_name", "orders__number"]
    list_per_page = 50
    show_full_result_count = False
    fields = [
        "public_id",
        "company",
        "company_name",
        "credit_code",
        "agent_name",
        "id_type",
        "id_number_masked",
        "contact_phone",
        "order_numbers",
        "kept_until",
        "held",
        "created_by",
        "created_at",
    ]
    change_form_template = "admin/cards/purchaseregistration/change_form.html"
    change_list_template = "admin/cards/purchaseregistration/change_list.html"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        links = []
        if request.user.has_perm(register_services.REVEAL_PERMISSION):
            links.append(
                (
                    reverse("admin:cards_purchaseregistration_reveal", args=[object_id]),
                    _("Show the full ID number"),
                )
            )
        if request.user.has_perm(register_services.HOLD_PERMISSION):
            links.append(
                (
                    reverse("admin:cards_purchaseregistration_hold", args=[object_id]),
                    _("Place a legal hold"),
                )
            )
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "register_links": links}
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PurchaseRegistration]:
        return registrations_kept().select_related("company")

    @admin.display(description=_("kept until"), ordering="last_purchase_at")
    def kept_until(self, obj: Any) -> datetime.date:
        return retention_until(obj.last_purchase_at)

    @admin.display(description=_("legal hold"), boolean=True)
    def held(self, obj: Any) -> bool:
        return bool(obj.held)

    @admin.display(description=_("orders"))
    def order_numbers(self, obj: PurchaseRegistration) -> str:
        orders = Order.objects.filter(registration=obj).order_by("created_at")
        numbers = list(orders.values_list("number", flat=True))
        return ", ".join(numbers) or "-"

    def get_urls(self) -> list[Any]:
        info = (self.opts.app_label, self.opts.model_name)
        return [
            path(
                "<path:object_id>/id-number/",
                self.admin_site.admin_view(self.reveal_view),
                name="{}_{}_reveal".format(*info),
            ),
            path(
                "<path:object_id>/hold/",
                self.admin_site.admin_view(self.hold_view),
                name="{}_{}_hold".format(*info),
            ),
            path(
                "purge/",
                self.admin_site.admin_view(self.purge_view),
                name="{}_{}_purge".format(*info),
            ),
            *super().get_urls(),
        ]

    def _registration(self, request: HttpRequest, object_id: str) -> PurchaseRegistration:
        registration = self.get_object(request, object_id)
        if registration is None:
            raise Http404
        return registration

    def _form_page(
        self, request: HttpRequest, *, title: Any, form: forms.Form, submit: Any, **extra: Any
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "form": form,
            "submit": submit,
            **extra,
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)

    def reveal_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(register_services.REVEAL_PERMISSION):
            raise PermissionDenied
        registration = self._registration(request, object_id)
        form = RevealForm(request.POST or None)
        summary = [
            (_("company"), registration.company_name),
            (_("agent name"), registration.agent_name),
            (_("ID number"), registration.id_number_masked),
        ]
        if request.method == "POST" and form.is_valid():
            operator: User = request.user  # type: ignore[assignment]
            try:
                number = register_services.registration_reveal_id(
                    registration=registration,
                    operator=operator,
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                show_refusal(form, exc)
            else:
                response = TemplateResponse(
                    request,
                    "admin/cards/purchaseregistration/id_number.html",
                    {
                        **self.admin_site.each_context(request),
                        "opts": self.opts,
                        "title": _("Full ID number"),
                        "registration": registration,
                        "id_number": number,
                    },
                )
                response["Cache-Control"] = "no-store"
                return response
        return self._form_page(
            request,
            title=_("Show the full ID number"),
            form=form,
            submit=_("Show the full ID number"),
            summary=summary,
            intro=[_("Each view of a full ID number is kept in the audit trail with your reason.")],
        )

    def hold_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(register_services.HOLD_PERMISSION):
            raise PermissionDenied
        registration = self._registration(request, object_id)
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            operator: User = request.user  # type: ignore[assignment]
            try:
                register_services.legal_hold_place(
                    operator=operator,
                    registration=registration,
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                show_refusal(form, exc)
            else:
                self.message_user(
                    request, _("The registration is under a legal hold."), messages.SUCCESS
                )
                return HttpResponseRedirect(
                    reverse("admin:cards_purchaseregistration_change", args=[registration.pk])
                )
        return self._form_page(
            request,
            title=_("Place a legal hold"),
            form=form,
            submit=_("Place the hold"),
            summary=[
                (_("company"), registration.company_name),
                (_("agent name"), registration.agent_name),
            ],
            intro=[_("A held registration is kept, even past its retention, until released.")],
        )

    def purge_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("cards.delete_purchaseregistration"):
            raise PermissionDenied
        form = PurgeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            operator: User = request.user  # type: ignore[assignment]
            try:
                count = register_services.register_purge(
                    operator=operator, reason=form.cleaned_data["reason"]
                )
            except ValidationError as exc:
                show_refusal(form, exc)
            else:
                self.message_user(
                    request,
                    _("%(count)s registrations past their retention deleted.") % {"count": count},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:cards_purchaseregistration_changelist"))
        return self._form_page(
            request,
            title=_("Delete registrations past their retention"),
            form=form,
            submit=_("Delete them"),
            intro=[
                _(
                    "Deletes only registrations whose last purchase is more than five years ago "
                    "and that no legal hold covers."
                )
            ],
        )
