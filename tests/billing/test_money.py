"""Money: strict parsing of what people type, rounding in one place, the display form."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.money import format_cny, parse_amount, quantize, quantize_unit_price
from billing.services.pricing import price_line

pytestmark = pytest.mark.usefixtures("english_and_fast_hashing")


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("100", "100.00"),
        ("99.9", "99.90"),
        ("99.90", "99.90"),
        (" 1,000.50 ", "1000.50"),
        ("1 000", "1000.00"),
        ("１００", "100.00"),  # noqa: RUF001 - full-width digits from a Chinese input method
        ("１，０００．５０", "1000.50"),  # noqa: RUF001
        ("100.000", "100.00"),  # trailing zeros are still two decimals' worth
        (250, "250.00"),
        (Decimal("12.5"), "12.50"),
        ("-5", "-5.00"),  # a negative amount parses; the rule that needs > 0 refuses it
    ],
)
def test_amounts_people_type_are_read_exactly(typed: object, amount: str) -> None:
    assert parse_amount(typed) == Decimal(amount)


@pytest.mark.parametrize(
    "typed",
    ["NaN", "nan", "Infinity", "-inf", "1e3", "1E3", "0x10", "", "abc", "100.", ".5", "1..2"],
)
def test_anything_but_plain_digits_is_not_an_amount(typed: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_amount(typed, field="face value")
    assert exc.value.code == "invalid"
    assert exc.value.messages == [
        f"face value: {typed} is not an amount; write digits such as 100 or 99.50."
    ]


def test_more_than_two_decimals_is_refused_naming_the_value() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_amount("99.999", field="face value")
    assert exc.value.code == "decimals"
    assert exc.value.messages == ["face value: 99.999 has more than 2 decimal places."]


def test_a_decimal_with_fractions_of_a_cent_is_refused_too() -> None:
    with pytest.raises(ValidationError, match="more than 2 decimal places"):
        parse_amount(Decimal("0.001"))


def test_a_float_is_never_an_amount() -> None:
    with pytest.raises(ValidationError, match="is not an amount"):
        parse_amount(0.1)


def test_a_boolean_is_not_an_amount() -> None:
    with pytest.raises(ValidationError, match="is not an amount"):
        parse_amount(True)


@pytest.mark.parametrize("typed", ["1" * 30, "1000000000000", "-1000000000000.00"])
def test_amounts_beyond_the_column_are_too_large_not_a_crash(typed: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_amount(typed)
    assert exc.value.code == "too_large"


@pytest.mark.parametrize("typed", ["1,00", "10,0000", ",100", "1,000,00"])
def test_commas_count_only_as_thousands_separators(typed: str) -> None:
    with pytest.raises(ValidationError, match="is not an amount"):
        parse_amount(typed)


def test_digits_of_other_scripts_are_refused() -> None:
    # Full-width digits are normalised to ASCII; Arabic-Indic ones are not amounts here.
    with pytest.raises(ValidationError, match="is not an amount"):
        parse_amount("٣")


def test_rounding_is_half_up_to_the_cent() -> None:
    assert quantize(Decimal("0.005")) == Decimal("0.01")
    assert quantize(Decimal("0.015")) == Decimal("0.02")  # not banker's rounding
    assert quantize(Decimal("-0.005")) == Decimal("-0.01")
    assert quantize_unit_price(Decimal("97.40245")) == Decimal("97.4025")


def test_a_line_is_rounded_once_from_the_exact_product() -> None:
    # 3 cards of 99.90 at a 2.5% discount: 292.2075 rounds to 292.21 (not 3 x 97.40 = 292.20)
    price = price_line(factor=Decimal("0.975"), face_value=Decimal("99.90"), quantity=3)
    assert price.unit_price == Decimal("97.4025")
    assert price.amount == Decimal("292.21")


def test_display_form_has_the_yuan_sign_and_thousands() -> None:
    assert format_cny(Decimal("1234.5")) == "¥1,234.50"
    assert format_cny(Decimal("-0.5")) == "-¥0.50"
    assert format_cny(Decimal("0.005")) == "¥0.01"
