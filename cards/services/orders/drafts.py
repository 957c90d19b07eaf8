"""Writing draft orders: a new order number, create, insert (also for order files), update,
and an order's lines as invoice lines."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import line_text, locks
from billing.money import ZERO
from billing.services.invoices import InvoiceLineData
from cards.audit import CardsAction
from cards.models import (
    DeliveryMethod,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    PurchaseRegistration,
)
from portal import policy
from portal.models import ApiKey, Company, User
from portal.policy import Action
from portal.services.audit import audit_record

from .base import (
    CheckedOrder,
    LineInput,
    OrderAlreadyCreated,
    OrderTotals,
    RegistrationInput,
    line_error,
    order_company_check,
    order_methods_check,
)
from .registration import registration_record
from .rules import order_lines_check

_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def order_number_new() -> str:
    """PO + local date + 6 random symbols: opaque, not sequential, readable on the phone."""
    day = timezone.localdate().strftime("%y%m%d")
    return f"PO{day}{''.join(secrets.choice(_NUMBER_ALPHABET) for _ in range(6))}"


def _write_lines(order: Order, checked: CheckedOrder) -> None:
    OrderLine.objects.bulk_create(
        (
            OrderLine(
                order=order,
                position=position,
                product=line.product,
                face_value=line.face_value,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                **line.recipient,
            )
            for position, line in enumerate(checked.lines, start=1)
        ),
        batch_size=2000,
    )


def _check_recipients_for_delivery(delivery_method: str, checked: CheckedOrder) -> None:
    if delivery_method != DeliveryMethod.RECIPIENTS:
        return
    errors = []
    for position, line in enumerate(checked.lines, start=1):
        if not (line.recipient["recipient_email"] or line.recipient["recipient_mobile"]):
            errors.append(
                line_error(
                    position,
                    _("recipient"),
                    line.recipient["recipient_name"] or "—",
                    _("delivery to recipients needs an email or mobile on every line."),
                )
            )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def order_create(
    *,
    company: Company,
    actor: User,
    lines: list[LineInput],
    payment_method: str = PaymentMethod.CREDIT,
    delivery_method: str = DeliveryMethod.FILE,
    client_reference: str | None = None,
    note: str = "",
    registration: RegistrationInput | None = None,
    api_key: ApiKey | None = None,
    ip: str | None = None,
    form_token: uuid.UUID | None = None,
) -> Order:
    """A draft order. Nothing is written unless every line passes. ``form_token`` is the portal
    form's one-time token: a second call with it raises ``OrderAlreadyCreated`` (and writes
    nothing), whichever of two concurrent calls the unique index lets through first."""
    policy.require(company, actor, Action.ORDER_CREATE)
    order_company_check(company)
    order_methods_check(payment_method, delivery_method)
    checked = order_lines_check(company=company, lines=lines)
    _check_recipients_for_delivery(delivery_method, checked)
    registration_row = (
        registration_record(company=company, data=registration, actor=actor)
        if registration is not None
        else None
    )
    return order_insert(
        company=company,
        created_by=actor,
        actor=actor,
        totals=OrderTotals(
            face_total=checked.face_total,
            total=checked.total,
            card_count=checked.card_count,
            line_count=len(checked.lines),
        ),
        write_lines=lambda order: _write_lines(order, checked),
        payment_method=payment_method,
        delivery_method=delivery_method,
        client_reference=client_reference,
        note=note,
        registration=registration_row,
        api_key=api_key,
        ip=ip,
        form_token=form_token,
    )


def order_insert(
    *,
    company: Company,
    created_by: User,
    actor: User,
    totals: OrderTotals | None,
    write_lines: Callable[[Order], OrderTotals | None],
    payment_method: str,
    delivery_method: str,
    client_reference: str | None = None,
    note: str = "",
    registration: PurchaseRegistration | None = None,
    api_key: ApiKey | None = None,
    ip: str | None = None,
    via: str = "",
    form_token: uuid.UUID | None = None,
) -> Order:
    """Write a draft order whose lines have passed ``order_lines_check`` (or ``LineRules``),
    inside the caller's transaction: a fresh order number, the lines (``write_lines``, which
    returns the totals when ``totals`` is None, as a file streamed into COPY does), the audit
    event. The roles, the company's state and the methods are the caller's to have checked."""
    client_reference = (client_reference or "").strip() or None
    known = totals or OrderTotals(face_total=ZERO, total=ZERO, card_count=0, line_count=0)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    number=order_number_new(),
                    company=company,
                    created_by=created_by,
                    created_via_key=api_key,
                    payment_method=payment_method,
                    delivery_method=delivery_method,
                    client_reference=client_reference,
                    form_token=form_token,
                    note=note.strip()[:300],
                    registration=registration,
                    face_total=known.face_total,
                    total=known.total,
                    card_count=known.card_count,
                    line_count=known.line_count,
                )
            break
        except IntegrityError as exc:
            # The unique indexes decided; now say which one. The form token first: a form sent
            # twice carries its reference twice too.
            if form_token is not None:
                created = Order.objects.filter(company=company, form_token=form_token).first()
                if created is not None:
                    raise OrderAlreadyCreated(created) from exc
            if client_reference:
                holder = (
                    Order.objects.filter(company=company, client_reference=client_reference)
                    .only("number")
                    .first()
                )
                if holder is not None:
                    used = ValidationError(
                        _("Your reference “%(value)s” is already used by order %(number)s."),
                        code="reference_used",
                        params={"value": client_reference, "number": holder.number},
                    )
                    raise ValidationError({"client_reference": used}) from exc
    else:  # pragma: no cover - five random collisions in a row
        raise RuntimeError("could not allocate an order number")
    written = write_lines(order)
    if totals is None:
        assert written is not None
        order.face_total = written.face_total
        order.total = written.total
        order.card_count = written.card_count
        order.line_count = written.line_count
        order.save(update_fields=["face_total", "total", "card_count", "line_count"])
    audit_record(
        action=CardsAction.ORDER_CREATED,
        actor=actor,
        company=company,
        obj=order,
        ip=ip,
        changes={
            "number": order.number,
            "lines": order.line_count,
            "cards": order.card_count,
            "total": str(order.total),
            "payment_method": payment_method,
            "via": via or ("api" if api_key else "portal"),
        },
    )
    return order


@transaction.atomic
def order_update(
    *,
    order: Order,
    actor: User,
    lines: list[LineInput],
    payment_method: str,
    delivery_method: str,
    note: str = "",
    registration: RegistrationInput | None = None,
    ip: str | None = None,
) -> Order:
    """Replace a draft's lines and settings. Only drafts change."""
    policy.require(order.company, actor, Action.ORDER_CREATE)
    locked = locks.lock_order(Order.objects.select_related("company"), pk=order.pk)
    if locked is None:
        raise Order.DoesNotExist(order.pk)
    if locked.status != OrderStatus.DRAFT:
        raise ValidationError(
            _("Only a draft can be changed; this order is %(status)s.")
            % {"status": locked.get_status_display()}
        )
    order_methods_check(payment_method, delivery_method)
    checked = order_lines_check(company=locked.company, lines=lines)
    _check_recipients_for_delivery(delivery_method, checked)
    if registration is not None:
        locked.registration = registration_record(
            company=locked.company, data=registration, actor=actor
        )
    before = {"total": str(locked.total), "lines": locked.line_count}
    locked.lines.all().delete()
    _write_lines(locked, checked)
    locked.payment_method = payment_method
    locked.delivery_method = delivery_method
    locked.note = note.strip()[:300]
    locked.face_total = checked.face_total
    locked.total = checked.total
    locked.card_count = checked.card_count
    locked.line_count = len(checked.lines)
    locked.save()
    audit_record(
        action=CardsAction.ORDER_UPDATED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={
            "before": before,
            "after": {"total": str(locked.total), "lines": locked.line_count},
        },
    )
    return locked


def order_invoice_lines(order: Order) -> list[InvoiceLineData]:
    """Invoice lines: one per product and face value (an order of 8,000 recipients is still a
    short invoice)."""
    grouped: dict[tuple[int, Decimal, Decimal], list[OrderLine]] = {}
    for line in order.lines.select_related("product").order_by("position"):
        grouped.setdefault((line.product_id, line.face_value, line.unit_price), []).append(line)
    result = []
    for (_pid, face_value, unit_price), group in grouped.items():
        product = group[0].product
        result.append(
            InvoiceLineData(
                description="",
                code=line_text.CARD_SALE,
                params=line_text.card_sale_params(
                    product=product.name, product_en=product.name_en, face_value=face_value
                ),
                face_value=face_value,
                quantity=sum(line.quantity for line in group),
                unit_price=unit_price,
                amount=sum((line.amount for line in group), ZERO),
            )
        )
    return result
