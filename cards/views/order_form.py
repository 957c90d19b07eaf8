"""Portal page of the order form: a new order, or a draft changed. Views read through
``cards.selectors`` scoped by ``portal.access`` and change state only through
``cards.services``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from billing.money import format_cny
from billing.services.credit import CreditPosition, credit_line_refusal, credit_position
from cards import selectors
from cards.forms import (
    ADD_LINES_STEP,
    LINE_FIELDS,
    LINES_PREFIX,
    MAX_FORM_LINES,
    NEW_ORDER_ROWS,
    RECIPIENT_FIELDS,
    LineForm,
    LineFormSet,
    OrderForm,
    RegistrationForm,
    product_choices,
)
from cards.forms.face_value_field import face_value_rules
from cards.models import REGISTRATION_ORDER_THRESHOLD, CardProduct, Order, PaymentMethod
from cards.services.orders import (
    CheckedLine,
    CheckedOrder,
    OrderAlreadyCreated,
    line_error,
    order_create,
    order_lines_check,
    order_update,
)
from cards.views._common import _actor, _error_text
from cards.views.order_page import _submit
from cards.views.order_price import PriceSummary
from portal.access import (
    active_membership,
    get_company_object_or_404,
    policy_required,
)
from portal.models import Company
from portal.policy import Action
from portal.services.audit import client_ip

# --- Order form ----------------------------------------------------------------------------------


@dataclass
class Row:
    """One row of the lines table: the form, its line number once filled in, the service's
    errors about it and, after "Calculate price", its price."""

    form: LineForm
    number: int | None = None
    errors: list[str] = field(default_factory=list)
    price: CheckedLine | None = None

    @property
    def show_recipient(self) -> bool:
        """Open the recipient details when they hold something or something is wrong."""
        if self.errors or self.form.errors:
            return True
        if self.form.is_bound:
            return self.form.has_recipient
        return any(self.form.initial.get(name) for name in RECIPIENT_FIELDS)


@dataclass
class OrderPage:
    order_form: OrderForm
    registration_form: RegistrationForm
    formset: Any
    rows: list[Row]
    errors: list[str] = field(default_factory=list)
    checked: CheckedOrder | None = None
    # The number of the order that already has the reference typed in, to link to it.
    reference_order: str = ""
    # The company's credit as the page was built (None without a credit line).
    credit: CreditPosition | None = None


def _line_initial(order: Order) -> list[dict[str, str]]:
    return [
        {
            "product": str(line.product.public_id),
            "face_value": f"{line.face_value:f}",
            "quantity": str(line.quantity),
            **{name: getattr(line, name) for name in RECIPIENT_FIELDS},
        }
        for line in order.lines.select_related("product").order_by("position")
    ]


def _choices(
    company: Company, order: Order | None
) -> tuple[list[tuple[str, str]], dict[str, CardProduct]]:
    """The product select's choices, and the products offered by public id."""
    products = list(selectors.catalog_products(company))
    choices = product_choices(products)
    by_id = {str(p.public_id): p for p in products}
    if order is not None:
        # A product taken off sale since the draft was saved stays selectable, so the row
        # keeps its value and the check names the product instead of a blank row.
        on_sale = {p.pk for p in products}
        for line in order.lines.select_related("product").order_by("position"):
            if line.product_id not in on_sale:
                on_sale.add(line.product_id)
                label = _("%(product)s (no longer on sale)") % {
                    "product": line.product.display_name
                }
                choices.append((str(line.product.public_id), label))
                by_id[str(line.product.public_id)] = line.product
    return choices, by_id


def _attach_line_errors(messages_: list[str], rows: list[Row]) -> None:
    """Show each "Line N, ..." message next to row N as well as in the summary."""
    for row in rows:
        if row.number is None:
            continue
        prefix = line_error(row.number, "\x00", "", "").split("\x00", 1)[0]
        row.errors.extend(m for m in messages_ if m.startswith(prefix))


def _apply_service_error(exc: ValidationError, page: OrderPage) -> None:
    """Put a service's refusal where the buyer looks: next to the field it names, or in the
    list above the lines (line by line)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            for error in errors:
                if error.code == "reference_used" and error.params:
                    page.reference_order = str(error.params["number"])
            texts = [text for error in errors for text in error.messages]
            if name in page.order_form.fields and not page.order_form.fields[name].disabled:
                page.order_form.add_error(name, texts)
            elif name in page.registration_form.fields:
                page.registration_form.add_error(name, texts)
            elif name == "registration":
                page.registration_form.add_error(None, texts)
            else:
                page.errors.extend(texts)
        return
    page.errors.extend(exc.messages)
    _attach_line_errors(exc.messages, page.rows)


def build_page(company: Company, order: Order | None, data: QueryDict | None) -> OrderPage:
    choices, products = _choices(company, order)
    initial: dict[str, Any] = {"form_token": uuid.uuid4()} if order is None else {}
    line_initial: list[dict[str, str]] = [{} for _row in range(NEW_ORDER_ROWS)]
    if order is not None:
        initial = {
            "payment_method": order.payment_method,
            "delivery_method": order.delivery_method,
            "client_reference": order.client_reference or "",
            "note": order.note,
        }
        line_initial = _line_initial(order)
    formset = LineFormSet(
        data,
        initial=None if data is not None else line_initial,
        prefix=LINES_PREFIX,
        form_kwargs={"choices": choices, "products": products},
    )
    position = credit_position(company)
    refusal = credit_line_refusal(company, position)
    return OrderPage(
        order_form=OrderForm(
            data,
            initial=initial,
            reference_locked=order is not None,
            credit_refusal=refusal.messages[0] if refusal is not None else "",
            credit_days=position.net_days if position is not None else None,
        ),
        registration_form=RegistrationForm(data),
        formset=formset,
        rows=[Row(form=form) for form in formset.forms],
        credit=position,
    )


def credit_for(page: OrderPage) -> CreditPosition | None:
    """The company's credit, when the form asks to pay on credit."""
    if page.order_form["payment_method"].value() != PaymentMethod.CREDIT:
        return None
    return page.credit


def number_rows(rows: list[Row]) -> list[Row]:
    """Number the filled-in rows 1, 2, 3... as the services number lines; blank rows are left
    out of the order."""
    filled = []
    for row in rows:
        if not row.form.is_blank:
            filled.append(row)
            row.number = len(filled)
    return filled


def _with_more_rows(data: QueryDict) -> QueryDict:
    data = data.copy()
    key = f"{LINES_PREFIX}-TOTAL_FORMS"
    try:
        total = int(data.get(key, "0"))
    except ValueError:
        total = 0
    data[key] = str(max(0, min(total + ADD_LINES_STEP, MAX_FORM_LINES)))
    return data


def _order_form(request: HttpRequest, order: Order | None) -> HttpResponse:
    company = active_membership(request).company
    action = request.POST.get("action", "calculate") if request.method == "POST" else ""
    data: QueryDict | None = None
    if request.method == "POST":
        data = _with_more_rows(request.POST) if action == "add_lines" else request.POST
    page = build_page(company, order, data)
    if request.method != "POST":
        if order is not None:
            for number, row in enumerate(page.rows, start=1):
                row.number = number
    elif action == "add_lines":
        page.formset.is_valid()
        number_rows(page.rows)
    else:
        response = _order_form_post(request, order, action, page)
        if response is not None:
            return response
    return render(
        request,
        "cards/order_form.html",
        {
            "order": order,
            "page": page,
            "summary": PriceSummary(checked=page.checked, credit=credit_for(page)),
            "registration_threshold": format_cny(REGISTRATION_ORDER_THRESHOLD),
            "max_lines": MAX_FORM_LINES,
            "max_quantity": f"{settings.ORDER_MAX_QUANTITY:,}",
            "face_value_rules": face_value_rules(),
            "line_fields": LINE_FIELDS,
            "recipient_fields": RECIPIENT_FIELDS,
        },
    )


def _order_form_post(
    request: HttpRequest, order: Order | None, action: str, page: OrderPage
) -> HttpResponse | None:
    """Calculate, save or save-and-submit. Returns a redirect once saved, else None (the page is
    shown again with prices or errors)."""
    forms_valid = all(
        [
            page.order_form.is_valid(),
            page.registration_form.is_valid(),
            page.formset.is_valid(),
        ]
    )
    if not forms_valid:
        page.errors.extend(page.formset.non_form_errors())
        number_rows(page.rows)
        return None
    filled = number_rows(page.rows)
    lines = [row.form.line_input() for row in filled]
    company = active_membership(request).company
    if action == "calculate":
        try:
            page.checked = order_lines_check(company=company, lines=lines)
        except ValidationError as exc:
            _apply_service_error(exc, page)
        else:
            for row, checked_line in zip(filled, page.checked.lines, strict=True):
                row.price = checked_line
        return None
    if action not in ("save", "submit"):
        page.errors.append(_("Choose one of the buttons below the form."))
        return None
    cleaned = page.order_form.cleaned_data
    registration = page.registration_form.registration_input()
    try:
        if order is None:
            saved = order_create(
                company=company,
                actor=_actor(request),
                lines=lines,
                payment_method=cleaned["payment_method"],
                delivery_method=cleaned["delivery_method"],
                client_reference=cleaned["client_reference"],
                note=cleaned["note"],
                registration=registration,
                ip=client_ip(request),
                form_token=cleaned.get("form_token"),
            )
        else:
            saved = order_update(
                order=order,
                actor=_actor(request),
                lines=lines,
                payment_method=cleaned["payment_method"],
                delivery_method=cleaned["delivery_method"],
                note=cleaned["note"],
                registration=registration,
                ip=client_ip(request),
            )
    except OrderAlreadyCreated as done:
        messages.info(
            request,
            _(
                "This form was already sent and created order %(number)s (a second click or a "
                "resend); no other order was made. Here it is."
            )
            % {"number": done.order.number},
        )
        return redirect("cards:order_detail", number=done.order.number)
    except PermissionDenied as exc:
        page.errors.append(_error_text(exc))
        return None
    except ValidationError as exc:
        _apply_service_error(exc, page)
        return None
    if action == "submit":
        _submit(request, saved, just_saved=True)
    else:
        messages.success(
            request,
            _("Draft %(number)s saved. Submit it when it is ready.") % {"number": saved.number},
        )
    return redirect("cards:order_detail", number=saved.number)


@policy_required(Action.ORDER_CREATE)
def order_create_view(request: HttpRequest) -> HttpResponse:
    return _order_form(request, None)


@policy_required(Action.ORDER_CREATE)
def order_edit(request: HttpRequest, number: str) -> HttpResponse:
    order = get_company_object_or_404(
        request, Order.objects.select_related("registration"), number=number
    )
    if not order.is_editable:
        messages.error(
            request,
            _("Only a draft can be changed; order %(number)s is %(status)s.")
            % {"number": order.number, "status": order.get_status_display()},
        )
        return redirect("cards:order_detail", number=order.number)
    if order.line_count > MAX_FORM_LINES:
        messages.error(
            request,
            _(
                "Order %(number)s has %(count)s lines; the form shows at most %(max)s. "
                "Change it through the API instead."
            )
            % {"number": order.number, "count": order.line_count, "max": MAX_FORM_LINES},
        )
        return redirect("cards:order_detail", number=order.number)
    return _order_form(request, order)
