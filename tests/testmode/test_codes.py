"""Test codes: TEST before an ordinary code, typed back in any form, never confused with a live
code (which has 25 symbols, even one that happens to start with TEST)."""

from __future__ import annotations

import pytest

from cards import codes


def test_a_test_code_reads_test_then_an_ordinary_code():
    body = "ABCDEFGHJKMNPQRSTVWXYZ01"
    canonical = body + codes.check_symbol(body)
    test = codes.TEST_MARK + canonical

    shown = codes.format_code(test)

    assert shown == "TEST-" + codes.format_code(canonical)
    assert codes.normalize_code(shown) == test
    assert codes.normalize_code(shown.lower().replace("-", " ")) == test
    assert codes.is_test_code(test)
    assert not codes.is_test_code(canonical)


def test_a_live_code_starting_with_test_is_not_a_test_code():
    body = "TEST" + "0" * 20
    canonical = body + codes.check_symbol(body)

    assert codes.normalize_code(canonical) == canonical
    assert not codes.is_test_code(canonical)


def test_a_test_code_with_a_typo_is_refused_like_any_code():
    body = "ABCDEFGHJKMNPQRSTVWXYZ01"
    wrong = (
        "TEST" + body + codes.CROCKFORD[(codes.CROCKFORD.index(codes.check_symbol(body)) + 1) % 32]
    )
    with pytest.raises(codes.InvalidCode):
        codes.normalize_code(wrong)


def test_generated_test_codes_digest_and_decrypt_with_their_mark():
    block = codes.generate_block(42, 3, test=True)
    for serial, digest, ciphertext in zip(
        block.serials, block.digests, block.ciphertexts, strict=True
    ):
        shown = codes.reveal(serial=f"{serial:016d}", key_id=block.key_id, ciphertext=ciphertext)
        assert shown.startswith("TEST-")
        assert codes.code_digest(codes.normalize_code(shown)) == digest
    live = codes.generate_block(42, 1)
    shown = codes.reveal(
        serial=f"{live.serials[0]:016d}", key_id=live.key_id, ciphertext=live.ciphertexts[0]
    )
    assert not shown.startswith("TEST")
    assert codes.code_digest(codes.normalize_code(shown)) == live.digests[0]
