"""PostgreSQL's binary ``COPY`` format for card rows: the statement, the stream's header and
trailer, and one card's tuple as a template. The issuance engine (``cards.services.issuance``)
loads cards with it; ``bench/issuance.py`` times the same format."""

from __future__ import annotations

import datetime
import struct
from typing import Any

from cards import codes
from cards.models import Batch, CardStatus

CARD_COPY_COLUMNS = (
    "serial",
    "batch_id",
    "digest",
    "key_id",
    "ciphertext",
    "last4",
    "face_value",
    "balance",
    "status",
    "expires_at",
    "created_at",
)
COPY_SQL = f"COPY cards_card ({', '.join(CARD_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# PostgreSQL's binary COPY stream: signature, flags and header-extension length, then one tuple
# per card, then -1 as the field count of the end marker.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"


def _field(value: bytes | None) -> bytes:
    """One field of a binary COPY tuple: its length, then its bytes (-1 and nothing for NULL)."""
    if value is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(value)) + value


def copy_row_format(raw_cursor: Any, batch: Batch, key_id: str, now: datetime.datetime) -> bytes:
    """One card's binary COPY tuple as a bytes %-format with four holes (serial, digest,
    ciphertext, last 4): everything else is the same for the whole chunk. The server encodes the
    numeric and timestamp constants (``*_send``), so their wire format is PostgreSQL's own."""
    raw_cursor.execute(
        "SELECT numeric_send(%s::numeric), timestamptz_send(%s::timestamptz), "
        "timestamptz_send(%s::timestamptz)",
        [batch.face_value, batch.expires_at, now],
    )
    face, expires, created = raw_cursor.fetchone()
    holes = (
        struct.pack(">hi", len(CARD_COPY_COLUMNS), 8),  # field count; serial (int8) length
        _field(struct.pack(">q", batch.pk)) + struct.pack(">i", codes.DIGEST_BYTES),
        _field(key_id.encode()) + struct.pack(">i", codes.CIPHERTEXT_BYTES),
        struct.pack(">i", 4),  # last 4 symbols, ASCII
        _field(bytes(face))
        + _field(bytes(face))  # balance starts at face value
        + _field(CardStatus.ACTIVE.value.encode())
        + _field(None if expires is None else bytes(expires))
        + _field(bytes(created)),
    )
    return b"%b".join(part.replace(b"%", b"%%") for part in holes)
