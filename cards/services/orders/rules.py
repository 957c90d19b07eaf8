"""The rules of an order line (``LineRules``) and of a whole order's lines (``order_lines_check``):
product, face value, quantity, recipient, price."""

from __future__ import annotations

import re
import unicodedata
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Field
from django.utils.translation import gettext as _

from billing.money import ZERO, parse_amount
from billing.services.pricing import price_factor, price_line
from cards.models import (
    BEARER_MIN_VALIDITY_MONTHS,
    CardProduct,
    CardType,
    OrderLine,
    bearer_validity_rule,
    face_value_cap_rule,
)
from portal.models import Company

from .base import CheckedLine, CheckedOrder, LineInput, LineProblem
from .registration import registration_required


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
            rule = face_value_cap_rule(product.card_type)
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
                    bearer_validity_rule(),
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


def _line_field(name: str) -> Field[Any, Any]:
    field = OrderLine._meta.get_field(name)
    assert isinstance(field, Field)
    return field


# The recipient fields' lengths, as the order line stores them.
_RECIPIENT_LIMITS: dict[str, int] = {
    name: int(_line_field(name).max_length or 0)
    for name in ("recipient_name", "recipient_email", "employee_id", "cost_center", "note")
}


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
    if email and len(email) <= _RECIPIENT_LIMITS["recipient_email"] and not _email_ok(email):
        problems.append(
            LineProblem(
                "recipient_email", _("email"), raw.recipient_email, _("not an email address.")
            )
        )
    recipient = {
        "recipient_name": (raw.recipient_name or "").strip(),
        "recipient_mobile": mobile,
        "recipient_email": email,
        "employee_id": (raw.employee_id or "").strip(),
        "cost_center": (raw.cost_center or "").strip(),
        "note": (raw.note or "").strip(),
    }
    # A value longer than its column holds is refused, never cut.
    for name, limit in _RECIPIENT_LIMITS.items():
        value = recipient[name]
        if len(value) > limit:
            problems.append(
                LineProblem(
                    name,
                    str(_line_field(name).verbose_name),
                    getattr(raw, name),
                    _("%(count)s characters; at most %(max)s fit. Shorten it.")
                    % {"count": f"{len(value):,}", "max": f"{limit:,}"},
                )
            )
    return recipient
