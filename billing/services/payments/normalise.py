"""How bank references, accounts and remittance texts are compared, and the dedupe key of a
bank line."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from decimal import Decimal
from typing import Any


def normalise_text(value: str) -> str:
    """Full-width to half-width, no whitespace at all, upper case: how references are compared."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value or "")).upper()


def normalise_account(value: str) -> str:
    """A bank account number for comparison: its letters and digits only."""
    return re.sub(r"[^0-9A-Z]", "", normalise_text(value))


def payment_dedupe_key(
    *,
    bank_reference: str,
    received_on: Any,
    amount: Decimal,
    payer_account: str,
    remittance: str,
) -> str:
    reference = normalise_text(bank_reference)
    if reference:
        material = f"ref:{reference}"
    else:
        material = "line:" + "|".join(
            [
                str(received_on),
                str(amount),
                normalise_account(payer_account),
                normalise_text(remittance),
            ]
        )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()
