"""The "Not allowed" page says why once (issue 12, defect 3): the refusal of the policy, or,
when the refusal gave no reason, the page's own sentence; never both."""

from __future__ import annotations

import html
import re

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory

from portal import policy
from portal.models import Role
from portal.policy import Action
from portal.views.errors import permission_denied
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

GENERIC = "Your role in this company does not allow this."


def _text(content: bytes) -> str:
    body = content.decode()
    main = re.search(r"<main.*?</main>", body, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", main.group(0) if main else body))


def test_a_refusal_with_no_reason_of_its_own_is_said_once() -> None:
    request = RequestFactory().get("/orders/")
    request.user = factories.member(factories.company(), Role.VIEWER)
    response = permission_denied(request, PermissionDenied(policy.refusal(Action.ORDER_READ)))

    assert response.status_code == 403
    assert _text(response.content).count(GENERIC) == 1


def test_a_viewer_refused_statements_reads_one_reason() -> None:
    company = factories.company()
    viewer = factories.member(company, Role.VIEWER)
    client = Client()
    sign_in(client, viewer, second_factor=False)

    response = client.get("/statements/")

    assert response.status_code == 403
    text = _text(response.content)
    assert policy.refusal(Action.STATEMENTS_READ) in text
    assert GENERIC not in text
    assert text.lower().count("ask an owner") == 1


def test_a_refusal_without_a_message_still_says_why() -> None:
    request = RequestFactory().get("/orders/")
    request.user = factories.member(factories.company(), Role.VIEWER)
    response = permission_denied(request, PermissionDenied())

    assert _text(response.content).count(GENERIC) == 1
