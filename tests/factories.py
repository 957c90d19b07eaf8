"""Small builders for test data: a company ready to order, its people, products, credit."""

from __future__ import annotations

import functools
import itertools
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from billing.models import CompanyPricing, CreditLine
from cards.models import CardProduct, CardType, Order
from portal.models import Company, Membership, Role, User
from portal.validators import CREDIT_CODE_ALPHABET, credit_code_check_character

if TYPE_CHECKING:
    from cards.services.orders import RegistrationInput

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"


def password_hash() -> str:
    """The hash of ``PASSWORD`` by the hasher the settings name first, computed once per run and
    hasher: the real one costs about a second per call by design, and test people need not each
    pay it (signing in still checks the password with that hasher). Keyed by the hashers because
    some tests sign in with a fast one, and a hash is only checked by the hasher that made it."""
    from django.conf import settings

    return _password_hash(tuple(settings.PASSWORD_HASHERS))


@functools.cache
def _password_hash(hashers: tuple[str, ...]) -> str:
    from django.contrib.auth.hashers import make_password

    return make_password(PASSWORD)


def _user(**fields: Any) -> User:
    user = User.objects.create_user(password=None, **fields)
    user.password = password_hash()
    user.save(update_fields=["password"])
    return user


def credit_code(n: int | None = None) -> str:
    n = next(_counter) if n is None else n
    first17 = f"91110000{n:09d}"
    assert all(ch in CREDIT_CODE_ALPHABET for ch in first17)
    return first17 + credit_code_check_character(first17)


def company(
    name: str = "",
    *,
    approval_threshold: str = "20000.00",
    status: str = "active",
    language: str = "en",
) -> Company:
    """A company; its documents (statements) are in English, as the suite reads in English
    (the model's default is Chinese)."""
    n = next(_counter)
    return Company.objects.create(
        legal_name=name or f"测试公司{n}",
        credit_code=credit_code(n),
        status=status,
        approval_threshold=Decimal(approval_threshold),
        language=language,
    )


def member(company: Company, role: str, email: str = "") -> User:
    email = email or f"{role}{next(_counter)}@example.com"
    user = User.objects.filter(email=email).first() or _user(email=email, first_name=role.title())
    Membership.objects.create(user=user, company=company, role=role)
    return user


def team(company: Company) -> dict[str, User]:
    return {role: member(company, role) for role in Role.values}


def product(
    *,
    name: str = "礼品卡",
    card_type: str = CardType.BEARER,
    face_values: list[str] | None = None,
    face_min: str | None = None,
    face_max: str | None = None,
    face_step: str | None = None,
    validity_months: int | None = 36,
    active: bool = True,
) -> CardProduct:
    if face_values is None and face_min is None:
        face_values = ["100", "200", "500", "1000"]
    return CardProduct.objects.create(
        name=name,
        name_en="Gift card",
        card_type=card_type,
        face_values=face_values or [],
        face_min=Decimal(face_min) if face_min else None,
        face_max=Decimal(face_max) if face_max else None,
        face_step=Decimal(face_step) if face_step else None,
        validity_months=None if card_type == CardType.REGISTERED else validity_months,
        active=active,
    )


def credit_line(
    company: Company, limit: str = "100000.00", *, net_days: int = 30, grace_days: int = 5
) -> CreditLine:
    return CreditLine.objects.create(
        company=company, limit=Decimal(limit), net_days=net_days, grace_days=grace_days
    )


def pricing(company: Company, mode: str, rate: str) -> CompanyPricing:
    return CompanyPricing.objects.create(company=company, mode=mode, rate=Decimal(rate))


# --- Orders and the people around them (added with the ordering tests) -------------------------


def operator(email: str = "") -> User:
    """A staff member of the issuer (risk review, credit lines)."""
    return _user(email=email or f"ops{next(_counter)}@issuer.example", is_staff=True)


def resident_id(first17: str = "11010519491231002") -> str:
    """A resident identity card number with a correct check character."""
    from portal.validators import resident_id_check_character

    return first17 + resident_id_check_character(first17)


def registration(id_number: str = "", **overrides: str) -> RegistrationInput:
    from cards.services.orders import RegistrationInput

    data = {
        "agent_name": "王小明",
        "id_type": "resident_id",
        "id_number": id_number or resident_id(),
        "contact_phone": "13800138000",
    }
    data.update(overrides)
    return RegistrationInput(**data)


def draft(
    company: Company,
    actor: User,
    *,
    card: CardProduct | None = None,
    face_value: str = "100",
    quantity: int = 10,
    **kwargs: Any,
) -> Order:
    """A draft order of one line (a new bearer product unless ``card`` is given)."""
    from cards.services.orders import LineInput, order_create

    card = card or product()
    return order_create(
        company=company,
        actor=actor,
        lines=[LineInput(product=str(card.public_id), face_value=face_value, quantity=quantity)],
        **kwargs,
    )


def submitted(company: Company, actor: User, **kwargs: Any) -> Order:
    from cards.services.workflow import order_submit

    return order_submit(order=draft(company, actor, **kwargs), actor=actor)


def run_funding_follow_ups() -> list[Order]:
    """What a worker does once a payment's transaction committed: run the follow-up queued for
    each paid pro-forma (``cards.tasks.order_fund_after_payment``), which funds its order."""
    from billing.models import Invoice
    from cards.models import OrderStatus
    from cards.tasks import order_fund_after_payment

    waiting = Order.objects.filter(
        status=OrderStatus.AWAITING_PAYMENT, proforma__status=Invoice.Status.PAID
    )
    funded = []
    for order in waiting:
        invoice = Invoice.objects.filter(
            company=order.company, order_number=order.number, kind=Invoice.Kind.INVOICE
        ).latest("created_at", "id")
        assert order.proforma_id is not None
        order_fund_after_payment(order.proforma_id, invoice.pk)
        funded.append(order)
    return funded
