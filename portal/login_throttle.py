"""Sign-in lockout (django-axes), counted three ways, each against its own limit:

- an account from one address (``AXES_FAILURE_LIMIT``): one person's typos lock that person,
  there, and nobody else behind the same office address;
- an account from any address (``LOGIN_ACCOUNT_FAILURE_LIMIT``): guessing one password from many
  addresses;
- one address across all accounts (``LOGIN_ADDRESS_FAILURE_LIMIT``, much higher, as a whole
  office signs in from one address): password spraying.

Axes compares one count with one limit. This handler gives it, per lockout parameter group,
the failures scaled to ``AXES_FAILURE_LIMIT``, so each group reaches the limit exactly when it
reaches its own. Failures while locked are not recorded
(``AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False``), so they do not extend the lockout.
The address is ``portal.client_ip.client_ip`` (``AXES_CLIENT_IP_CALLABLE``).
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit, get_lockout_parameters
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


def _limit(group: str | list[str]) -> int:
    if group == "username":
        return int(settings.LOGIN_ACCOUNT_FAILURE_LIMIT)
    if group == "ip_address":
        return int(settings.LOGIN_ADDRESS_FAILURE_LIMIT)
    return int(settings.AXES_FAILURE_LIMIT)


class LoginThrottleHandler(AxesDatabaseHandler):
    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        base = get_failure_limit(request, credentials)
        username = get_client_username(request, credentials)
        groups = get_lockout_parameters(request, credentials)
        worst = 0
        attempts_per_group = self.get_user_attempts(request, credentials)
        for group, attempts in zip(groups, attempts_per_group, strict=True):
            if username is None and "username" in group:
                continue  # would match every attempt that had no name
            total = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            worst = max(worst, total * base // max(_limit(group), 1))
        return worst

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        """After a successful sign-in, forget that account's failures only: the address's count
        holds other accounts' failures, which one person's success says nothing about."""
        username = get_client_username(request, credentials)
        if username is None:
            return 0
        deleted, _ = AccessAttempt.objects.filter(username=username).delete()
        return deleted
