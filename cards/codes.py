"""Card serials and secret codes: generation, check symbols, digests and encryption.

A serial is public: 16 digits, the last a Luhn check digit. A code is bearer cash: 24 Crockford
base32 symbols from ``secrets`` (120 bits) plus one check symbol, so a mistyped code is refused
before any database look-up. A code is stored only as an HMAC-SHA256 digest under the pepper
(for look-up) and an AES-GCM ciphertext bound to its serial (for the one-time reveal).

The check symbol (docs/codes.md). New codes take it from the code's own 32 symbols: the 24
symbol values, read as elements of GF(32), weighted by the distinct powers alpha^24 ... alpha^1
of a primitive element and summed (``check_symbol``). Every single-symbol substitution, every
transposition of two different symbols (adjacent or not, check symbol included) and every twin
error (``aa`` typed ``bb``) changes that sum, so all are refused; Luhn mod 32 misses swaps of 0
and Z and some twins. Codes issued before carry Crockford's mod-37 check
(``legacy_check_symbol``), whose alphabet adds ``* ~ $ = U``: about one code in eight ended in
a symbol people could not read out or type. Both have 25 symbols, and nothing tells them apart,
so ``normalize_code`` accepts a code that passes either check. That is safe because the check
is only a typo filter in front of the digest look-up, which is the authority: a typo that
passes the filter finds no card. Its cost is a weaker filter: a random string passes with
about 1/32 + 1/37 (one in 17) instead of 1/37; a one-symbol typo or a swap, of a new code or
an old one, with about 1/37 (the other scheme's chance) instead of never. Versioning new codes
by length or by a prefix would keep the filter exact but make every code longer to read out
and type, the opposite of the aim.

Test codes (docs/api.md, "Test mode"): a sandbox's cards carry ``TEST`` before the 25 symbols
of an ordinary code (``TEST-ABCDE-FGHJK-MNPQR-STVWX-YZ017``), digested and encrypted with it. A
live code has 25 symbols, so nothing live can read as a test code, and anyone can tell one from
the code alone: the merchant API refuses it before any look-up.

Generation works on whole blocks: one ``token_bytes`` call gives every symbol (the low five bits
of a byte each), each of the 24 positions is a strided column of the block that one translation
maps to its symbols and another to its weighted values, and one big-integer XOR per position
adds them up for every code at once. The block of finished codes is assembled with strided
slice assignments, serials come from a Luhn table, and the per-code Python work is a slice,
the HMAC from precomputed pad states and one AES-GCM call: about 3 us per code on one core
(docs/benchmarks.md, issuance).
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
CODE_LENGTH = CODE_SYMBOLS + 1  # with the check symbol
TEST_MARK = "TEST"
TEST_CODE_LENGTH = len(TEST_MARK) + CODE_LENGTH
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Crockford's mod-37 check alphabet: the check symbols of codes issued before docs/codes.md.
LEGACY_CHECK_SYMBOLS = CROCKFORD + "*~$=U"
# GF(32) as polynomials over GF(2) modulo x^5 + x^2 + 1, which is primitive: x (2) has order 31,
# so its powers 1, x, ..., x^24 are 25 distinct non-zero elements, one weight per position.
_GF32_MODULUS = 0b100101
_GF32_GENERATOR = 2


def _gf32_mul(a: int, b: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 32:
            a ^= _GF32_MODULUS
    return product


def _gf32_power(n: int) -> int:
    value = 1
    for _i in range(n):
        value = _gf32_mul(value, _GF32_GENERATOR)
    return value


# The weight of body position i (0 = first symbol) is x^(24 - i); the check symbol's is 1, and a
# valid new code's weighted sum, check symbol included, is 0.
CHECK_WEIGHTS = tuple(_gf32_power(CODE_SYMBOLS - i) for i in range(CODE_SYMBOLS))
# Bulk symbols: each random byte gives one symbol from its low 5 bits (256 = 8 x 32, so every
# symbol is equally likely and 24 symbols carry 120 bits). Per position, one table maps a byte to
# its Crockford symbol and one to its symbol's value times the position's weight.
_BYTE_TO_CROCKFORD = bytes(CROCKFORD.encode()[b & 31] for b in range(256))
_WEIGHTED_BYTES = tuple(bytes(_gf32_mul(w, b & 31) for b in range(256)) for w in CHECK_WEIGHTS)
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
CIPHERTEXT_BYTES = NONCE_BYTES + CODE_LENGTH + 16  # nonce, code with check, GCM tag


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
    """The check symbol of new codes, from CROCKFORD: the weighted GF(32) sum of the 24 symbols
    (``generate_block`` computes the same for a whole block at once)."""
    total = 0
    for weighted, ch in zip(_WEIGHTED_BYTES, symbols, strict=True):
        total ^= weighted[_VALUE[ch]]
    return CROCKFORD[total]


def legacy_check_symbol(symbols: str) -> str:
    """Crockford's mod-37 check symbol, that of the codes issued before the GF(32) check: the
    24 symbols read as one base-32 number, modulo 37, in LEGACY_CHECK_SYMBOLS."""
    value = 0
    for ch in symbols:
        value = value * 32 + _VALUE[ch]
    return LEGACY_CHECK_SYMBOLS[value % 37]


def typed_symbols(typed: str) -> str:
    """What a person typed, upper case, without spaces and hyphens, with I/L read as 1 and O as
    0: the symbols ``normalize_code`` checks (and the merchant API's limits group by)."""
    return typed.upper().translate(_TYPED)


def normalize_code(typed: str) -> str:
    """The canonical 25-symbol form of a typed code, or InvalidCode. No database is involved.

    A code passes if its last symbol is either its GF(32) check (new codes) or its mod-37 check
    (codes issued before): the check only filters typos, the digest look-up decides (module
    docstring, docs/codes.md)."""
    text = typed_symbols(typed)
    if len(text) == TEST_CODE_LENGTH and text.startswith(TEST_MARK):
        return TEST_MARK + normalize_code(text[len(TEST_MARK) :])
    if len(text) != CODE_LENGTH:
        raise InvalidCode("length")
    body, check = text[:CODE_SYMBOLS], text[CODE_SYMBOLS]
    if any(ch not in _VALUE for ch in body) or check not in LEGACY_CHECK_SYMBOLS:
        raise InvalidCode("alphabet")
    if check != check_symbol(body) and check != legacy_check_symbol(body):
        raise InvalidCode("check")
    return text


CODE_GROUP = 5


def is_test_code(canonical: str) -> bool:
    """Whether a canonical code (``normalize_code``) is a sandbox's test code."""
    return len(canonical) == TEST_CODE_LENGTH and canonical.startswith(TEST_MARK)


def format_code(canonical: str) -> str:
    """ABCDE-FGHJK-MNPQR-STVWX-YZ017: five groups of five, the check symbol ending the last.
    People type it back with or without the hyphens (``normalize_code``). A test code reads
    TEST-ABCDE-...-YZ017."""
    if is_test_code(canonical):
        return f"{TEST_MARK}-{format_code(canonical[len(TEST_MARK) :])}"
    return "-".join(canonical[i : i + CODE_GROUP] for i in range(0, len(canonical), CODE_GROUP))


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


def _code_block(count: int) -> bytes:
    """``count`` new codes with their check symbols, back to back (25 ASCII bytes each). Per
    position, not per code: the position's column of random bytes (a strided slice) becomes its
    symbols with one translation and its weighted values with another; XOR-ing the columns'
    values as big integers adds them up for every code at once (GF(32) addition is XOR, and
    XOR never carries from one byte into the next)."""
    random = secrets.token_bytes(CODE_SYMBOLS * count)
    block = bytearray(CODE_LENGTH * count)
    total = 0
    for position, weighted in enumerate(_WEIGHTED_BYTES):
        column = random[position::CODE_SYMBOLS]
        block[position::CODE_LENGTH] = column.translate(_BYTE_TO_CROCKFORD)
        total ^= int.from_bytes(column.translate(weighted))
    block[CODE_SYMBOLS::CODE_LENGTH] = total.to_bytes(count).translate(_BYTE_TO_CROCKFORD)
    return bytes(block)


def generate_block(first_serial_number: int, count: int, *, test: bool = False) -> CardBlock:
    """``count`` new cards with serials from ``first_serial_number``, by column. The plaintext
    codes live only inside this call. ``test``: test codes (``TEST_MARK`` first)."""
    key_id, box = crypto.current_cipher(CODE_PURPOSE)
    inner, outer = _hmac_pads(_pepper())
    mark = TEST_MARK.encode() if test else b""
    if mark:  # the mark is the start of every code's HMAC message: hash it once
        inner = inner.copy()
        inner.update(mark)
    new_inner, new_outer, encrypt = inner.copy, outer.copy, box.encrypt
    block = _code_block(count)
    nonces = os.urandom(NONCE_BYTES * count)
    serials = serial_numbers(first_serial_number, count)
    digests: list[bytes] = []
    ciphertexts: list[bytes] = []
    last4s: list[bytes] = []
    add_digest, add_ciphertext, add_last4 = digests.append, ciphertexts.append, last4s.append
    width, nonce_width = CODE_LENGTH, NONCE_BYTES
    for i, serial in enumerate(serials):
        start = i * width
        code = block[start : start + width]
        inner_hash = new_inner()
        inner_hash.update(code)
        outer_hash = new_outer()
        outer_hash.update(inner_hash.digest())
        add_digest(outer_hash.digest())
        nonce = nonces[i * nonce_width : (i + 1) * nonce_width]
        add_ciphertext(nonce + encrypt(nonce, mark + code if mark else code, b"%016d" % serial))
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
