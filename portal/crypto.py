"""Encryption at rest for secrets the portal must read back (ID numbers, later card codes).

Keys come from CARD_CODE_KEYS ("k2:hex,k1:hex", the first one current). Each purpose gets its
own AES-256-GCM key derived with HKDF, so a ciphertext of one kind never decrypts as another.
Ciphertexts carry the key id; old keys stay listed until a re-encrypt moves their rows.
"""

from __future__ import annotations

import os
from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NONCE_BYTES = 12


@cache
def _master_keys(raw: str) -> tuple[tuple[str, bytes], ...]:
    keys = []
    for item in raw.split(","):
        key_id, _, hex_key = item.strip().partition(":")
        try:
            key = bytes.fromhex(hex_key)
        except ValueError as exc:
            raise ImproperlyConfigured("CARD_CODE_KEYS: a key is not hexadecimal") from exc
        if not key_id or len(key) != 32:
            raise ImproperlyConfigured("CARD_CODE_KEYS: each entry is id:64-hex-digit key")
        keys.append((key_id, key))
    if not keys:
        raise ImproperlyConfigured("CARD_CODE_KEYS is empty")
    return tuple(keys)


@cache
def _aead(raw: str, key_id: str, purpose: str) -> AESGCM:
    master = dict(_master_keys(raw))[key_id]
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        master
    )
    return AESGCM(derived)


def current_key_id() -> str:
    return _master_keys(settings.CARD_CODE_KEYS)[0][0]


def encrypt(plaintext: str, *, purpose: str, associated: bytes = b"") -> tuple[str, bytes]:
    """(key id, nonce + ciphertext) under the current key."""
    key_id = current_key_id()
    nonce = os.urandom(NONCE_BYTES)
    box = _aead(settings.CARD_CODE_KEYS, key_id, purpose)
    return key_id, nonce + box.encrypt(nonce, plaintext.encode(), associated or None)


def decrypt(key_id: str, blob: bytes, *, purpose: str, associated: bytes = b"") -> str:
    box = _aead(settings.CARD_CODE_KEYS, key_id, purpose)
    blob = bytes(blob)
    return box.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated or None).decode()


def mask(value: str, *, keep_start: int = 3, keep_end: int = 4) -> str:
    """ "110***********1234": enough to recognise, not enough to use."""
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def cipher(key_id: str, purpose: str) -> AESGCM:
    """The AES-GCM cipher of one key and purpose, for callers that encrypt in bulk."""
    return _aead(settings.CARD_CODE_KEYS, key_id, purpose)


def current_cipher(purpose: str) -> tuple[str, AESGCM]:
    key_id = current_key_id()
    return key_id, cipher(key_id, purpose)
