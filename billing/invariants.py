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
# Check name -> translated label, shown in the admin and in the operators' alert.
LABELS: dict[str, Any] = {}


def register_invariant(name: str, check: Invariant, label: Any = None) -> None:
    """Add (or replace) the check called ``name``; ``label`` is a lazy translated title."""
    _INVARIANTS[name] = check
    if label is not None:
        LABELS[name] = label


def registered_invariants() -> list[tuple[str, Invariant]]:
    return sorted(_INVARIANTS.items())
