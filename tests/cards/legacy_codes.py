"""Codes as the engine issued them before the GF(32) check (docs/codes.md): Crockford's mod-37
check symbol, computed in bulk as the old ``codes.generate_block`` did. Kept to show that codes
already in people's hands keep validating, revealing and matching their digest."""

from __future__ import annotations

import os
import secrets

from cards import codes
from portal import crypto

_BASE32_DIGITS = b"0123456789abcdefghijklmnopqrstuv"
_BYTE_TO_DIGIT = bytes(_BASE32_DIGITS[b & 31] for b in range(256))
_DIGIT_TO_CROCKFORD = bytes.maketrans(_BASE32_DIGITS, codes.CROCKFORD.encode())
_CHECK_BYTES = [ch.encode() for ch in codes.LEGACY_CHECK_SYMBOLS]


def legacy_code(body: str) -> str:
    """A 24-symbol body with its mod-37 check symbol, the old engine's way (``int(.., 32)``)."""
    digits = body.encode().translate(bytes.maketrans(codes.CROCKFORD.encode(), _BASE32_DIGITS))
    return body + _CHECK_BYTES[int(digits, 32) % 37].decode()


def legacy_generate_block(
    first_serial_number: int, count: int
) -> tuple[codes.CardBlock, list[str]]:
    """The old ``generate_block``: cards by column, plus (for the tests only) their codes."""
    key_id, box = crypto.current_cipher(codes.CODE_PURPOSE)
    digits = secrets.token_bytes(codes.CODE_SYMBOLS * count).translate(_BYTE_TO_DIGIT)
    symbols = digits.translate(_DIGIT_TO_CROCKFORD)
    serials = codes.serial_numbers(first_serial_number, count)
    width = codes.CODE_SYMBOLS
    digests, ciphertexts, last4s, plain = [], [], [], []
    for i, serial in enumerate(serials):
        start = i * width
        code = (
            symbols[start : start + width]
            + _CHECK_BYTES[int(digits[start : start + width], 32) % 37]
        )
        digests.append(codes.code_digest(code.decode()))
        nonce = os.urandom(codes.NONCE_BYTES)
        ciphertexts.append(nonce + box.encrypt(nonce, code, b"%016d" % serial))
        last4s.append(code[-5:-1])
        plain.append(code.decode())
    return codes.CardBlock(key_id, serials, digests, ciphertexts, last4s), plain
