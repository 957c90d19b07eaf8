"""Forms of the order pages. They only carry what a buyer typed: every ordering rule (face values,
caps, quantities, registration, payment methods) is checked by ``cards.services``, which names the
line, the field and the value."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, cast

from django import forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from cards.forms.face_value_field import shape_face_value
from cards.models import (
    CardProduct,
    DeliveryMethod,
    OrderStatus,
    PaymentMethod,
    PurchaseRegistration,
)
from cards.selectors import OrderFilters
from cards.services.orders import LineInput, RegistrationInput

# Each line posts 8 fields; Django refuses requests with more than 1,000 fields
# (DATA_UPLOAD_MAX_NUMBER_FIELDS), so the web form stops at 100 lines.
MAX_FORM_LINES = 100
NEW_ORDER_ROWS = 3
ADD_LINES_STEP = 3
LINES_PREFIX = "lines"

LINE_FIELDS = ("product", "face_value", "quantity")
RECIPIENT_FIELDS = (
    "recipient_name",
    "recipient_mobile",
    "recipient_email",
    "employee_id",
    "cost_center",
)
REGISTRATION_FIELDS = ("agent_name", "id_type", "id_number", "contact_phone")


class PaymentMethodSelect(forms.RadioSelect):
    """Radio buttons of which some are shown but cannot be chosen (``unavailable``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unavailable: set[str] = set()

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option: dict[str, Any] = super().create_option(*args, **kwargs)
        if option["value"] in self.unavailable:
            option["attrs"]["disabled"] = True
        return option


class OrderForm(forms.Form):
    # Plain text fields with choice widgets: an unknown value reaches the service, which refuses
    # it with the prepaid-card rule it breaks.
    payment_method = forms.CharField(
        label=_("Payment"),
        initial=PaymentMethod.CREDIT,
        widget=PaymentMethodSelect(choices=PaymentMethod.choices),
    )
    delivery_method = forms.CharField(
        label=_("Delivery"),
        initial=DeliveryMethod.FILE,
        widget=forms.RadioSelect(choices=DeliveryMethod.choices),
    )
    client_reference = forms.CharField(
        label=_("Your reference"),
        max_length=128,
        required=False,
        help_text=_("Optional: your purchase order number. Each order needs its own."),
    )
    note = forms.CharField(
        label=_("Note"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    # One per rendering of a new order's form, posted back with every button: the service's
    # idempotency key, so sending the same form twice creates one order.
    form_token = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        reference_locked: bool = False,
        credit_refusal: str = "",
        credit_days: int | None = None,
        **kwargs: Any,
    ) -> None:
        """``credit_refusal``: why the company cannot order on credit (no usable credit line);
        credit is then shown disabled with that reason, and bank transfer is preselected.
        ``credit_days``: the payment terms of a usable credit line, explained next to it."""
        super().__init__(*args, **kwargs)
        if credit_days is not None and not credit_refusal:
            self.fields["payment_method"].help_text = _(
                "On credit: we invoice the order when it is approved and you pay within "
                "%(days)s days. By bank transfer: we send a pro-forma invoice and issue the "
                "cards once your payment arrives."
            ) % {"days": credit_days}
        if credit_refusal:
            payment = self.fields["payment_method"]
            payment.widget = cast(PaymentMethodSelect, copy.deepcopy(payment.widget))
            payment.widget.unavailable = {PaymentMethod.CREDIT.value}
            payment.help_text = credit_refusal
            self.initial["payment_method"] = PaymentMethod.BANK_TRANSFER
        if reference_locked:
            field = self.fields["client_reference"]
            field.disabled = True
            field.help_text = _("The reference stays as it was when the order was created.")

    def clean_form_token(self) -> uuid.UUID | None:
        """A token that is not one this form made counts as none (the order is still made)."""
        try:
            return uuid.UUID(self.cleaned_data["form_token"])
        except ValueError:
            return None


class RegistrationForm(forms.Form):
    """Real-name purchase registration. All blank means "none given"; the services decide when
    it is required and check what was given."""

    agent_name = forms.CharField(label=_("Agent name"), max_length=100, required=False)
    id_type = forms.ChoiceField(
        label=_("ID type"),
        required=False,
        choices=[("", "—"), *PurchaseRegistration.IdType.choices],
    )
    id_number = forms.CharField(
        label=_("ID number"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_("Stored encrypted; only a masked form is ever shown."),
    )
    contact_phone = forms.CharField(
        label=_("Contact phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )

    def registration_input(self) -> RegistrationInput | None:
        data = self.cleaned_data
        if not any((data.get(name) or "").strip() for name in REGISTRATION_FIELDS):
            return None
        return RegistrationInput(
            agent_name=data.get("agent_name") or "",
            id_type=data.get("id_type") or "",
            id_number=data.get("id_number") or "",
            contact_phone=data.get("contact_phone") or "",
        )


def product_choices(products: Iterable[CardProduct]) -> list[tuple[str, str]]:
    return [("", "—")] + [
        (str(p.public_id), f"{p.display_name} ({p.face_values_label})") for p in products
    ]


class LineForm(forms.Form):
    product = forms.CharField(label=_("Product"), required=False, widget=forms.Select)
    face_value = forms.CharField(
        label=_("Face value"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 8}),
    )
    quantity = forms.CharField(
        label=_("Quantity"),
        max_length=12,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 6}),
    )
    recipient_name = forms.CharField(label=_("Recipient name"), max_length=100, required=False)
    recipient_mobile = forms.CharField(
        label=_("Mobile"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    recipient_email = forms.CharField(
        label=_("Email"),
        max_length=254,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "email"}),
    )
    employee_id = forms.CharField(label=_("Employee ID"), max_length=64, required=False)
    cost_center = forms.CharField(label=_("Cost center"), max_length=64, required=False)

    def __init__(
        self,
        *args: Any,
        choices: list[tuple[str, str]],
        products: Mapping[str, CardProduct] | None = None,
        **kwargs: Any,
    ) -> None:
        """``products``: the products offered, by public id; the face-value field takes the
        shape of the line's product (a select of its values, or a number within its range)."""
        super().__init__(*args, **kwargs)
        product = self.fields["product"]
        product.widget.choices = choices
        chosen = (products or {}).get(str(self._raw("product") or "").strip())
        shape_face_value(self.fields["face_value"], chosen, self._raw("face_value"))
        # With htmx, choosing a product swaps in the face-value field that fits it.
        if isinstance(self.auto_id, str) and "%s" in self.auto_id:
            face_id = self.auto_id % self.add_prefix("face_value")
            product.widget.attrs.update(
                {
                    "hx-get": reverse("cards:order_face_value"),
                    "hx-trigger": "change",
                    # Arrow keys through the products: only the last choice's field lands.
                    "hx-sync": "this:replace",
                    "hx-target": f"#{face_id}_slot",
                    "hx-swap": "innerHTML",
                    "hx-include": f"#{face_id}",
                    "hx-vals": json.dumps({"row": self.prefix}),
                    "aria-controls": f"{face_id}_slot",
                }
            )

    def _raw(self, name: str) -> object:
        """What the buyer sent for ``name``, or the value the form starts with."""
        if self.is_bound:
            return self.data.get(self.add_prefix(name))
        return self.initial.get(name)

    @property
    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", None) or {}
        return not any(str(data.get(name) or "").strip() for name in self.fields)

    @property
    def is_complete(self) -> bool:
        """Product, face value and quantity all given: a line that can be priced."""
        data = getattr(self, "cleaned_data", None) or {}
        return all(str(data.get(name) or "").strip() for name in LINE_FIELDS)

    @property
    def has_recipient(self) -> bool:
        data = getattr(self, "cleaned_data", None) or {}
        return any(str(data.get(name) or "").strip() for name in RECIPIENT_FIELDS)

    def line_input(self) -> LineInput:
        data = self.cleaned_data
        return LineInput(
            product=data["product"],
            face_value=data["face_value"],
            quantity=data["quantity"],
            **{name: data[name] for name in RECIPIENT_FIELDS},
        )


LineFormSet = forms.formset_factory(
    LineForm,
    extra=0,
    max_num=MAX_FORM_LINES,
    absolute_max=MAX_FORM_LINES,
    validate_max=True,
)


class OrderFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Order number, your reference, recipient")}
        ),
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *OrderStatus.choices]
    )
    created_from = forms.DateField(
        label=_("Created from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label=_("Created to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    creator = forms.ChoiceField(label=_("Created by"), required=False)

    def __init__(self, *args: Any, creators: Iterable[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        creator = cast(forms.ChoiceField, self.fields["creator"])
        creator.choices = [("", _("Anyone"))] + [
            (str(user.public_id), user.get_full_name() or user.email) for user in creators
        ]

    def filters(self) -> OrderFilters:
        """What to filter by; a filter the form could not read is left out (and shown)."""
        if not self.is_bound:
            return OrderFilters()
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return OrderFilters(
            query=data.get("q") or "",
            status=data.get("status") or "",
            created_from=data.get("created_from"),
            created_to=data.get("created_to"),
            creator=data.get("creator") or "",
        )
