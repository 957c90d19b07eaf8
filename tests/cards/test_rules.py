"""The single-purpose prepaid card rules (DESIGN.md section 7) on products and at submission:
face value caps, bearer validity, real-name purchase registration. Each refusal names its rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from cards.models import CardProduct, CardType, OrderStatus, PurchaseRegistration
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_submit
from portal.models import Role
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def unsaved(**fields) -> CardProduct:
    base = {
        "name": "礼品卡",
        "card_type": CardType.BEARER,
        "face_values": ["100", "500"],
        "validity_months": 36,
    }
    return CardProduct(**{**base, **fields})


def errors_of(product: CardProduct) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        product.full_clean()
    return exc.value.message_dict


# --- Products: caps and validity -----------------------------------------------------------------


def test_a_bearer_product_valid_36_months_with_values_up_to_1000_is_fine() -> None:
    unsaved(face_values=["100", "1000"]).full_clean()


def test_a_bearer_product_valid_under_3_years_is_refused_naming_the_rule() -> None:
    assert errors_of(unsaved(validity_months=35)) == {
        "validity_months": [
            "Prepaid card rule: bearer cards must be valid at least 36 months (3 years)."
        ]
    }


def test_a_bearer_product_without_validity_is_refused() -> None:
    assert "validity_months" in errors_of(unsaved(validity_months=None))


def test_a_registered_product_does_not_expire() -> None:
    product = unsaved(card_type=CardType.REGISTERED, validity_months=None)
    product.full_clean()
    assert errors_of(unsaved(card_type=CardType.REGISTERED, validity_months=12)) == {
        "validity_months": [
            "Prepaid card rule: registered cards do not expire; leave the validity empty."
        ]
    }


def test_a_bearer_face_value_above_1000_in_the_list_is_refused_naming_the_rule() -> None:
    assert errors_of(unsaved(face_values=["500", "1000.01"])) == {
        "face_values": ["Prepaid card rule: bearer cards have a face value of at most ¥1,000.00."]
    }


def test_a_bearer_range_above_1000_is_refused_naming_the_rule() -> None:
    product = unsaved(face_values=[], face_min=Decimal(100), face_max=Decimal(2000))
    assert errors_of(product) == {
        "face_max": ["Prepaid card rule: bearer cards have a face value of at most ¥1,000.00."]
    }


def test_a_registered_range_up_to_5000_is_fine_and_above_is_refused() -> None:
    fine = unsaved(
        card_type=CardType.REGISTERED,
        validity_months=None,
        face_values=[],
        face_min=Decimal(100),
        face_max=Decimal(5000),
        face_step=Decimal(100),
    )
    fine.full_clean()
    fine.face_max = Decimal("5000.01")
    assert errors_of(fine) == {
        "face_max": ["Prepaid card rule: registered cards have a face value of at most ¥5,000.00."]
    }


def test_a_product_needs_values_or_a_range_and_sane_ones() -> None:
    assert "face_values" in errors_of(unsaved(face_values=[]))
    assert errors_of(unsaved(face_values=["0", "abc"]))["face_values"] == [
        "Face values must be above zero.",
        "face value: abc is not an amount; write digits such as 100 or 99.50.",
    ]
    reversed_range = unsaved(face_values=[], face_min=Decimal(500), face_max=Decimal(100))
    assert errors_of(reversed_range) == {
        "face_max": ["The highest face value is below the lowest."]
    }


def test_the_database_refuses_a_bearer_product_valid_under_3_years() -> None:
    with (
        pytest.raises(IntegrityError, match="product_bearer_validity_3_years"),
        transaction.atomic(),
    ):
        unsaved(validity_months=24).save()


def test_the_database_refuses_a_bearer_range_above_the_cap() -> None:
    product = unsaved(face_values=[], face_min=Decimal(100), face_max=Decimal(1500))
    with pytest.raises(IntegrityError, match="product_face_max_within_cap"), transaction.atomic():
        product.save()


# --- Real-name purchase registration at submission -----------------------------------------------


@pytest.fixture
def company():
    company = factories.company(approval_threshold="1000000.00")
    factories.credit_line(company, "1000000.00")
    return company


@pytest.fixture
def purchaser(company):
    return factories.member(company, Role.PURCHASER)


def draft(company, purchaser, card, face_value: str, quantity: int, **kwargs):
    return order_create(
        company=company,
        actor=purchaser,
        lines=[LineInput(product=str(card.public_id), face_value=face_value, quantity=quantity)],
        **kwargs,
    )


REGISTRATION_RULE = (
    "Prepaid card rule: real-name purchase registration is required for registered cards and "
    "for orders of ¥10,000.00 or more. Add the agent's name, ID number and contact phone."
)


def test_registered_cards_cannot_be_submitted_without_registration(company, purchaser) -> None:
    # Given a small draft of registered cards without a registration
    card = factories.product(card_type=CardType.REGISTERED, face_values=["100"])
    order = draft(company, purchaser, card, "100", 1)
    # When it is submitted
    with pytest.raises(ValidationError) as exc:
        order_submit(order=order, actor=purchaser)
    # Then it is refused by the registration rule and stays a draft
    assert exc.value.message_dict == {"registration": [REGISTRATION_RULE]}
    order.refresh_from_db()
    assert order.status == OrderStatus.DRAFT


def test_bearer_orders_of_10000_or_more_need_registration(company, purchaser) -> None:
    card = factories.product()
    order = draft(company, purchaser, card, "1000", 10)  # exactly 10,000
    with pytest.raises(ValidationError) as exc:
        order_submit(order=order, actor=purchaser)
    assert exc.value.message_dict == {"registration": [REGISTRATION_RULE]}


def test_the_face_total_counts_even_when_a_discount_brings_the_price_under(
    company, purchaser
) -> None:
    factories.pricing(company, "discount", "5.00")
    order = draft(company, purchaser, factories.product(), "1000", 10)
    assert order.total == Decimal("9500.00")
    with pytest.raises(ValidationError, match="real-name purchase registration"):
        order_submit(order=order, actor=purchaser)


def test_bearer_orders_just_under_10000_need_no_registration(company, purchaser) -> None:
    card = factories.product(face_values=["100", "1000"])
    order = draft(company, purchaser, card, "100", 99)  # 9,900
    assert order_submit(order=order, actor=purchaser).status == OrderStatus.FUNDED


def test_with_a_registration_the_large_order_goes_through(company, purchaser) -> None:
    order = draft(
        company,
        purchaser,
        factories.product(),
        "1000",
        20,
        registration=factories.registration(),
    )
    assert order_submit(order=order, actor=purchaser).status == OrderStatus.FUNDED


def test_with_a_registration_registered_cards_go_through(company, purchaser) -> None:
    card = factories.product(card_type=CardType.REGISTERED, face_values=["5000"])
    order = draft(company, purchaser, card, "5000", 2, registration=factories.registration())
    assert order_submit(order=order, actor=purchaser).status == OrderStatus.FUNDED


def test_a_product_taken_off_sale_after_drafting_is_refused_at_submit(company, purchaser) -> None:
    card = factories.product()
    order = draft(company, purchaser, card, "100", 1)
    CardProduct.objects.filter(pk=card.pk).update(active=False)
    with pytest.raises(ValidationError, match="not a product on sale"):
        order_submit(order=order, actor=purchaser)


# --- Registrations are kept ----------------------------------------------------------------------


def test_registrations_cannot_be_edited_or_deleted_in_the_database(company, purchaser) -> None:
    order = draft(
        company,
        purchaser,
        factories.product(card_type=CardType.REGISTERED, face_values=["100"]),
        "100",
        1,
        registration=factories.registration(),
    )
    registration = order.registration
    # Never edited; deleted only past its five-year retention (tests/compliance/test_register.py).
    for statement, refusal in (
        ("UPDATE cards_purchaseregistration SET agent_name = 'x' WHERE id = %s", "append-only"),
        ("DELETE FROM cards_purchaseregistration WHERE id = %s", "within its retention"),
    ):
        with (
            pytest.raises(IntegrityError, match=refusal),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [registration.pk])
    assert PurchaseRegistration.objects.filter(pk=registration.pk, agent_name="王小明").exists()
