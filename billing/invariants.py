"""Money invariants other apps add to the nightly ledger check.

The billing core never imports ``cards``; cards registers its own check here (card liability =
the sum of live card balances) from its AppConfig. A check is a function without arguments that
returns a JSON-serialisable dict with at least ``ok`` (bool), and ideally ``expected`` and
``actual`` as strings. It must never put a secret (card codes, keys) into its result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Invariant = Callable[[], dict[str, Any]]

_INVARIANTS: dict[str, Invariant] = {}


def register_invariant(name: str, check: Invariant) -> None:
    """Add (or replace) the check called ``name``."""
    _INVARIANTS[name] = check


def registered_invariants() -> list[tuple[str, Invariant]]:
    return sorted(_INVARIANTS.items())
