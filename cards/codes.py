"""Card serials and secret codes: generation, check symbols, digests and encryption.

A serial is public: 16 digits, the last a Luhn check digit. A code is bearer cash: 24 Crockford
base32 symbols from ``secrets`` (120 bits) plus Crockford's mod-37 check symbol, so a mistyped
code is refused before any database look-up. A code is stored only as an HMAC-SHA256 digest
under the pepper (for look-up) and an AES-GCM ciphertext bound to its serial (for the one-time
reveal). Generation works on whole blocks: one ``token_bytes`` call, one base32 encoding and one
translation per block, so the per-code Python work is a few slices and two C calls.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from portal import crypto

CODE_SYMBOLS = 24
CODE_BYTES = CODE_SYMBOLS * 5 // 8  # 15 bytes = 120 bits
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_SYMBOLS = CROCKFORD + "*~$=U"
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = bytes.maketrans(_RFC4648.encode(), CROCKFORD.encode())
# What people type: lower case, I/L for 1, O for 0, spaces and hyphens between groups.
_TYPED = str.maketrans({"I": "1", "L": "1", "O": "0", " ": None, "-": None})
_VALUE = {ch: i for i, ch in enumerate(CROCKFORD)}
CODE_PURPOSE = "card-code"
SERIAL_PREFIX = "8600"
SERIAL_BODY_DIGITS = 11
NONCE_BYTES = crypto.NONCE_BYTES


class InvalidCode(ValueError):
    """Not a card code (wrong length, a symbol outside the alphabet, or a failed check)."""


def luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def serial_for(n: int) -> str:
    """The serial of the n-th card ever allocated (n from 1)."""
    body = f"{SERIAL_PREFIX}{n:0{SERIAL_BODY_DIGITS}d}"
    return body + luhn_check_digit(body)


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


@dataclass(frozen=True, slots=True)
class GeneratedCard:
    serial: str
    digest: bytes
    ciphertext: bytes  # nonce + AES-GCM ciphertext and tag, bound to the serial
    last4: str


def generate(first_serial_number: int, count: int) -> tuple[str, list[GeneratedCard]]:
    """``count`` new cards with serials from ``first_serial_number``. Returns the key id and the
    cards; the plaintext codes live only inside this call."""
    key_id, box = crypto.current_cipher(CODE_PURPOSE)
    pepper = _pepper()
    raw = secrets.token_bytes(CODE_BYTES * count)
    symbols = base64.b32encode(raw).translate(_TO_CROCKFORD)
    nonces = os.urandom(NONCE_BYTES * count)
    digest = hmac.digest
    encrypt = box.encrypt
    cards = []
    for i in range(count):
        body = symbols[i * CODE_SYMBOLS : (i + 1) * CODE_SYMBOLS]
        value = int.from_bytes(raw[i * CODE_BYTES : (i + 1) * CODE_BYTES])
        code = body + CHECK_SYMBOLS[value % 37].encode()
        serial = serial_for(first_serial_number + i)
        nonce = nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES]
        cards.append(
            GeneratedCard(
                serial=serial,
                digest=digest(pepper, code, "sha256"),
                ciphertext=nonce + encrypt(nonce, code, serial.encode()),
                last4=code[-5:-1].decode(),
            )
        )
    return key_id, cards


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
