"""Forms of the order file pages: the upload, and the confirm (with its "create a second order
anyway" box when the same file already made an order). The rules of the file itself are in
``cards.services.uploads``; these forms only collect what the person chose."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from cards.models import DeliveryMethod, PaymentMethod
from portal.models import Company, Membership, User
from portal.policy import Action, roles_for

UPLOAD_ACCEPT = (
    ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("Order file"),
        max_length=200,
        help_text=_("A CSV (UTF-8 or GBK) or XLSX file, one row per recipient or per line."),
        widget=forms.ClearableFileInput(attrs={"accept": UPLOAD_ACCEPT}),
    )
    payment_method = forms.ChoiceField(
        label=_("Payment"),
        choices=PaymentMethod.choices,
        initial=PaymentMethod.CREDIT,
        widget=forms.RadioSelect,
    )
    delivery_method = forms.ChoiceField(
        label=_("Delivery"),
        choices=DeliveryMethod.choices,
        initial=DeliveryMethod.FILE,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        megabytes = settings.UPLOAD_MAX_BYTES // (1024 * 1024)
        self.fields["file"].help_text = _(
            "A CSV (UTF-8 or GBK) or XLSX file of at most %(mb)s MB and %(rows)s rows, one row "
            "per recipient or per line."
        ) % {"mb": megabytes, "rows": f"{settings.UPLOAD_MAX_ROWS:,}"}


class ConfirmUploadForm(forms.Form):
    allow_duplicate = forms.BooleanField(
        label=_("This file already made an order: create a second order anyway"),
        required=False,
    )

    def __init__(self, *args: Any, duplicate: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not duplicate:
            del self.fields["allow_duplicate"]


class SupportUploadForm(UploadForm):
    """Support, in the admin: the company and the purchaser the draft is for, then the file."""

    company = forms.ModelChoiceField(
        label=_("Company"),
        queryset=Company.objects.live().filter(status=Company.Status.ACTIVE).order_by("legal_name"),
    )
    purchaser = forms.ModelChoiceField(
        label=_("For purchaser"),
        queryset=User.objects.filter(
            memberships__role__in=roles_for(Action.ORDER_UPLOAD)
        ).distinct(),
        help_text=_("The owner or purchaser of the company the draft order is created for."),
    )
    field_order = ["company", "purchaser", "file", "payment_method", "delivery_method"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        company, purchaser = data.get("company"), data.get("purchaser")
        if company is not None and purchaser is not None:
            allowed = Membership.objects.filter(
                company=company, user=purchaser, role__in=roles_for(Action.ORDER_UPLOAD)
            ).exists()
            if not allowed:
                self.add_error(
                    "purchaser",
                    _("%(user)s is not an owner or purchaser of %(company)s.")
                    % {"user": purchaser.email, "company": company.legal_name},
                )
        return data
