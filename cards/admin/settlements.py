"""Merchant settlements in the operators' admin: the daily settlements (read-only, computed by
the nightly task), each day's file (CSV or XLSX), and recording a payout by its bank reference
(``cards.services.settlement.merchant_settlement_record_payout``: once, with its ledger entry)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.admin import ReadOnlyAdmin
from billing.admin.base import money_column
from billing.money import format_cny
from cards.admin.card_service import _errors
from cards.models import MerchantSettlement
from cards.services.settlement import (
    CONTENT_TYPES,
    FORMATS,
    merchant_settlement_record_payout,
    settlement_file,
    settlement_filename,
    settlement_summary,
)
from portal.services.audit import client_ip

PAYOUT_PERMISSION = "cards.record_settlement_payout"


class PayoutForm(forms.Form):
    bank_reference = forms.CharField(
        label=gettext_lazy("Bank reference"),
        max_length=64,
        help_text=gettext_lazy("The reference of the transfer on the bank statement."),
    )


@admin.register(MerchantSettlement)
class MerchantSettlementAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "merchant",
        money_column(MerchantSettlement, "redeemed"),
        money_column(MerchantSettlement, "refunded"),
        money_column(MerchantSettlement, "voided"),
        money_column(MerchantSettlement, "net"),
        "transaction_count",
        "status",
        "paid_at",
        "bank_reference",
    ]
    list_filter = ["status", "merchant"]
    list_select_related = ["merchant", "paid_by"]
    search_fields = ["merchant__name", "bank_reference"]
    date_hierarchy = "day"
    fields = [
        "merchant",
        "day",
        "redeemed",
        "refunded",
        "voided",
        "net",
        "transaction_count",
        "computed_at",
        "status",
        "paid_at",
        "paid_by",
        "bank_reference",
    ]
    change_form_template = "admin/cards/merchantsettlement/change_form.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/file.<str:fmt>",
                self.admin_site.admin_view(self.file_view),
                name="cards_merchantsettlement_file",
            ),
            path(
                "<path:object_id>/payout/",
                self.admin_site.admin_view(self.payout_view),
                name="cards_merchantsettlement_payout",
            ),
            *super().get_urls(),
        ]

    def has_payout_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PAYOUT_PERMISSION)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        settlement = self.get_object(request, object_id)
        links: dict[str, str] = {}
        if settlement is not None:
            links = {
                fmt: reverse("admin:cards_merchantsettlement_file", args=[settlement.pk, fmt])
                for fmt in FORMATS
            }
            if settlement.status == MerchantSettlement.Status.OPEN and self.has_payout_permission(
                request
            ):
                links["payout"] = reverse(
                    "admin:cards_merchantsettlement_payout", args=[settlement.pk]
                )
        return super().change_view(
            request,
            object_id,
            form_url,
            extra_context={**(extra_context or {}), "settlement_links": links},
        )

    def _settlement(self, request: HttpRequest, object_id: str) -> MerchantSettlement:
        found = (
            MerchantSettlement.objects.select_related("merchant").filter(pk=object_id).first()
            if object_id.isdigit()
            else None
        )
        if found is None:
            raise Http404
        return found

    def file_view(self, request: HttpRequest, object_id: str, fmt: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if fmt not in FORMATS:
            raise Http404
        settlement = self._settlement(request, object_id)
        response = HttpResponse(settlement_file(settlement, fmt), content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = (
            f'attachment; filename="{settlement_filename(settlement, fmt)}"'
        )
        return response

    def payout_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_payout_permission(request):
            raise PermissionDenied
        settlement = self._settlement(request, object_id)
        back = reverse("admin:cards_merchantsettlement_change", args=[settlement.pk])
        form = PayoutForm(request.POST or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                merchant_settlement_record_payout(
                    settlement=settlement,
                    bank_reference=form.cleaned_data["bank_reference"],
                    actor=request.user,  # type: ignore[arg-type]
                    ip=client_ip(request),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = _errors(exc)
            else:
                self.message_user(
                    request,
                    _("Payout recorded: %(summary)s.")
                    % {"summary": settlement_summary(settlement)},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
        merchant = settlement.merchant
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Record the payout of %(summary)s")
            % {"summary": settlement_summary(settlement)},
            "settlement": settlement,
            "net": format_cny(settlement.net),
            "account": f"{merchant.settlement_account_name} · {merchant.settlement_bank} · "
            f"{merchant.settlement_account_number}",
            "form": form,
            "errors": errors,
            "back": back,
        }
        return TemplateResponse(request, "admin/cards/merchantsettlement/payout.html", context)
