"""Builders for API tests: companies ready to order, keys for their members, JSON requests."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.test import Client

from portal import policy
from portal.models import ApiKey, Company, User
from portal.services.api_keys import api_key_create
from tests import factories

ALL_SCOPES = list(ApiKey.Scope.values)
ORDERS = "/api/v1/orders"


def key_for(company: Company, user: User, scopes: list[str] | None = None) -> str:
    """The plaintext of a new key of ``user``, created by them (after a fresh second-factor
    check), with ``scopes`` or else every scope their role allows."""
    membership = company.memberships.get(user=user)
    _key, plaintext = api_key_create(
        company=company,
        user=user,
        name=f"key of {user.email}",
        scopes=policy.scopes_for(membership) if scopes is None else scopes,
        second_factor_at=time.time(),
    )
    return plaintext


class Api:
    """A JSON client that sends one API key."""

    def __init__(self, key: str | None, *, language: str = "en") -> None:
        headers = {"accept-language": language}
        if key:
            headers["authorization"] = f"Bearer {key}"
        self.client = Client(headers=headers)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params)

    def post(
        self, path: str, body: Any = None, *, idempotency_key: str | None = None, **headers: str
    ) -> Any:
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return self.client.post(
            path,
            data=json.dumps({} if body is None else body),
            content_type="application/json",
            headers=headers,
        )


@dataclass
class Buyer:
    """A company with a member of each role, a credit line and an API key per member."""

    company: Company
    people: dict[str, User]
    keys: dict[str, str]

    def api(self, role: str) -> Api:
        return Api(self.keys[role])


def buyer(*, approval_threshold: str = "1000.00", credit: str | None = "100000.00") -> Buyer:
    company = factories.company(approval_threshold=approval_threshold)
    people = factories.team(company)
    if credit is not None:
        factories.credit_line(company, credit)
    keys = {role: key_for(company, user) for role, user in people.items()}
    return Buyer(company=company, people=people, keys=keys)


def line(product: Any, face_value: str = "100", quantity: Any = 30, **extra: Any) -> dict[str, Any]:
    return {
        "product": str(product.public_id),
        "face_value": face_value,
        "quantity": quantity,
        **extra,
    }


def order_body(*lines: Any, **extra: Any) -> dict[str, Any]:
    return {"payment_method": "credit", "delivery_method": "file", "lines": list(lines), **extra}
