"""The one hierarchy of domain refusals.

A service that refuses an action for a reason of the domain (not enough credit, an order already
funded, an invoice already paid) raises a ``DomainError``: a ``ValidationError`` with a
machine-readable ``code`` and a translated message saying what to do. Every caller knows it:
portal views show the message, the API answers a 4xx with the code
(``portal.api.exceptions``), admin actions show it as an error message. ``StateConflict`` is the
kind where the object's current state (read after its row lock) does not allow the action: the
API answers 409. A domain refusal is never a 500.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


class DomainError(ValidationError):
    """A refusal by a rule of the domain; ``code`` names the rule for machines."""

    default_code = "refused"

    def __init__(self, message: Any, *, code: str | None = None) -> None:
        super().__init__(message, code=code or self.default_code)
        self.code: str = code or self.default_code


class StateConflict(DomainError):
    """The object's current state does not allow the action (the API answers 409)."""

    default_code = "state_conflict"
