"""Card codes: unguessable, typo-proof, stored only as digest and ciphertext."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards import codes


def test_serials_are_16_digits_with_a_valid_luhn_digit_and_consecutive():
    serials = list(codes.iter_serials(41, 3))
    assert [len(s) for s in serials] == [16, 16, 16]
    assert all(codes.luhn_valid(s) for s in serials)
    assert [int(s[:-1]) for s in serials] == [int(serials[0][:-1]) + i for i in range(3)]


def test_luhn_check_digit_matches_known_number():
    assert codes.luhn_check_digit("7992739871") == "3"


@pytest.mark.django_db
def test_generated_codes_round_trip_through_reveal_and_normalise():
    key_id, cards = codes.generate(1000, 50)
    assert len({c.digest for c in cards}) == 50
    for card in cards[:5]:
        shown = codes.reveal(serial=card.serial, key_id=key_id, ciphertext=card.ciphertext)
        groups = shown.split("-")
        assert [len(g) for g in groups] == [4, 4, 4, 4, 4, 4, 1]
        canonical = codes.normalize_code(shown.lower().replace("-", " "))
        assert codes.code_digest(canonical) == card.digest
        assert canonical[20:24] == card.last4


@pytest.mark.django_db
def test_stored_forms_do_not_contain_the_code():
    key_id, cards = codes.generate(1, 20)
    for card in cards:
        code = codes.reveal(serial=card.serial, key_id=key_id, ciphertext=card.ciphertext)
        plain = code.replace("-", "").encode()
        assert plain not in card.ciphertext
        assert plain not in card.digest


@pytest.mark.django_db
def test_ciphertext_is_bound_to_its_serial():
    key_id, cards = codes.generate(1, 2)
    with pytest.raises(Exception):  # noqa: B017,PT011  (cryptography's InvalidTag)
        codes.reveal(serial=cards[1].serial, key_id=key_id, ciphertext=cards[0].ciphertext)


@given(st.text(alphabet=codes.CROCKFORD, min_size=24, max_size=24), st.data())
def test_any_single_symbol_typo_is_caught_by_the_check_symbol(body, data):
    code = body + codes.check_symbol(body)
    assert codes.normalize_code(code) == code
    position = data.draw(st.integers(0, 23))
    wrong = data.draw(st.sampled_from([c for c in codes.CROCKFORD if c != body[position]]))
    typo = code[:position] + wrong + code[position + 1 :]
    with pytest.raises(codes.InvalidCode):
        codes.normalize_code(typo)


@given(st.text(alphabet=codes.CROCKFORD, min_size=24, max_size=24), st.integers(0, 22))
def test_swapping_two_neighbouring_symbols_is_caught(body, position):
    if body[position] == body[position + 1]:
        return
    code = body + codes.check_symbol(body)
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    with pytest.raises(codes.InvalidCode):
        codes.normalize_code(swapped)


def test_look_alike_letters_are_read_as_digits():
    body = "0" * 23 + "1"
    code = body + codes.check_symbol(body)
    typed = "o" * 23 + "l" + code[-1]
    assert codes.normalize_code(typed) == code


@pytest.mark.parametrize("typed", ["", "ABC", "U" * 25, "!" * 25])
def test_malformed_codes_are_refused_before_any_lookup(typed):
    with pytest.raises(codes.InvalidCode):
        codes.normalize_code(typed)


@pytest.mark.django_db
def test_secrets_carry_at_least_112_bits():
    assert codes.CODE_SYMBOLS * 5 >= 112
    key_id, cards = codes.generate(1, 1)
    code = codes.reveal(serial=cards[0].serial, key_id=key_id, ciphertext=cards[0].ciphertext)
    assert len(code.replace("-", "")) == 25
