"""Card serials and secret codes: generation, check symbols, digests and encryption.

A serial is public: 16 digits, the last a Luhn check digit. A code is bearer cash: 24 Crockford
base32 symbols from ``secrets`` (120 bits) plus Crockford's mod-37 check symbol, so a mistyped
code is refused before any database look-up. A code is stored only as an HMAC-SHA256 digest
under the pepper (for look-up) and an AES-GCM ciphertext bound to its serial (for the one-time
reveal). Generation works on whole blocks: one ``token_bytes`` call and two translations per
block give every symbol, serials come from a Luhn table, and the per-code Python work is a few
slices, one ``int`` parse (check symbol), the HMAC from precomputed pad states and one AES-GCM
call: about 3 us per code on one core (docs/benchmarks.md, issuance).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from portal import crypto

CODE_SYMBOLS = 24
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_SYMBOLS = CROCKFORD + "*~$=U"
# Bulk symbols: each random byte gives one symbol from its low 5 bits (256 = 8 x 32, so every
# symbol is equally likely and 24 symbols carry 120 bits). The bytes are first mapped to Python's
# own base-32 digits, so ``int(digits, 32)`` gives the code's value for the check symbol in C,
# then to Crockford's alphabet.
_BASE32_DIGITS = b"0123456789abcdefghijklmnopqrstuv"
_BYTE_TO_DIGIT = bytes(_BASE32_DIGITS[b & 31] for b in range(256))
_DIGIT_TO_CROCKFORD = bytes.maketrans(_BASE32_DIGITS, CROCKFORD.encode())
_CHECK_BYTES = [ch.encode() for ch in CHECK_SYMBOLS]
_HMAC_BLOCK = 64  # SHA-256 block size
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))
# What people type: lower case, I/L for 1, O for 0, spaces and hyphens between groups.
_TYPED = str.maketrans({"I": "1", "L": "1", "O": "0", " ": None, "-": None})
_VALUE = {ch: i for i, ch in enumerate(CROCKFORD)}
CODE_PURPOSE = "card-code"
SERIAL_PREFIX = "8600"
SERIAL_BODY_DIGITS = 11
NONCE_BYTES = crypto.NONCE_BYTES
DIGEST_BYTES = 32  # HMAC-SHA256
CIPHERTEXT_BYTES = NONCE_BYTES + CODE_SYMBOLS + 1 + 16  # nonce, code with check, GCM tag


class InvalidCode(ValueError):
    """Not a card code (wrong length, a symbol outside the alphabet, or a failed check)."""


def _luhn_sum(digits: str, first_position: int) -> int:
    """Luhn's weighted digit sum, positions counted from the right starting at
    ``first_position``; even positions are doubled (those of a number without its check digit)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if (i + first_position) % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def luhn_check_digit(digits: str) -> str:
    return str((10 - _luhn_sum(digits, 0) % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def serial_for(n: int) -> str:
    """The serial of the n-th card ever allocated (n from 1)."""
    body = f"{SERIAL_PREFIX}{n:0{SERIAL_BODY_DIGITS}d}"
    return body + luhn_check_digit(body)


_LOW = 1000  # serial bodies are split into (high, low 3 digits)
_LOW_DIGITS = 3
# For each residue r of the high part's Luhn sum: low * 10 + check digit, for every low part.
_LOW_WITH_CHECK = [
    [low * 10 + (10 - (r + _luhn_sum(f"{low:03d}", 0)) % 10) % 10 for low in range(_LOW)]
    for r in range(10)
]
_SERIAL_BASE = int(SERIAL_PREFIX) * 10**SERIAL_BODY_DIGITS


def serial_numbers(first: int, count: int) -> list[int]:
    """``int(serial_for(n))`` for ``count`` consecutive n from ``first``, without a per-digit
    loop per card: the Luhn sum of the high digits is computed once per thousand."""
    serials: list[int] = []
    n, end = first, first + count
    while n < end:
        high, low = divmod(_SERIAL_BASE + n, _LOW)
        take = min(_LOW - low, end - n)
        residue = _luhn_sum(str(high), _LOW_DIGITS) % 10
        base = high * _LOW * 10
        serials.extend([base + tail for tail in _LOW_WITH_CHECK[residue][low : low + take]])
        n += take
    return serials


def check_symbol(symbols: str) -> str:
    value = 0
    for ch in symbols:
        value = value * 32 + _VALUE[ch]
    return CHECK_SYMBOLS[value % 37]


def normalize_code(typed: str) -> str:
    """The canonical 25-symbol form of a typed code, or InvalidCode. No database is involved."""
    text = typed.upper().translate(_TYPED)
    if len(text) != CODE_SYMBOLS + 1:
        raise InvalidCode("length")
    body, check = text[:CODE_SYMBOLS], text[CODE_SYMBOLS]
    if any(ch not in _VALUE for ch in body) or check not in CHECK_SYMBOLS:
        raise InvalidCode("alphabet")
    if check_symbol(body) != check:
        raise InvalidCode("check")
    return text


def format_code(canonical: str) -> str:
    """ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-7: groups of four, then the check symbol."""
    body = canonical[:CODE_SYMBOLS]
    groups = [body[i : i + 4] for i in range(0, CODE_SYMBOLS, 4)]
    return "-".join([*groups, canonical[CODE_SYMBOLS:]])


def _pepper() -> bytes:
    return settings.CARD_CODE_PEPPER.encode()


def code_digest(canonical: str) -> bytes:
    return hmac.digest(_pepper(), canonical.encode(), "sha256")


@cache
def _hmac_pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer pad blocks hashed once: per code,
    two ``copy()`` calls instead of re-keying (``hmac.digest`` costs 2 us, this 1.2 us)."""
    if len(key) > _HMAC_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_HMAC_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


@dataclass(frozen=True, slots=True)
class GeneratedCard:
    serial: str
    digest: bytes
    ciphertext: bytes  # nonce + AES-GCM ciphertext and tag, bound to the serial
    last4: str


@dataclass(frozen=True, slots=True)
class CardBlock:
    """New cards by column, ready for a bulk load: the i-th entry of each list is one card."""

    key_id: str
    serials: list[int]  # 16-digit serial numbers, check digit included
    digests: list[bytes]  # HMAC-SHA256 of the canonical code under the pepper
    ciphertexts: list[bytes]  # nonce + AES-GCM ciphertext and tag, bound to the serial
    last4s: list[bytes]  # ASCII


def generate_block(first_serial_number: int, count: int) -> CardBlock:
    """``count`` new cards with serials from ``first_serial_number``, by column. The plaintext
    codes live only inside this call."""
    key_id, box = crypto.current_cipher(CODE_PURPOSE)
    inner, outer = _hmac_pads(_pepper())
    new_inner, new_outer, encrypt = inner.copy, outer.copy, box.encrypt
    digits = secrets.token_bytes(CODE_SYMBOLS * count).translate(_BYTE_TO_DIGIT)
    symbols = digits.translate(_DIGIT_TO_CROCKFORD)
    nonces = os.urandom(NONCE_BYTES * count)
    serials = serial_numbers(first_serial_number, count)
    check = _CHECK_BYTES
    digests: list[bytes] = []
    ciphertexts: list[bytes] = []
    last4s: list[bytes] = []
    add_digest, add_ciphertext, add_last4 = digests.append, ciphertexts.append, last4s.append
    width, nonce_width = CODE_SYMBOLS, NONCE_BYTES
    for i, serial in enumerate(serials):
        start = i * width
        code = symbols[start : start + width] + check[int(digits[start : start + width], 32) % 37]
        inner_hash = new_inner()
        inner_hash.update(code)
        outer_hash = new_outer()
        outer_hash.update(inner_hash.digest())
        add_digest(outer_hash.digest())
        nonce = nonces[i * nonce_width : (i + 1) * nonce_width]
        add_ciphertext(nonce + encrypt(nonce, code, b"%016d" % serial))
        add_last4(code[-5:-1])
    return CardBlock(key_id, serials, digests, ciphertexts, last4s)


def generate(first_serial_number: int, count: int) -> tuple[str, list[GeneratedCard]]:
    """``count`` new cards with serials from ``first_serial_number``. Returns the key id and the
    cards; the plaintext codes live only inside this call. (The engine loads ``generate_block``
    columns directly; this shape is for callers that want one object per card.)"""
    block = generate_block(first_serial_number, count)
    return block.key_id, [
        GeneratedCard(serial=f"{serial:016d}", digest=digest, ciphertext=ct, last4=last4.decode())
        for serial, digest, ct, last4 in zip(
            block.serials, block.digests, block.ciphertexts, block.last4s, strict=True
        )
    ]


def reveal(*, serial: str, key_id: str, ciphertext: bytes) -> str:
    """The formatted code of one card. Callers audit every reveal."""
    box: AESGCM = crypto.cipher(key_id, CODE_PURPOSE)
    blob = bytes(ciphertext)
    code = box.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], serial.encode()).decode()
    return format_code(code)


def reencrypt(*, serial: str, key_id: str, ciphertext: bytes) -> tuple[str, bytes]:
    """The same code under the current key (key rotation)."""
    box = crypto.cipher(key_id, CODE_PURPOSE)
    blob = bytes(ciphertext)
    code = box.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], serial.encode())
    new_id, new_box = crypto.current_cipher(CODE_PURPOSE)
    nonce = os.urandom(NONCE_BYTES)
    return new_id, nonce + new_box.encrypt(nonce, code, serial.encode())


def iter_serials(first: int, count: int) -> Iterator[str]:
    for n in range(first, first + count):
        yield serial_for(n)
