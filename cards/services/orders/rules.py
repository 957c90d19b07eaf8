"""Orders: drafting, pricing and the prepaid-card rules. One place for every rule an order line
or an order must satisfy; the portal, the API and file uploads all come through here."""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import line_text, locks
from billing.money import ZERO, format_cny, parse_amount
from billing.services.invoices import InvoiceLineData
from billing.services.pricing import price_factor, price_line
from cards.audit import CardsAction
from cards.models import (
    BEARER_MIN_VALIDITY_MONTHS,
    REGISTRATION_ORDER_THRESHOLD,
    CardProduct,
    CardType,
    DeliveryMethod,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    PurchaseRegistration,
)
from portal import crypto, policy
from portal.models import ApiKey, Company, User
from portal.policy import Action
from portal.services.audit import audit_record
from portal.validators import validate_resident_id

_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_PURPOSE = "purchase-registration-id"


class OrderAlreadyCreated(Exception):
    """A form already created this order (the same one-time form token was sent again): the
    caller shows that order instead of a second one."""

    def __init__(self, order: Order) -> None:
        super().__init__(order.number)
        self.order = order


@dataclass
class LineInput:
    """One order line as a buyer sent it: raw values, checked by ``order_lines_check``."""

    product: str | CardProduct  # public id or product
    face_value: Any
    quantity: Any
    recipient_name: str = ""
    recipient_mobile: str = ""
    recipient_email: str = ""
    employee_id: str = ""
    cost_center: str = ""
    note: str = ""


@dataclass
class RegistrationInput:
    agent_name: str
    id_type: str
    id_number: str
    contact_phone: str


@dataclass
class CheckedLine:
    product: CardProduct
    face_value: Decimal
    quantity: int
    unit_price: Decimal
    amount: Decimal
    recipient: dict[str, str] = field(default_factory=dict)


@dataclass
class CheckedOrder:
    lines: list[CheckedLine]
    face_total: Decimal
    total: Decimal
    card_count: int
    needs_registration: bool


def line_error(position: int, field_label: str, value: object, reason: str) -> str:
    return _("Line %(line)s, %(field)s “%(value)s”: %(reason)s") % {
        "line": position,
        "field": field_label,
        "value": value,
        "reason": reason,
    }


def _require_active_company(company: Company) -> None:
    if company.status != Company.Status.ACTIVE:
        raise ValidationError(
            _("%(company)s is not active yet (status: %(status)s); orders open once we approve it.")
            % {"company": company.legal_name, "status": company.get_status_display()}
        )


def _product_key(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        return None


def _products_by_id(lines: list[LineInput]) -> dict[uuid.UUID, CardProduct]:
    """Products named by public id (the catalog is the same for every company)."""
    wanted = {
        key
        for line in lines
        if not isinstance(line.product, CardProduct)
        and (key := _product_key(line.product)) is not None
    }
    if not wanted:
        return {}
    return {p.public_id: p for p in CardProduct.objects.filter(public_id__in=wanted)}


@dataclass(frozen=True)
class LineProblem:
    """One broken rule of one line: the field (``product``, ``face_value``, ``quantity``,
    ``recipient_mobile``, ``recipient_email``), its label, the value as given, and the reason."""

    field: str
    label: str
    value: object
    reason: str

    def message(self, position: int) -> str:
        return line_error(position, self.label, self.value, self.reason)


# Emails that Django's validate_email certainly accepts (a stricter pattern), checked without
# its slower path; anything else goes through validate_email itself.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    re.ASCII,
)


def _email_ok(email: str) -> bool:
    if len(email) <= 254 and _PLAIN_EMAIL.fullmatch(email):
        return True
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def _hashable_key(value: object) -> object | None:
    """A cache key that keeps 100, Decimal("100") and "100" apart (their messages differ)."""
    if type(value) is str:
        return value
    try:
        hash(value)
    except TypeError:
        return None
    return (type(value), value)


class LineRules:
    """Every rule an order line must satisfy, for one company, with what can be remembered
    remembered: products, parsed face values and quantities, the product rules of each product
    and face value, and prices. ``order_lines_check`` (the portal form and the API) and order
    files (``cards.services.uploads``) both check lines here, one line at a time, so that a file
    of 100,000 lines costs a few microseconds a line and says exactly what the form would say.
    """

    def __init__(self, company: Company, products: dict[uuid.UUID, CardProduct] | None = None):
        self.company = company
        self.factor = price_factor(company)
        self._products = dict(products or {})
        self._product_cache: dict[object, tuple[CardProduct | None, LineProblem | None]] = {}
        self._face_cache: dict[
            object, tuple[Decimal | None, LineProblem | None, LineProblem | None]
        ] = {}
        self._looked_up: set[uuid.UUID] = set(self._products)
        self._quantity_cache: dict[object, int | None] = {}
        self._rule_cache: dict[tuple[int, Decimal], list[tuple[str, str, str, bool]]] = {}
        self._price_cache: dict[tuple[Decimal, int], tuple[Decimal, Decimal]] = {}

    def load_products(self, lines: list[LineInput]) -> None:
        """Fetch, in one query, the products these lines name by public id."""
        self._products.update(_products_by_id(lines))
        self._looked_up.update(
            key
            for line in lines
            if not isinstance(line.product, CardProduct)
            and (key := _product_key(line.product)) is not None
        )

    def price(self, face_value: Decimal, quantity: int) -> tuple[Decimal, Decimal]:
        """(unit price, line amount) at this company's price."""
        key = (face_value, quantity)
        found = self._price_cache.get(key)
        if found is None:
            price = price_line(factor=self.factor, face_value=face_value, quantity=quantity)
            found = self._price_cache[key] = (price.unit_price, price.amount)
        return found

    def _product(self, raw: str | CardProduct) -> tuple[CardProduct | None, LineProblem | None]:
        cache_key: object = ("pk", raw.pk) if isinstance(raw, CardProduct) else raw
        found = self._product_cache.get(cache_key)
        if found is not None:
            return found
        if isinstance(raw, CardProduct):
            product: CardProduct | None = raw
        else:
            key = _product_key(raw)
            if key is not None and key not in self._looked_up:
                self._looked_up.add(key)
                self._products.update(
                    {p.public_id: p for p in CardProduct.objects.filter(public_id=key)}
                )
            product = self._products.get(key) if key is not None else None
        problem = None
        if product is None or not product.active:
            problem = LineProblem("product", _("product"), raw, _("not a product on sale."))
        elif not product.offered_to(self.company):
            problem = LineProblem("product", _("product"), raw, _("not in your company's catalog."))
            product = None
        found = (product, problem)
        self._product_cache[cache_key] = found
        return found

    def _face_value(
        self, raw: object
    ) -> tuple[Decimal | None, LineProblem | None, LineProblem | None]:
        """(value, the parse problem, the "above zero" problem): the form reports the second
        after the quantity, so they are kept apart."""
        cache_key = _hashable_key(raw)
        if cache_key is not None:
            found = self._face_cache.get(cache_key)
            if found is not None:
                return found
        parse_problem = positive_problem = None
        face_value: Decimal | None
        try:
            face_value = parse_amount(raw, field=_("face value"))
        except ValidationError as exc:
            parse_problem = LineProblem("face_value", _("face value"), raw, exc.messages[0])
            face_value = None
        if face_value is not None and face_value <= 0:
            positive_problem = LineProblem(
                "face_value", _("face value"), raw, _("must be above zero.")
            )
            face_value = None
        result = (face_value, parse_problem, positive_problem)
        if cache_key is not None:
            self._face_cache[cache_key] = result
        return result

    def _quantity(self, raw: object) -> int | None:
        cache_key = _hashable_key(raw)
        if cache_key is None:
            return _parse_quantity(raw)
        if cache_key in self._quantity_cache:
            return self._quantity_cache[cache_key]
        value = self._quantity_cache[cache_key] = _parse_quantity(raw)
        return value

    def _product_rules(
        self, product: CardProduct, face_value: Decimal
    ) -> list[tuple[str, str, str, bool]]:
        """(field, label, reason, about the product rather than the face value) per broken
        rule of this product at this face value."""
        key = (product.pk, face_value)
        found = self._rule_cache.get(key)
        if found is not None:
            return found
        broken: list[tuple[str, str, str, bool]] = []
        cap = product.face_value_cap
        if face_value > cap:
            rule = (
                _("prepaid card rule: bearer cards at most %(cap)s")
                if product.card_type == CardType.BEARER
                else _("prepaid card rule: registered cards at most %(cap)s")
            ) % {"cap": format_cny(cap)}
            broken.append(("face_value", _("face value"), rule, False))
        elif not product.allows_face_value(face_value):
            broken.append(
                (
                    "face_value",
                    _("face value"),
                    _("%(product)s comes in %(values)s.")
                    % {"product": product.display_name, "values": product.face_values_label},
                    False,
                )
            )
        if (
            product.card_type == CardType.BEARER
            and (product.validity_months or 0) < BEARER_MIN_VALIDITY_MONTHS
        ):
            broken.append(
                (
                    "product",
                    _("product"),
                    _("prepaid card rule: bearer cards must be valid at least 3 years."),
                    True,
                )
            )
        self._rule_cache[key] = broken
        return broken

    def check(self, raw: LineInput) -> tuple[CheckedLine | None, list[LineProblem]]:
        """One line: the checked and priced line, or None and every rule it breaks."""
        problems: list[LineProblem] = []
        product, product_problem = self._product(raw.product)
        if product_problem is not None:
            problems.append(product_problem)
        face_value, parse_problem, positive_problem = self._face_value(raw.face_value)
        if parse_problem is not None:
            problems.append(parse_problem)
        quantity = self._quantity(raw.quantity)
        if quantity is None:
            problems.append(
                LineProblem(
                    "quantity",
                    _("quantity"),
                    raw.quantity,
                    _("give a whole number of cards from 1 to %(max)s.")
                    % {"max": f"{settings.ORDER_MAX_QUANTITY:,}"},
                )
            )
        if positive_problem is not None:
            problems.append(positive_problem)
        if product is not None and product.active and face_value is not None:
            for field_name, label, reason, about_product in self._product_rules(
                product, face_value
            ):
                value = product.display_name if about_product else raw.face_value
                problems.append(LineProblem(field_name, label, value, reason))
        recipient = _recipient(raw, problems)
        if problems:
            return None, problems
        assert product is not None
        assert face_value is not None
        assert quantity is not None
        unit_price, amount = self.price(face_value, quantity)
        return (
            CheckedLine(
                product=product,
                face_value=face_value,
                quantity=quantity,
                unit_price=unit_price,
                amount=amount,
                recipient=recipient,
            ),
            problems,
        )


def order_lines_check(*, company: Company, lines: list[LineInput]) -> CheckedOrder:
    """Check and price lines. Raises one ValidationError listing every problem, line by line,
    each naming the field, the value and the rule."""
    errors: list[str] = []
    if not lines:
        raise ValidationError(_("An order needs at least one line."))
    if len(lines) > settings.ORDER_MAX_LINES:
        raise ValidationError(
            _("An order can have at most %(max)s lines; this one has %(count)s.")
            % {"max": f"{settings.ORDER_MAX_LINES:,}", "count": f"{len(lines):,}"}
        )
    rules = LineRules(company)
    rules.load_products(lines)
    checked: list[CheckedLine] = []
    for position, raw in enumerate(lines, start=1):
        line, problems = rules.check(raw)
        if problems:
            errors.extend(problem.message(position) for problem in problems)
        elif line is not None:
            checked.append(line)
    if errors:
        raise ValidationError(errors)
    return checked_order(checked)


def checked_order(checked: list[CheckedLine]) -> CheckedOrder:
    face_total = sum((line.face_value * line.quantity for line in checked), ZERO)
    total = sum((line.amount for line in checked), ZERO)
    return CheckedOrder(
        lines=checked,
        face_total=face_total,
        total=total,
        card_count=sum(line.quantity for line in checked),
        needs_registration=registration_required(
            face_total=face_total,
            total=total,
            has_registered=any(line.product.card_type == CardType.REGISTERED for line in checked),
        ),
    )


def registration_required(*, face_total: Decimal, total: Decimal, has_registered: bool) -> bool:
    """Real-name registration: any registered card, or a purchase of 10,000 CNY or more."""
    return has_registered or max(face_total, total) >= REGISTRATION_ORDER_THRESHOLD


def _parse_quantity(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    else:
        text = unicodedata.normalize("NFKC", str(raw)).strip().replace(",", "")
        if not text.isdigit():
            return None
        value = int(text)
    if not 1 <= value <= settings.ORDER_MAX_QUANTITY:
        return None
    return value


def _recipient(raw: LineInput, problems: list[LineProblem]) -> dict[str, str]:
    """The recipient fields as stored; a broken rule is appended to ``problems``."""
    mobile = raw.recipient_mobile or ""
    if mobile and not mobile.isdigit():
        mobile = "".join(mobile.split())
    email = raw.recipient_email or ""
    if email:
        email = email.strip().lower()
    if mobile:
        digits = mobile.removeprefix("+86").removeprefix("0086")
        if not (len(digits) == 11 and digits.isdigit() and digits.startswith("1")):
            problems.append(
                LineProblem(
                    "recipient_mobile",
                    _("mobile"),
                    raw.recipient_mobile,
                    _("a mainland mobile number has 11 digits starting with 1."),
                )
            )
        else:
            mobile = digits
    if email and not _email_ok(email):
        problems.append(
            LineProblem(
                "recipient_email", _("email"), raw.recipient_email, _("not an email address.")
            )
        )
    return {
        "recipient_name": (raw.recipient_name or "").strip()[:100],
        "recipient_mobile": mobile,
        "recipient_email": email,
        "employee_id": (raw.employee_id or "").strip()[:64],
        "cost_center": (raw.cost_center or "").strip()[:64],
        "note": (raw.note or "").strip()[:200],
    }


def order_number_new() -> str:
    """PO + local date + 6 random symbols: opaque, not sequential, readable on the phone."""
    day = timezone.localdate().strftime("%y%m%d")
    return f"PO{day}{''.join(secrets.choice(_NUMBER_ALPHABET) for _ in range(6))}"


def registration_record(
    *, company: Company, data: RegistrationInput, actor: User | None
) -> PurchaseRegistration:
    errors: dict[str, str] = {}
    agent = data.agent_name.strip()
    number = "".join(data.id_number.split()).upper()
    phone = "".join(data.contact_phone.split())
    if not agent:
        errors["agent_name"] = _("Give the agent's full name.")
    if data.id_type not in PurchaseRegistration.IdType.values:
        errors["id_type"] = _("Choose the kind of ID.")
    elif data.id_type == PurchaseRegistration.IdType.RESIDENT_ID:
        try:
            validate_resident_id(number)
        except ValidationError as exc:
            errors["id_number"] = exc.messages[0]
    elif not 5 <= len(number) <= 32:
        errors["id_number"] = _("Give the ID number as printed on the document.")
    if not 7 <= len(phone.lstrip("+")) <= 20 or not phone.lstrip("+").isdigit():
        errors["contact_phone"] = _("Give a contact phone number.")
    if errors:
        raise ValidationError(errors)
    key_id, blob = crypto.encrypt(number, purpose=_ID_PURPOSE)
    registration = PurchaseRegistration.objects.create(
        company=company,
        company_name=company.legal_name,
        credit_code=company.credit_code,
        agent_name=agent,
        id_type=data.id_type,
        id_number_key_id=key_id,
        id_number_ciphertext=blob,
        id_number_masked=crypto.mask(number),
        contact_phone=phone,
        created_by=actor,
    )
    audit_record(
        action=CardsAction.REGISTRATION_RECORDED,
        actor=actor,
        company=company,
        obj=registration,
        changes={"agent": agent, "id_number": registration.id_number_masked},
    )
    return registration


def registration_id_number(registration: PurchaseRegistration) -> str:
    """The full ID number, for a compliance report only; never shown in the portal."""
    return crypto.decrypt(
        registration.id_number_key_id,
        bytes(registration.id_number_ciphertext),
        purpose=_ID_PURPOSE,
    )


def _check_methods(payment_method: str, delivery_method: str) -> None:
    if payment_method not in PaymentMethod.values:
        raise ValidationError(
            {
                "payment_method": _(
                    "Prepaid card rule: companies pay only on credit terms or by bank transfer "
                    "(“%(value)s” is not accepted)."
                )
                % {"value": payment_method}
            }
        )
    if delivery_method not in DeliveryMethod.values:
        raise ValidationError(
            {"delivery_method": _("Choose delivery by file or to each recipient.")}
        )


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
    _require_active_company(company)
    _check_methods(payment_method, delivery_method)
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


@dataclass(frozen=True)
class OrderTotals:
    face_total: Decimal
    total: Decimal
    card_count: int
    line_count: int


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
    _check_methods(payment_method, delivery_method)
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
