"""Card codes: unguessable, typo-proof, stored only as digest and ciphertext."""

from __future__ import annotations

import pytest

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
        assert [len(g) for g in groups] == [5, 5, 5, 5, 5]
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


# The check symbol's properties (typos, swaps, codes issued before, typed forms):
# tests/cards/test_code_check.py.


@pytest.mark.django_db
def test_secrets_carry_at_least_112_bits():
    assert codes.CODE_SYMBOLS * 5 >= 112
    key_id, cards = codes.generate(1, 1)
    code = codes.reveal(serial=cards[0].serial, key_id=key_id, ciphertext=cards[0].ciphertext)
    assert len(code.replace("-", "")) == 25
