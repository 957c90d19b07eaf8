"""The unified social credit code (GB 32100-2015) a company registers with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from portal.models import Company, User
from portal.services.companies import company_create
from portal.validators import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_character,
    validate_credit_code,
)

VALID_CODES = ["91350100M000100Y43", "91110000100000000R"]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _refusal(value: str) -> ValidationError:
    with pytest.raises(ValidationError) as excinfo:
        validate_credit_code(value)
    return excinfo.value


@pytest.mark.parametrize("code", VALID_CODES)
def test_a_well_formed_code_is_accepted(code: str) -> None:
    # Given a real-shaped code with a correct check character
    # When it is validated, then nothing is raised
    validate_credit_code(code)


@pytest.mark.parametrize(
    "typed",
    [
        "91350100m000100y43",
        "  91350100M000100Y43  ",
        "9135 0100 M000 100Y 43",
        " 91110000100000000r\t",
    ],
)
def test_lowercase_and_spaces_typed_around_a_code_are_forgiven(typed: str) -> None:
    # Given a valid code typed in lowercase or with spaces
    # When it is validated, then it is accepted like its normalised form
    validate_credit_code(typed)


@pytest.mark.parametrize("value", ["91350100M000100Y4", "91350100M000100Y433", "", "9135"])
def test_a_code_of_the_wrong_length_is_refused_naming_the_value_and_its_length(value: str) -> None:
    # When a code that is not 18 characters long is validated
    error = _refusal(value)
    # Then the person reads that a code has 18 characters, with what they typed and its length
    assert error.code == "credit_code_length"
    message = error.messages[0]
    assert "18 characters" in message
    assert f"“{value}”" in message
    assert f"has {len(value.replace(' ', ''))}." in message


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_a_code_with_a_letter_never_used_in_credit_codes_is_refused(letter: str) -> None:
    # Given an 18-character code with one of the unused letters in it
    value = f"91350100M000100{letter}43"
    # When it is validated
    error = _refusal(value)
    # Then the message names the value, the offending letter, and the letters never used
    assert error.code == "credit_code_characters"
    message = error.messages[0]
    assert f"“{value}” contains {letter}," in message
    assert "I, O, S, V and Z are not used" in message


def test_forbidden_lowercase_letters_are_reported_once_each_in_capitals() -> None:
    value = "91350100m0001o0io3"
    error = _refusal(value)
    assert error.code == "credit_code_characters"
    assert f"“{value}” contains I, O," in error.messages[0]


def test_a_code_with_a_wrong_check_character_is_refused_naming_the_expected_one() -> None:
    # Given a valid code whose last character was mistyped
    value = "91350100M000100Y44"
    # When it is validated
    error = _refusal(value)
    # Then the message names the value and the character the check expects
    assert error.code == "credit_code_check"
    message = error.messages[0]
    assert f"“{value}”" in message
    assert "GB 32100-2015" in message
    assert "should be 3." in message


def test_a_transposition_in_the_body_is_caught_by_the_check_character() -> None:
    value = "91351000M000100Y43"  # "0100" typed as "1000"
    error = _refusal(value)
    assert error.code == "credit_code_check"
    expected = credit_code_check_character(value[:17])
    assert expected != "3"
    assert f"should be {expected}." in error.messages[0]


alphabet_prefixes = st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=17, max_size=17)


@given(prefix=alphabet_prefixes)
def test_any_prefix_with_its_computed_check_character_validates(prefix: str) -> None:
    validate_credit_code(prefix + credit_code_check_character(prefix))


@given(prefix=alphabet_prefixes, position=st.integers(0, 17), data=st.data())
def test_changing_any_single_character_of_a_valid_code_is_refused(
    prefix: str, position: int, data: st.DataObject
) -> None:
    # Given a valid code
    code = prefix + credit_code_check_character(prefix)
    # When one character is replaced by another symbol of the alphabet
    replacement = data.draw(
        st.sampled_from([ch for ch in CREDIT_CODE_ALPHABET if ch != code[position]])
    )
    mistyped = code[:position] + replacement + code[position + 1 :]
    # Then the check character no longer matches
    with pytest.raises(ValidationError) as excinfo:
        validate_credit_code(mistyped)
    assert excinfo.value.code == "credit_code_check"


@pytest.mark.django_db
def test_a_company_with_an_invalid_code_fails_full_clean_on_the_credit_code_field() -> None:
    # Given a company whose code has a wrong check character
    company = Company(
        legal_name="Fujian Example Trading Co., Ltd.", credit_code="91350100M000100Y44"
    )
    # When it is cleaned
    with pytest.raises(ValidationError) as excinfo:
        company.full_clean()
    # Then the error is reported against the credit code field, with the expected character
    errors = excinfo.value.message_dict
    assert list(errors) == ["credit_code"]
    assert "should be 3." in errors["credit_code"][0]
    # And nothing was saved
    assert not Company.objects.exists()


@pytest.mark.django_db
def test_a_company_with_a_valid_code_passes_full_clean() -> None:
    company = Company(legal_name="Beijing Example Co., Ltd.", credit_code=VALID_CODES[1])
    company.full_clean()


@pytest.mark.django_db
def test_full_clean_stores_a_code_typed_in_lowercase_in_its_canonical_form() -> None:
    company = Company(
        legal_name="Fujian Example Trading Co., Ltd.", credit_code="91350100m000100y43"
    )

    company.full_clean()

    assert company.credit_code == "91350100M000100Y43"


@pytest.mark.django_db
def test_a_registered_code_typed_again_in_lowercase_is_refused_as_a_duplicate() -> None:
    # Given a company registered with a code
    owner = User.objects.create_user("owner@a.example", "Correct-Horse-42")
    company_create(legal_name="Alpha Trading Co., Ltd.", credit_code=VALID_CODES[0], owner=owner)
    # When someone (an operator in the admin, say) enters the same code in lowercase
    duplicate = Company(legal_name="Alpha Again Co., Ltd.", credit_code=VALID_CODES[0].lower())
    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    # Then it is refused on the credit code field, and only one company holds the code
    assert list(excinfo.value.message_dict) == ["credit_code"]
    assert Company.objects.count() == 1
