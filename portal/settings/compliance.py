"""Compliance reports (``compliance``): the deposit (escrow) rule of the single-purpose prepaid
card regime."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ImproperlyConfigured

from .base import env

# The share of the prepaid balance outstanding at a quarter end that the escrow deposit must
# cover, by issuer category: 0.20, 0.30 or 0.40 (an issuer outside the larger categories: 0.40,
# the default). docs/compliance.md, report 1.
COMPLIANCE_DEPOSIT_RATIO = Decimal(env.str("COMPLIANCE_DEPOSIT_RATIO", default="0.40"))
if COMPLIANCE_DEPOSIT_RATIO not in (Decimal("0.20"), Decimal("0.30"), Decimal("0.40")):
    raise ImproperlyConfigured("COMPLIANCE_DEPOSIT_RATIO must be 0.20, 0.30 or 0.40")
# The live monitor warns ("at risk") when the deposit covers less than this multiple of the
# required deposit.
COMPLIANCE_DEPOSIT_AT_RISK = Decimal(env.str("COMPLIANCE_DEPOSIT_AT_RISK", default="1.10"))
