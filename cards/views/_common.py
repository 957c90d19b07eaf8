"""Helpers shared by the order pages (``cards.views.order_form`` and
``cards.views.order_page``)."""

from __future__ import annotations

from typing import cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _

from portal.models import User


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _error_text(exc: ValidationError | PermissionDenied) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or _("Your role in this company does not allow this.")
