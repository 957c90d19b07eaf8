"""The portal's menu: its groups, the action each page asks, and which link is the current page.

Each link names the policy action its view asks (``policy_required``), or None when the view
asks only for a membership of the active company; ``tests/portal/test_navigation.py`` checks
the two agree, so that the menu never shows a link to a 403. A role sees the links
``portal.policy.can`` lets it open; a group left without a link is not shown.

The current page is read from ``request.resolver_match`` once, here, for every page: its own
link is ``aria-current="page"``; a page under a link (an order under Orders, an invoice under
Invoices) marks that link ``aria-current="true"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from portal import policy
from portal.models import Membership
from portal.policy import Action

Current = Literal["page", "true", ""]


@dataclass(frozen=True)
class NavLink:
    key: str  # the link's data-nav, which the browser journeys select it by
    view_name: str
    label: Promise
    action: Action | None  # what the view asks; None: any member of the company
    # Pages whose URL does not start with the link's, but which belong under it.
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class NavGroup:
    key: str
    heading: Promise | None
    links: tuple[NavLink, ...]


MENU: tuple[NavGroup, ...] = (
    NavGroup("home", None, (NavLink("dashboard", "portal:dashboard", _("Dashboard"), None),)),
    NavGroup(
        "orders",
        _("Orders"),
        (
            NavLink("orders", "cards:order_list", _("Orders"), None),
            NavLink("approvals", "cards:approvals", _("Approvals"), Action.ORDER_APPROVE),
            NavLink(
                "uploads",
                "cards:upload_list",
                _("Order files"),
                Action.ORDER_UPLOAD,
                also=("cards:upload_new",),
            ),
            NavLink("catalog", "cards:catalog", _("Catalog"), None),
        ),
    ),
    NavGroup(
        "cards",
        _("Cards & delivery"),
        (NavLink("cards", "cards:card_list", _("Cards"), None),),
    ),
    NavGroup(
        "billing",
        _("Billing"),
        (
            NavLink("invoices", "billing:invoice_list", _("Invoices"), Action.INVOICES_READ),
            NavLink("payments", "billing:payment_history", _("Payments"), Action.PAYMENTS_READ),
            NavLink(
                "statements", "billing:statement_list", _("Statements"), Action.STATEMENTS_READ
            ),
            NavLink("aging", "billing:aging", _("Aging"), Action.AGING_READ),
        ),
    ),
    NavGroup(
        "reconciliation",
        _("Reconciliation"),
        (
            NavLink(
                "expense_reports",
                "expenses:report_list",
                _("Expense reports"),
                Action.EXPENSES_READ,
                also=("expenses:report_new",),
            ),
            NavLink(
                "expense_periods",
                "expenses:period_list",
                _("Reconciliation periods"),
                Action.EXPENSES_READ,
            ),
            NavLink(
                "expense_mapping", "expenses:mapping", _("Voucher accounts"), Action.EXPENSES_READ
            ),
        ),
    ),
    NavGroup(
        "company",
        _("Company"),
        (
            NavLink("members", "portal:members", _("Members"), None),
            NavLink("api_keys", "portal:api_keys", _("API keys"), Action.API_KEYS_OWN),
            NavLink(
                "company_documents",
                "portal:company_documents",
                _("Company documents"),
                Action.COMPANY_DOCUMENTS,
            ),
            NavLink("webhooks", "webhooks:endpoint_list", _("Webhooks"), Action.WEBHOOKS_MANAGE),
            NavLink("audit", "portal:audit", _("Audit trail"), Action.AUDIT_READ),
            NavLink("sso", "sso:settings", _("Single sign-on"), Action.SSO_MANAGE),
        ),
    ),
)
# In the account area next to the user's email, for anyone signed in (with or without a company).
SECURITY = NavLink("security", "portal:two_factor_settings", _("Security"), None)


@dataclass(frozen=True)
class ShownLink:
    key: str
    url: str
    label: Promise
    current: Current


@dataclass(frozen=True)
class ShownGroup:
    key: str
    heading: Promise | None
    links: list[ShownLink]


def link_visible(membership: Membership | None, link: NavLink) -> bool:
    return membership is not None and (link.action is None or policy.can(membership, link.action))


def _current(request: HttpRequest, link: NavLink, url: str) -> Current:
    match = request.resolver_match
    view_name = match.view_name if match else None
    if view_name == link.view_name:
        return "page"
    if view_name in link.also or (url != "/" and request.path.startswith(url)):
        return "true"
    return ""


def _shown(request: HttpRequest, link: NavLink) -> ShownLink:
    url = reverse(link.view_name)
    return ShownLink(link.key, url, link.label, _current(request, link, url))


def _deepest(links: list[ShownLink]) -> list[ShownLink]:
    """Only the longest of several links a page sits under is current (an upload is under
    Order files, not also under Orders)."""
    under = [link for link in links if link.current == "true"]
    if any(link.current == "page" for link in links) or len(under) < 2:
        return links
    keep = max(under, key=lambda link: len(link.url))
    return [
        link
        if link.current != "true" or link is keep
        else ShownLink(link.key, link.url, link.label, "")
        for link in links
    ]


def menu_context(request: HttpRequest) -> dict[str, Any]:
    """Context processor for ``templates/base.html``: ``nav_groups``, the groups and links the
    active member may open, and ``nav_security``, each link with its ``aria-current``."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_groups": [], "nav_security": None}
    membership: Membership | None = getattr(request, "membership", None)
    groups = [
        (group, [_shown(request, link) for link in group.links if link_visible(membership, link)])
        for group in MENU
    ]
    every = _deepest([link for _group, links in groups for link in links])
    by_key = {link.key: link for link in every}
    return {
        "nav_groups": [
            ShownGroup(group.key, group.heading, [by_key[link.key] for link in links])
            for group, links in groups
            if links
        ],
        "nav_security": _shown(request, SECURITY),
    }
