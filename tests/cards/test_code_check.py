"""The check symbol of card codes (docs/codes.md): new codes take it from their own 32 symbols
(a weighted sum in GF(32)) and refuse every one-symbol typo and every swap; codes issued with
Crockford's mod-37 check keep validating, and typed forms still normalise."""

from __future__ import annotations

import functools
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from cards import codes
from tests.cards.legacy_codes import legacy_code, legacy_generate_block

bodies = st.text(alphabet=codes.CROCKFORD, min_size=codes.CODE_SYMBOLS, max_size=codes.CODE_SYMBOLS)
HARD_TO_READ = "*~$=U"


def new_code(body: str) -> str:
    return body + codes.check_symbol(body)


def passes_new_check(code: str) -> bool:
    return codes.check_symbol(code[: codes.CODE_SYMBOLS]) == code[codes.CODE_SYMBOLS]


def passes_legacy_check(code: str) -> bool:
    return codes.legacy_check_symbol(code[: codes.CODE_SYMBOLS]) == code[codes.CODE_SYMBOLS]


def accepted(typed: str) -> bool:
    try:
        codes.normalize_code(typed)
    except codes.InvalidCode:
        return False
    return True


# --- New codes ------------------------------------------------------------------------------------


@given(bodies)
def test_a_new_codes_check_symbol_is_one_of_its_own_32_symbols(body):
    code = new_code(body)
    assert code[-1] in codes.CROCKFORD
    assert codes.normalize_code(code) == code


def test_generated_codes_end_in_a_symbol_people_can_read_and_pass_the_new_check():
    block = codes._code_block(20_000)
    generated = [block[i : i + 25].decode() for i in range(0, len(block), 25)]
    assert len(generated) == 20_000
    assert all(set(code) <= set(codes.CROCKFORD) for code in generated)
    assert all(passes_new_check(code) for code in generated)
    # Every check symbol occurs: the check is not stuck on a few values.
    assert {code[-1] for code in generated} == set(codes.CROCKFORD)


def test_every_position_has_its_own_non_zero_weight():
    """What makes the check refuse every one-symbol typo (a non-zero weight times a non-zero
    difference is non-zero) and every swap of two different symbols, at any distance (the two
    weights differ, so their sum is non-zero)."""
    weights = [*codes.CHECK_WEIGHTS, 1]  # the check symbol's own weight is 1
    assert len(weights) == codes.CODE_LENGTH
    assert 0 not in weights
    assert len(set(weights)) == len(weights)


@given(bodies, st.data())
def test_any_single_symbol_substitution_in_a_new_code_is_refused_by_the_check(body, data):
    code = new_code(body)
    position = data.draw(st.integers(0, codes.CODE_LENGTH - 1), label="position")
    wrong = data.draw(st.sampled_from([c for c in codes.CROCKFORD if c != code[position]]))
    typo = code[:position] + wrong + code[position + 1 :]
    assert not passes_new_check(typo)
    # The validator also accepts the old check, so a typo that happens to pass it (about 1 in
    # 37) reaches the digest look-up, which finds no card; every other typo is refused here.
    assert accepted(typo) == passes_legacy_check(typo)


@given(bodies, st.integers(0, codes.CODE_LENGTH - 2))
def test_any_adjacent_transposition_in_a_new_code_is_refused_by_the_check(body, position):
    code = new_code(body)
    if code[position] == code[position + 1]:
        return
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    assert not passes_new_check(swapped)
    assert accepted(swapped) == passes_legacy_check(swapped)


@pytest.mark.parametrize(
    "body", ["0Z" * 12, "0123456789ABCDEFGHJKMNPQ", "ZZZZZZZZZZZZZZZZZZZZZZZ0"]
)
def test_every_typo_and_swap_of_a_new_code_is_refused_exhaustively(body):
    """All 25 x 31 one-symbol typos and all swaps of two different symbols at any distance,
    including the pair 0/Z that Luhn mod 32 cannot tell apart when they are neighbours."""
    code = new_code(body)
    for position, wrong in itertools.product(range(codes.CODE_LENGTH), codes.CROCKFORD):
        if wrong != code[position]:
            assert not passes_new_check(code[:position] + wrong + code[position + 1 :])
    for i, j in itertools.combinations(range(codes.CODE_LENGTH), 2):
        if code[i] != code[j]:
            chars = list(code)
            chars[i], chars[j] = chars[j], chars[i]
            assert not passes_new_check("".join(chars)), (i, j)


@given(bodies, st.integers(0, codes.CODE_LENGTH - 2), st.sampled_from(codes.CROCKFORD))
def test_a_twin_error_in_a_new_code_is_refused_by_the_check(body, position, other):
    """``AA`` typed ``BB``: the two weights differ, so the change never cancels out."""
    code = new_code(body)
    pair = code[position : position + 2]
    if pair[0] != pair[1] or other == pair[0]:
        return
    assert not passes_new_check(code[:position] + other * 2 + code[position + 2 :])


# --- Codes issued before: Crockford's mod-37 check -----------------------------------------------


@given(bodies)
def test_codes_issued_with_the_mod_37_check_still_validate(body):
    code = legacy_code(body)
    assert code[-1] == codes.legacy_check_symbol(body)
    assert codes.normalize_code(code) == code


def test_old_codes_ending_in_a_symbol_outside_the_alphabet_still_validate():
    found: dict[str, str] = {}
    for n in itertools.count():
        body = f"{n:024d}"
        code = legacy_code(body)
        if code[-1] in HARD_TO_READ:
            found.setdefault(code[-1], code)
        if len(found) == len(HARD_TO_READ):
            break
    for code in found.values():
        assert codes.normalize_code(code) == code
        assert codes.normalize_code(codes.format_code(code).lower()) == code


@pytest.mark.django_db
def test_cards_issued_by_the_old_engine_reveal_validate_and_match_their_digest():
    block, plain = legacy_generate_block(5000, 300)
    assert any(code[-1] in HARD_TO_READ for code in plain)
    for serial, digest, ciphertext, code in zip(
        block.serials, block.digests, block.ciphertexts, plain, strict=True
    ):
        shown = codes.reveal(serial=f"{serial:016d}", key_id=block.key_id, ciphertext=ciphertext)
        assert shown == codes.format_code(code)
        canonical = codes.normalize_code(shown)
        assert canonical == code
        assert codes.code_digest(canonical) == digest


@given(bodies, st.data())
def test_a_one_symbol_typo_of_an_old_code_is_refused_unless_it_passes_the_new_check(body, data):
    code = legacy_code(body)
    position = data.draw(st.integers(0, codes.CODE_SYMBOLS - 1), label="position")
    wrong = data.draw(st.sampled_from([c for c in codes.CROCKFORD if c != code[position]]))
    typo = code[:position] + wrong + code[position + 1 :]
    assert not passes_legacy_check(typo)
    assert accepted(typo) == passes_new_check(typo)


# --- What people type -----------------------------------------------------------------------------

TYPED_FORMS = {"0": "0oO", "1": "1iIlL"}


@st.composite
def typed_forms(draw, code: str) -> str:
    """``code`` as a person might type it: any case, I/L for 1, O for 0, spaces or hyphens
    between any symbols."""
    out = []
    for ch in code:
        variants = TYPED_FORMS.get(ch, ch + ch.lower())
        out.append(draw(st.sampled_from(variants)))
        out.append(draw(st.sampled_from(["", "", " ", "-", "  "])))
    return "".join(out)


@given(bodies, st.booleans(), st.data())
def test_typed_forms_of_new_and_old_codes_normalise(body, old, data):
    code = legacy_code(body) if old else new_code(body)
    typed = data.draw(typed_forms(code))
    assert codes.normalize_code(typed) == code


@given(bodies)
def test_the_grouped_form_shown_to_people_normalises_back(body):
    code = new_code(body)
    shown = codes.format_code(code)
    assert [len(group) for group in shown.split("-")] == [5, 5, 5, 5, 5]
    assert codes.normalize_code(shown) == code
    assert codes.normalize_code(shown.replace("-", " ").lower()) == code


@pytest.mark.parametrize(
    "typed",
    ["", "ABC", "U" * 25, "!" * 25, "0" * 24 + "U" + "0", "0" * 26, "0" * 23 + "*0"],
)
def test_malformed_codes_are_refused_before_any_lookup(typed):
    with pytest.raises(codes.InvalidCode):
        codes.normalize_code(typed)


@functools.cache
def documented_check_symbol() -> Any:
    """The stand-alone check of docs/codes.md (for tills and partners), run from the page."""
    text = (Path(settings.BASE_DIR) / "docs" / "codes.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block
    namespace: dict[str, Any] = {}
    exec(block.group(1), namespace)  # our own documentation's example
    return namespace["check_symbol"]


@given(bodies)
def test_the_reference_implementation_in_the_docs_agrees(body):
    assert documented_check_symbol()(body) == codes.check_symbol(body)
