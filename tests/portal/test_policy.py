"""One policy, asked everywhere (issue 11, "Done when"): every role is asked every action,
through the portal (signed in, second factor passed) and through an API key that person
created with every scope their role allows, and both answers equal ``portal.policy.can``.
The menu shows a role exactly the pages the policy opens to it."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from cards.models import Order
from portal import policy
from portal.models import Company, Role, User
from portal.policy import Action
from tests import factories
from tests.api.helpers import Api, key_for
from tests.cards.test_code_download import fulfilled_order
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def _refusals() -> set[str]:
    """The policy's refusals in both languages (whichever the page is in)."""
    found = set()
    for language in ("en", "zh-hans"):
        with translation.override(language):
            found |= {policy.refusal(action) for action in Action}
    return found


REFUSALS = _refusals()


@dataclass
class Company_:
    company: Company
    people: dict[str, User]
    order: Order  # fulfilled, delivered by file, created by the purchaser


@pytest.fixture
def acme(settings: Any) -> Company_:
    settings.ISSUANCE_CHUNK_SIZE = 10
    company = factories.company("Policy Co., Ltd.", approval_threshold="1000000.00")
    factories.credit_line(company, "100000.00")
    people = factories.team(company)
    return Company_(company, people, fulfilled_order(company, people[Role.PURCHASER]))


def portal_allowed(response: Any) -> bool:
    """Refused: a 403 page, or (for the order actions, which redirect to the order page) a
    message that is one of the policy's refusals."""
    assert response.status_code < 500, response.status_code
    if response.status_code == 403:
        return False
    shown = re.findall(r'<li class="msg-[^"]*" role="status">(.*?)</li>', response.text, re.S)
    return not ({html.unescape(text).strip() for text in shown} & REFUSALS)


def api_allowed(response: Any) -> bool:
    """Refused: 403. Anything else short of a 5xx (200, or 400/404/409 from a probe that the
    policy let through to the view) is an answer of an allowed action."""
    assert response.status_code < 500, response.content
    assert response.status_code != 401, response.content
    return response.status_code != 403


Probe = Callable[[Any, Order], Any]
NO_ID = "00000000-0000-0000-0000-000000000000"

# Each probe asks the surface without changing anything when allowed: the fulfilled order
# cannot be submitted, approved or cancelled, and invalid bodies stop at validation, after the
# policy has answered.
PORTAL: dict[Action, Probe] = {
    Action.ORDER_READ: lambda c, o: c.get("/orders/"),
    Action.ORDER_CREATE: lambda c, o: c.get("/orders/new/"),
    Action.ORDER_SUBMIT: lambda c, o: c.post(f"/orders/{o.number}/submit/", follow=True),
    Action.ORDER_CANCEL: lambda c, o: c.post(
        f"/orders/{o.number}/cancel/", {"reason": "probe"}, follow=True
    ),
    Action.ORDER_APPROVE: lambda c, o: c.post(f"/orders/{o.number}/approve/", follow=True),
    Action.ORDER_UPLOAD: lambda c, o: c.get("/orders/uploads/"),
    Action.CODES_DOWNLOAD: lambda c, o: c.get(f"/orders/{o.number}/codes/"),
    Action.INVOICES_READ: lambda c, o: c.get("/invoices/"),
    Action.STATEMENTS_READ: lambda c, o: c.get("/statements/"),
    Action.PAYMENTS_READ: lambda c, o: c.get("/payments/"),
    Action.AGING_READ: lambda c, o: c.get("/aging/"),
    Action.EXPENSES_READ: lambda c, o: c.get("/expenses/"),
    Action.EXPENSES_UPLOAD: lambda c, o: c.get("/expenses/reports/new/"),
    # Only the portal has these.
    Action.CREDIT_READ: lambda c, o: c.get("/credit/"),
    Action.STATEMENTS_REQUEST: lambda c, o: c.post("/statements/request/", {}),
    Action.AUDIT_READ: lambda c, o: c.get("/audit/"),
    Action.API_KEYS_OWN: lambda c, o: c.get("/settings/api-keys/"),
    Action.MEMBERS_MANAGE: lambda c, o: c.post(
        "/invitations/00000000-0000-0000-0000-000000000000/revoke/"
    ),
    # Expense reconciliation: no such period or line, so an allowed probe is a 404.
    Action.EXPENSES_RESOLVE: lambda c, o: c.post(
        f"/expenses/lines/{NO_ID}/resolve/", {"action": "accept", "note": "probe"}
    ),
    Action.EXPENSES_CLOSE: lambda c, o: c.post("/expenses/periods/2000-01/close/"),
    Action.EXPENSES_REOPEN: lambda c, o: c.post(
        "/expenses/periods/2000-01/reopen/", {"reason": "probe"}
    ),
    Action.WEBHOOKS_MANAGE: lambda c, o: c.get("/settings/webhooks/"),
    Action.EVENTS_READ: lambda c, o: c.get("/settings/webhooks/events/"),
}

API: dict[Action, Probe] = {
    Action.ORDER_READ: lambda a, o: a.get("/api/v1/orders"),
    Action.ORDER_CREATE: lambda a, o: a.post("/api/v1/orders", {}, idempotency_key="probe"),
    Action.ORDER_SUBMIT: lambda a, o: a.post(f"/api/v1/orders/{o.number}/submit"),
    Action.ORDER_CANCEL: lambda a, o: a.post(
        f"/api/v1/orders/{o.number}/cancel", {"reason": "probe"}
    ),
    Action.ORDER_APPROVE: lambda a, o: a.post(f"/api/v1/orders/{o.number}/approve"),
    Action.ORDER_UPLOAD: lambda a, o: a.post("/api/v1/order-uploads", {}),
    Action.CODES_DOWNLOAD: lambda a, o: a.post(f"/api/v1/orders/{o.number}/codes", {}),
    Action.INVOICES_READ: lambda a, o: a.get("/api/v1/invoices"),
    Action.STATEMENTS_READ: lambda a, o: a.get("/api/v1/statements"),
    Action.PAYMENTS_READ: lambda a, o: a.get("/api/v1/payments"),
    Action.AGING_READ: lambda a, o: a.get("/api/v1/aging"),
    Action.EXPENSES_READ: lambda a, o: a.get("/api/v1/expense-reports"),
    Action.EXPENSES_UPLOAD: lambda a, o: a.post(
        "/api/v1/expense-reports", {}, idempotency_key="probe"
    ),
    Action.EXPENSES_RESOLVE: lambda a, o: a.post(
        f"/api/v1/expense-lines/{NO_ID}/resolution", {"action": "accept", "note": "probe"}
    ),
    Action.EXPENSES_CLOSE: lambda a, o: a.post("/api/v1/expense-periods/2000-01/close"),
    Action.EXPENSES_REOPEN: lambda a, o: a.post(
        "/api/v1/expense-periods/2000-01/reopen", {"reason": "probe"}
    ),
    Action.WEBHOOKS_MANAGE: lambda a, o: a.get("/api/v1/webhook-endpoints"),
    Action.EVENTS_READ: lambda a, o: a.get("/api/v1/events"),
}

# The menu: a role sees the pages it may open, and no others.
MENU = {
    "/orders/": Action.ORDER_READ,
    "/approvals/": Action.ORDER_APPROVE,
    "/orders/uploads/": Action.ORDER_UPLOAD,
    "/invoices/": Action.INVOICES_READ,
    "/payments/": Action.PAYMENTS_READ,
    "/statements/": Action.STATEMENTS_READ,
    "/aging/": Action.AGING_READ,
    "/expenses/": Action.EXPENSES_READ,
    "/settings/api-keys/": Action.API_KEYS_OWN,
    "/audit/": Action.AUDIT_READ,
    "/expenses/periods/": Action.EXPENSES_READ,
    "/settings/webhooks/": Action.WEBHOOKS_MANAGE,
}


def test_every_action_the_api_names_is_probed_on_both_surfaces() -> None:
    from portal.api.permissions import ANY_KEY
    from portal.api.urls import router

    named = {
        Action(action)
        for _prefix, viewset, _basename in router.registry
        for action in getattr(viewset, "policy_actions", {}).values()
        if action != ANY_KEY
    }
    assert named == set(API)
    assert set(API) <= set(PORTAL)


@pytest.mark.parametrize("role", list(Role))
def test_portal_api_and_menu_give_every_role_the_policys_answer(acme: Company_, role: str) -> None:
    person = acme.people[role]
    membership = acme.company.memberships.get(user=person)
    client = Client()
    sign_in(client, person, second_factor=True)
    api = Api(key_for(acme.company, person))  # created by the person, every scope allowed

    expected = {action: policy.can(membership, action) for action in PORTAL}
    portal = {action: portal_allowed(probe(client, acme.order)) for action, probe in PORTAL.items()}
    through_api = {action: api_allowed(probe(api, acme.order)) for action, probe in API.items()}

    assert portal == expected
    assert through_api == {action: expected[action] for action in API}

    nav = re.search(r'<nav class="nav".*?</nav>', client.get("/").content.decode(), re.S)
    assert nav is not None
    shown = {href for href in MENU if f'href="{href}"' in nav.group(0)}
    assert shown == {href for href, action in MENU.items() if expected.get(action, False)}
    # And every link of the menu opens (no "Not allowed" behind a link).
    for href in re.findall(r'href="([^"]+)"', nav.group(0)):
        assert client.get(href).status_code == 200, href


def test_the_order_page_says_why_an_action_is_not_available(acme: Company_) -> None:
    draft = factories.draft(acme.company, acme.people[Role.PURCHASER], quantity=1)
    client = Client()
    sign_in(client, acme.people[Role.VIEWER], second_factor=False)

    page = html.unescape(client.get(f"/orders/{draft.number}/").content.decode())

    assert 'data-testid="submit"' not in page
    assert policy.refusal(Action.ORDER_SUBMIT) in page
    assert policy.refusal(Action.ORDER_CANCEL) in page


def test_the_membership_services_ask_the_policy_too() -> None:
    from django.core.exceptions import PermissionDenied

    from portal.services.memberships import invitation_create, membership_change_role

    company = factories.company()
    people = factories.team(company)
    viewer = company.memberships.get(user=people[Role.VIEWER])
    with pytest.raises(PermissionDenied, match="Only owners can invite"):
        invitation_create(
            company=company, email="new@example.com", role=Role.OWNER, invited_by=viewer.user
        )
    with pytest.raises(PermissionDenied):
        membership_change_role(membership=viewer, role=Role.OWNER, actor=people[Role.PURCHASER])
    viewer.refresh_from_db()
    assert viewer.role == Role.VIEWER


def test_an_owner_may_do_everything_and_sensitive_acts_need_a_second_factor() -> None:
    from portal.models import TWO_FACTOR_ROLES

    assert all(policy.can(Role.OWNER, action) for action in Action)
    for action in (Action.CODES_DOWNLOAD, Action.ORDER_APPROVE, Action.MEMBERS_MANAGE):
        assert policy.roles_for(action) <= TWO_FACTOR_ROLES, action
    # A scope is offered to a role only if the role may do everything it opens.
    for role in Role:
        for scope in policy.scopes_for(role):
            assert all(policy.can(role, a) for a in policy.SCOPE_ACTIONS[scope])
