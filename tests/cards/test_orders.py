"""Drafting orders: every line rule, pricing, who may order, and the buyer's own reference.

Each refusal names the line, the field, the value and the rule, and writes nothing.
"""

# Optional relations (order.invoice, a credit position...) are set in these stories; a None
# fails the test at once, so mypy need not be told each time.
# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from pytest_django.fixtures import Settings

from billing import line_text
from cards.audit import CardsAction
from cards.models import CardType, Order, OrderLine, OrderStatus, PurchaseRegistration
from cards.services.orders import LineInput, order_create, order_invoice_lines, order_update
from portal.models import AuditEvent, Role
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def company():
    return factories.company()


@pytest.fixture
def purchaser(company):
    return factories.member(company, Role.PURCHASER)


@pytest.fixture
def card():
    return factories.product()  # bearer, 100 / 200 / 500 / 1000


@pytest.fixture
def ranged():
    return factories.product(
        name="员工福利卡",
        card_type=CardType.REGISTERED,
        face_min="100",
        face_max="5000",
        face_step="100",
    )


def create(company, actor, *lines: LineInput, **kwargs) -> Order:
    return order_create(company=company, actor=actor, lines=list(lines), **kwargs)


def line(card, face_value: object = "100", quantity: object = 1, **kwargs) -> LineInput:
    return LineInput(
        product=str(card.public_id), face_value=face_value, quantity=quantity, **kwargs
    )


def refused(company, actor, *lines: LineInput, **kwargs) -> list[str]:
    """The messages of the refusal, after checking nothing was written."""
    with pytest.raises(ValidationError) as exc:
        create(company, actor, *lines, **kwargs)
    assert Order.objects.count() == 0
    assert OrderLine.objects.count() == 0
    return exc.value.messages


# --- A good draft --------------------------------------------------------------------------------


def test_a_purchaser_drafts_an_order_priced_by_the_server(company, purchaser, card) -> None:
    # Given a company with a 2% discount
    factories.pricing(company, "discount", "2.00")
    # When a purchaser drafts two lines
    order = create(company, purchaser, line(card, "100", 30), line(card, "500", 4))
    # Then the draft has the face total, the discounted price and the card count
    assert order.status == OrderStatus.DRAFT
    assert order.face_total == Decimal("5000.00")
    assert order.total == Decimal("4900.00")
    assert (order.card_count, order.line_count) == (34, 2)
    lines = list(order.lines.order_by("position"))
    assert [(x.face_value, x.quantity, x.unit_price, x.amount) for x in lines] == [
        (Decimal("100.00"), 30, Decimal("98.0000"), Decimal("2940.00")),
        (Decimal("500.00"), 4, Decimal("490.0000"), Decimal("1960.00")),
    ]
    # And its creation is in the audit trail
    event = AuditEvent.objects.get(action=CardsAction.ORDER_CREATED)
    assert event.actor == purchaser
    assert event.changes["total"] == "4900.00"


def test_full_width_digits_in_face_value_and_quantity_are_accepted(
    company, purchaser, card
) -> None:
    order = create(company, purchaser, line(card, "５００", "１２"))  # noqa: RUF001
    assert order.face_total == Decimal("6000.00")
    assert order.card_count == 12


def test_a_value_inside_a_products_range_and_step_is_accepted(company, purchaser, ranged) -> None:
    order = create(
        company,
        purchaser,
        line(ranged, "4,900", 2),
        registration=factories.registration(),
    )
    assert order.face_total == Decimal("9800.00")


def test_the_owner_may_order_too(company, card) -> None:
    owner = factories.member(company, Role.OWNER)
    assert create(company, owner, line(card)).created_by == owner


def test_a_product_id_in_capitals_is_found(company, purchaser, card) -> None:
    typed = LineInput(product=str(card.public_id).upper(), face_value="100", quantity=1)
    assert create(company, purchaser, typed).line_count == 1


# --- Face values ---------------------------------------------------------------------------------


def test_face_value_not_in_the_products_list_is_refused(company, purchaser, card) -> None:
    assert refused(company, purchaser, line(card, "300")) == [
        "Line 1, face value “300”: Gift card comes in 100 / 200 / 500 / 1,000."
    ]


def test_face_value_off_the_ranges_step_is_refused(company, purchaser, ranged) -> None:
    [message] = refused(company, purchaser, line(ranged, "150"))
    assert message.startswith("Line 1, face value “150”: Gift card comes in 100.00 - 5,000.00")


def test_face_value_below_the_range_is_refused(company, purchaser, ranged) -> None:
    [message] = refused(company, purchaser, line(ranged, "50"))
    assert "comes in 100.00 - 5,000.00" in message


@pytest.mark.parametrize("typed", ["0", "-5", "0.00"])
def test_zero_or_negative_face_value_is_refused(company, purchaser, card, typed) -> None:
    assert refused(company, purchaser, line(card, typed)) == [
        f"Line 1, face value “{typed}”: must be above zero."
    ]


@pytest.mark.parametrize("typed", ["NaN", "1e3", "100.005", "Infinity", "abc"])
def test_face_value_that_is_not_a_plain_amount_is_refused(company, purchaser, card, typed) -> None:
    [message] = refused(company, purchaser, line(card, typed))
    assert message.startswith(f"Line 1, face value “{typed}”: face value: {typed} ")


def test_bearer_face_value_above_1000_is_refused_naming_the_rule(company, purchaser) -> None:
    # Given a (badly set up) bearer product offering 2,000 in its list
    wide = factories.product(face_values=["500", "2000"])
    # Then ordering the 2,000 card is refused by the prepaid card rule, not the list
    assert refused(company, purchaser, line(wide, "2000")) == [
        "Line 1, face value “2000”: Prepaid card rule: bearer cards have a face value of at most "
        "¥1,000.00."
    ]


def test_registered_face_value_above_5000_is_refused_naming_the_rule(company, purchaser) -> None:
    wide = factories.product(card_type=CardType.REGISTERED, face_values=["5000", "6000"])
    assert refused(company, purchaser, line(wide, "6000")) == [
        "Line 1, face value “6000”: Prepaid card rule: registered cards have a face value of at "
        "most ¥5,000.00."
    ]


def test_registered_card_of_5000_is_within_the_cap(company, purchaser) -> None:
    card = factories.product(card_type=CardType.REGISTERED, face_values=["5000"])
    order = create(company, purchaser, line(card, "5000"), registration=factories.registration())
    assert order.face_total == Decimal("5000.00")


# --- Quantities and size -------------------------------------------------------------------------


@pytest.mark.parametrize("typed", [0, -1, "0", "-3", "1.5", "2.0", "abc", "", None, True, 1.0])
def test_quantity_that_is_not_a_whole_positive_number_is_refused(
    company, purchaser, card, typed
) -> None:
    assert refused(company, purchaser, line(card, "100", typed)) == [
        f"Line 1, quantity “{typed}”: give a whole number of cards from 1 to 1,000,000."
    ]


def test_quantity_above_the_maximum_is_refused(
    company, purchaser, card, settings: Settings
) -> None:
    settings.ORDER_MAX_QUANTITY = 50
    assert refused(company, purchaser, line(card, "100", 51)) == [
        "Line 1, quantity “51”: give a whole number of cards from 1 to 50."
    ]


def test_more_lines_than_allowed_is_refused(company, purchaser, card, settings: Settings) -> None:
    settings.ORDER_MAX_LINES = 3
    assert refused(company, purchaser, *[line(card)] * 4) == [
        "An order can have at most 3 lines; this one has 4."
    ]


def test_exactly_the_allowed_number_of_lines_is_accepted(
    company, purchaser, card, settings: Settings
) -> None:
    settings.ORDER_MAX_LINES = 3
    assert create(company, purchaser, *[line(card)] * 3).line_count == 3


def test_an_order_without_lines_is_refused(company, purchaser) -> None:
    assert refused(company, purchaser) == ["An order needs at least one line."]


def test_every_bad_line_is_listed_at_once(company, purchaser, card) -> None:
    messages = refused(
        company, purchaser, line(card, "100", 1), line(card, "300", 1), line(card, "100", 0)
    )
    assert [m.split(":")[0] for m in messages] == [
        "Line 2, face value “300”",
        "Line 3, quantity “0”",
    ]


# --- Products ------------------------------------------------------------------------------------


def test_a_product_taken_off_sale_is_refused(company, purchaser) -> None:
    old = factories.product(active=False)
    assert refused(company, purchaser, line(old)) == [
        f"Line 1, product “{old.public_id}”: not a product on sale."
    ]


@pytest.mark.parametrize("typed", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", ""])
def test_an_unknown_product_is_refused(company, purchaser, typed) -> None:
    ghost = LineInput(product=typed, face_value="100", quantity=1)
    assert refused(company, purchaser, ghost) == [
        f"Line 1, product “{typed}”: not a product on sale."
    ]


def test_a_bearer_product_valid_under_three_years_cannot_be_ordered(
    company, purchaser, card
) -> None:
    # Given a bearer product whose validity was cut below 3 years outside the admin's checks
    # (the database's CHECK refuses that, so the row is faked in memory)
    card.validity_months = 24
    [message] = refused(company, purchaser, LineInput(product=card, face_value="100", quantity=1))
    assert message == (
        "Line 1, product “Gift card”: "
        "Prepaid card rule: bearer cards must be valid at least 36 months (3 years)."
    )


# --- Payment and delivery ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["cash", "card", "alipay", ""])
def test_payment_other_than_credit_or_transfer_is_refused_naming_the_rule(
    company, purchaser, card, method
) -> None:
    with pytest.raises(ValidationError) as exc:
        create(company, purchaser, line(card), payment_method=method)
    assert exc.value.message_dict == {
        "payment_method": [
            "Prepaid card rule: companies pay only on credit terms or by bank transfer "
            f"(“{method}” is not accepted)."
        ]
    }
    assert not Order.objects.exists()


def test_bank_transfer_is_accepted(company, purchaser, card) -> None:
    order = create(company, purchaser, line(card), payment_method="bank_transfer")
    assert order.payment_method == "bank_transfer"


def test_delivery_to_recipients_needs_a_contact_on_every_line(company, purchaser, card) -> None:
    lines = [
        line(card, recipient_name="李雷", recipient_email="li.lei@example.com"),
        line(card, recipient_name="韩梅梅"),
    ]
    assert refused(company, purchaser, *lines, delivery_method="recipients") == [
        "Line 2, recipient “韩梅梅”: delivery to recipients needs an email or mobile on every line."
    ]


def test_recipient_mobile_and_email_are_checked_and_normalised(company, purchaser, card) -> None:
    bad = [line(card, recipient_mobile="12345"), line(card, recipient_email="not-an-email")]
    assert refused(company, purchaser, *bad) == [
        "Line 1, mobile “12345”: a mainland mobile number has 11 digits starting with 1.",
        "Line 2, email “not-an-email”: not an email address.",
    ]
    order = create(
        company,
        purchaser,
        line(card, recipient_mobile="+86 138 0013 8000", recipient_email=" Li@Example.COM "),
    )
    stored = order.lines.get()
    assert (stored.recipient_mobile, stored.recipient_email) == ("13800138000", "li@example.com")


# --- Who may order -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.APPROVER, Role.FINANCE, Role.VIEWER])
def test_roles_that_do_not_order_are_refused(company, card, role) -> None:
    user = factories.member(company, role)
    with pytest.raises(PermissionDenied):
        create(company, user, line(card))
    assert not Order.objects.exists()


def test_a_purchaser_of_another_company_cannot_order_for_this_one(company, card) -> None:
    outsider = factories.member(factories.company(), Role.PURCHASER)
    with pytest.raises(PermissionDenied):
        create(company, outsider, line(card))


@pytest.mark.parametrize("status", ["pending", "suspended"])
def test_a_company_that_is_not_active_cannot_order(card, status) -> None:
    company = factories.company(status=status)
    purchaser = factories.member(company, Role.PURCHASER)
    assert refused(company, purchaser, line(card))[0].endswith("orders open once we approve it.")


# --- The buyer's reference -----------------------------------------------------------------------


def test_the_same_reference_twice_in_one_company_is_refused(company, purchaser, card) -> None:
    first = create(company, purchaser, line(card), client_reference="PO-2026-001")
    with pytest.raises(ValidationError) as exc:
        create(company, purchaser, line(card), client_reference="PO-2026-001")
    assert exc.value.message_dict == {
        "client_reference": [
            f"Your reference “PO-2026-001” is already used by order {first.number}."
        ]
    }
    assert Order.objects.count() == 1


def test_the_same_reference_in_another_company_is_fine(company, purchaser, card) -> None:
    other = factories.company()
    create(company, purchaser, line(card), client_reference="PO-1")
    create(other, factories.member(other, Role.PURCHASER), line(card), client_reference="PO-1")
    assert Order.objects.count() == 2


def test_orders_without_a_reference_do_not_collide(company, purchaser, card) -> None:
    create(company, purchaser, line(card), client_reference="")
    create(company, purchaser, line(card))
    assert list(Order.objects.values_list("client_reference", flat=True)) == [None, None]


def test_order_numbers_are_opaque_and_unique(company, purchaser, card) -> None:
    numbers = {create(company, purchaser, line(card)).number for _ in range(5)}
    assert len(numbers) == 5
    assert all(n.startswith("PO") and len(n) == 14 for n in numbers)


# --- Changing a draft ----------------------------------------------------------------------------


def test_a_draft_can_be_changed_and_the_change_is_audited(company, purchaser, card) -> None:
    order = create(company, purchaser, line(card, "100", 1))
    order = order_update(
        order=order,
        actor=purchaser,
        lines=[line(card, "200", 5)],
        payment_method="bank_transfer",
        delivery_method="file",
    )
    assert (order.total, order.payment_method) == (Decimal("1000.00"), "bank_transfer")
    assert list(order.lines.values_list("face_value", "quantity")) == [(Decimal("200.00"), 5)]
    event = AuditEvent.objects.get(action=CardsAction.ORDER_UPDATED)
    assert event.changes == {
        "before": {"total": "100.00", "lines": 1},
        "after": {"total": "1000.00", "lines": 1},
    }


def test_a_bad_change_leaves_the_draft_as_it_was(company, purchaser, card) -> None:
    order = create(company, purchaser, line(card, "100", 1))
    with pytest.raises(ValidationError):
        order_update(
            order=order,
            actor=purchaser,
            lines=[line(card, "333", 5)],
            payment_method="credit",
            delivery_method="file",
        )
    order.refresh_from_db()
    assert order.total == Decimal("100.00")
    assert order.lines.count() == 1


def test_a_submitted_order_cannot_be_changed(company, purchaser, card) -> None:
    factories.credit_line(company)
    order = factories.submitted(company, purchaser, card=card)
    with pytest.raises(ValidationError, match="Only a draft can be changed; this order is Funded"):
        order_update(
            order=order,
            actor=purchaser,
            lines=[line(card, "200", 5)],
            payment_method="credit",
            delivery_method="file",
        )


# --- Invoice lines -------------------------------------------------------------------------------


def test_invoice_lines_group_recipients_by_product_and_face_value(company, purchaser, card) -> None:
    lines = [
        line(card, "100", 1, recipient_name=f"员工{n}", recipient_email=f"e{n}@example.com")
        for n in range(5)
    ] + [line(card, "500", 2, recipient_name="经理", recipient_email="m@example.com")]
    order = create(company, purchaser, *lines, delivery_method="recipients")
    grouped = order_invoice_lines(order)
    assert [(g.face_value, g.quantity, g.amount) for g in grouped] == [
        (Decimal("100.00"), 5, Decimal("500.00")),
        (Decimal("500.00"), 2, Decimal("1000.00")),
    ]
    # Stored as a code and the product's facts, rendered in the reader's language.
    assert grouped[0].code == line_text.CARD_SALE
    assert grouped[0].params["product"] == card.name
    rendered = line_text.render(grouped[0].code, grouped[0].params, grouped[0].description)
    assert rendered == f"{card.display_name}, face value ¥100.00"


# --- Purchase registration -----------------------------------------------------------------------


def test_registration_is_stored_encrypted_and_shown_masked(company, purchaser, ranged) -> None:
    number = factories.resident_id()
    order = create(
        company,
        purchaser,
        line(ranged, "1000", 1),
        registration=factories.registration(id_number=number),
    )
    registration = PurchaseRegistration.objects.get(pk=order.registration_id)
    # The ciphertext is not the number, in any encoding
    blob = bytes(registration.id_number_ciphertext)
    assert number.encode() not in blob
    assert number[-8:].encode() not in blob
    # Only the masked form is kept in clear
    assert registration.id_number_masked == number[:3] + "*" * 11 + number[-4:]
    assert number not in str(registration)
    # The company's identity is copied as it was on the day
    assert (registration.company_name, registration.credit_code) == (
        company.legal_name,
        company.credit_code,
    )
    # The audit trail records the masked number only
    event = AuditEvent.objects.get(action=CardsAction.REGISTRATION_RECORDED)
    assert number not in str(event.changes)
    assert event.changes["id_number"] == registration.id_number_masked


def test_the_full_id_number_can_be_read_back_for_compliance(company, purchaser, ranged) -> None:
    from cards.services.orders import registration_id_number

    number = factories.resident_id()
    order = create(
        company,
        purchaser,
        line(ranged, "1000", 1),
        registration=factories.registration(id_number=number),
    )
    assert registration_id_number(order.registration) == number


def test_two_registrations_of_one_number_have_different_ciphertexts(
    company, purchaser, ranged
) -> None:
    first = create(company, purchaser, line(ranged, "100"), registration=factories.registration())
    second = create(company, purchaser, line(ranged, "100"), registration=factories.registration())
    assert bytes(first.registration.id_number_ciphertext) != bytes(
        second.registration.id_number_ciphertext
    )


def test_a_resident_id_with_a_wrong_check_character_is_refused(company, purchaser, ranged) -> None:
    good = factories.resident_id()
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(ValidationError) as exc:
        create(
            company,
            purchaser,
            line(ranged, "100"),
            registration=factories.registration(id_number=wrong),
        )
    assert exc.value.message_dict == {
        "id_number": ["The resident identity card number does not check out; please re-type it."]
    }
    assert not PurchaseRegistration.objects.exists()
    assert not Order.objects.exists()


def test_a_resident_id_check_character_x_is_accepted_in_lower_case(
    company, purchaser, ranged
) -> None:
    first17 = next(
        f"1101051949123{n:04d}"
        for n in range(10000)
        if factories.resident_id(f"1101051949123{n:04d}")[-1] == "X"
    )
    number = factories.resident_id(first17)
    order = create(
        company,
        purchaser,
        line(ranged, "100"),
        registration=factories.registration(id_number=number.lower()),
    )
    assert order.registration.id_number_masked.endswith(number[-4:])


def test_an_incomplete_registration_lists_every_missing_part(company, purchaser, ranged) -> None:
    with pytest.raises(ValidationError) as exc:
        create(
            company,
            purchaser,
            line(ranged, "100"),
            registration=factories.registration(
                agent_name=" ", id_number="12345", contact_phone="call me"
            ),
        )
    assert set(exc.value.message_dict) == {"agent_name", "id_number", "contact_phone"}


def test_a_passport_number_is_accepted_as_printed(company, purchaser, ranged) -> None:
    order = create(
        company,
        purchaser,
        line(ranged, "100"),
        registration=factories.registration(id_type="passport", id_number="E12345678"),
    )
    assert order.registration.id_number_masked == "E12**5678"


# --- Demo data -----------------------------------------------------------------------------------


def test_the_demo_catalog_credit_and_discount_are_ready_to_order(
    settings: Settings, tmp_path
) -> None:
    from io import StringIO

    from django.core.management import call_command

    from billing.models import CompanyPricing, CreditLine
    from cards.models import CardProduct
    from portal.models import Company, User

    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())  # idempotent
    company = Company.objects.get(credit_code="91350100M000100Y43")
    credit = CreditLine.objects.get(company=company)
    assert (credit.limit, credit.net_days, credit.grace_days) == (Decimal("500000.00"), 30, 5)
    pricing = CompanyPricing.objects.get(company=company)
    assert (pricing.mode, pricing.rate) == ("discount", Decimal("2.00"))
    assert CardProduct.objects.count() == 3
    gift = CardProduct.objects.get(name_en="Gift card")
    assert gift.listed_face_values() == [Decimal(v) for v in ("100", "200", "500", "1000")]
    assert gift.validity_months == 36
    registered = CardProduct.objects.get(card_type=CardType.REGISTERED)
    assert (registered.face_min, registered.face_max, registered.face_step) == (
        Decimal("100.00"),
        Decimal("5000.00"),
        Decimal("100.00"),
    )
    purchaser = User.objects.get(email="purchaser@demo.example")
    order = create(company, purchaser, line(gift, "500", 4))
    assert order.total == Decimal("1960.00")
