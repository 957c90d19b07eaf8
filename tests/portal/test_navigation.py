"""The menu (portal/navigation.py, templates/base.html): grouped pages, each role sees the pages
its policy opens and only those, the current page is marked, and the shell is usable with a
keyboard (a skip link first, landmarks, a real menu button). The list pages say what to do when
they are empty, and their tables carry the labels the phone layout shows."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import resolve, reverse

from portal.models import Company, Role, User
from portal.navigation import MENU, SECURITY
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

EVERY_ROLE = {"dashboard", "orders", "catalog", "cards", "invoices", "members", "api_keys"}
EXPENSES = {"expense_reports", "expense_periods", "expense_mapping"}
MENU_BY_ROLE: dict[str, set[str]] = {
    Role.OWNER: EVERY_ROLE
    | EXPENSES
    | {
        "approvals",
        "uploads",
        "payments",
        "statements",
        "aging",
        "audit",
        "company_documents",
        "sso",
        "webhooks",
    },
    Role.PURCHASER: EVERY_ROLE | {"uploads", "payments", "statements", "aging"},
    Role.APPROVER: EVERY_ROLE | {"approvals", "payments", "statements", "aging"},
    Role.FINANCE: EVERY_ROLE | EXPENSES | {"payments", "statements", "aging"},
    Role.VIEWER: EVERY_ROLE | EXPENSES,
}
HEADINGS = {"Orders", "Cards & delivery", "Billing", "Reconciliation", "Company"}


class _Menu(HTMLParser):
    """The groups of ``<nav class="nav">`` (heading and data-nav keys), every link's
    aria-current, and the page's focusable elements in order."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[tuple[str, list[str]]] = []
        self.current: dict[str, str] = {}
        self.focusable: list[dict[str, str | None]] = []
        self._in_nav = False
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        focusable = {"a", "button", "input", "select", "textarea", "summary"}
        if tag in focusable and found.get("type") != "hidden":
            self.focusable.append({"tag": tag, **found})
        if tag == "nav" and found.get("class") == "nav":
            self._in_nav = True
        elif self._in_nav and tag == "div" and found.get("class") == "nav-group":
            self.groups.append(("", []))
        elif self._in_nav and tag == "p" and found.get("class") == "nav-heading":
            self._in_heading = True
        if tag == "a" and found.get("data-nav"):
            key = found["data-nav"] or ""
            if self._in_nav:
                self.groups[-1][1].append(key)
            if found.get("aria-current"):
                self.current[key] = found["aria-current"] or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self._in_nav = False
        if tag == "p":
            self._in_heading = False

    def handle_data(self, data: str) -> None:
        if self._in_heading and data.strip():
            heading, keys = self.groups[-1]
            self.groups[-1] = (heading + data.strip(), keys)


def _menu(html: str) -> _Menu:
    parser = _Menu()
    parser.feed(html)
    return parser


@pytest.fixture
def company() -> Company:
    company = factories.company("Menu Co., Ltd.")
    factories.credit_line(company)
    return company


def _client(user: User) -> Client:
    client = Client()
    sign_in(client, user, second_factor=True)
    return client


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_the_pages_it_may_open_in_groups_and_every_link_opens(
    company: Company, role: str
) -> None:
    client = _client(factories.member(company, role))

    html = client.get("/").content.decode()
    menu = _menu(html)

    shown = {key for _heading, keys in menu.groups for key in keys}
    assert shown == MENU_BY_ROLE[role]
    # The dashboard on top, alone; then the groups that have a link, under their headings.
    assert menu.groups[0] == ("", ["dashboard"])
    assert {heading for heading, _keys in menu.groups[1:]} <= HEADINGS
    assert all(keys for _heading, keys in menu.groups)
    for key in shown | {"security"}:
        href = re.search(rf'href="([^"]+)" data-nav="{key}"', html)
        assert href is not None, key
        assert client.get(href.group(1)).status_code == 200, key


def test_a_viewer_sees_no_group_without_a_link_and_no_link_it_cannot_open(
    company: Company,
) -> None:
    client = _client(factories.member(company, Role.VIEWER))

    menu = _menu(client.get("/").content.decode())

    assert dict(menu.groups) == {
        "": ["dashboard"],
        "Orders": ["orders", "catalog"],
        "Cards & delivery": ["cards"],
        "Billing": ["invoices"],
        "Reconciliation": ["expense_reports", "expense_periods", "expense_mapping"],
        "Company": ["members", "api_keys"],
    }
    for hidden in ("/approvals/", "/orders/uploads/", "/payments/", "/aging/", "/audit/"):
        assert client.get(hidden).status_code == 403, hidden


def test_every_menu_link_asks_the_action_its_view_asks() -> None:
    for link in [link for group in MENU for link in group.links] + [SECURITY]:
        view = resolve(reverse(link.view_name)).func
        assert getattr(view, "policy_action", None) == link.action, link.key


def test_the_current_page_and_the_section_of_a_page_are_marked(company: Company) -> None:
    purchaser = factories.member(company, Role.PURCHASER)
    client = _client(purchaser)
    order = factories.draft(company, purchaser, quantity=1)

    assert _menu(client.get("/orders/").content.decode()).current == {"orders": "page"}
    assert _menu(client.get(f"/orders/{order.number}/").content.decode()).current == {
        "orders": "true"
    }
    # Under Order files, not also under Orders.
    assert _menu(client.get("/orders/upload/").content.decode()).current == {"uploads": "true"}
    assert _menu(client.get("/").content.decode()).current == {"dashboard": "page"}
    assert _menu(client.get("/2fa/").content.decode()).current == {"security": "page"}


def test_the_shell_is_usable_with_a_keyboard_and_a_screen_reader(company: Company) -> None:
    client = _client(factories.member(company, Role.OWNER))

    html = client.get("/orders/").content.decode()
    menu = _menu(html)

    # A skip link first, to the main landmark.
    assert menu.focusable[0]["href"] == "#content"
    assert 'class="skip-link"' in html
    assert re.search(r'<main class="content" id="content" tabindex="-1">', html)
    assert re.search(r'<nav class="nav" aria-label="Main">', html)
    assert "<header" in html
    # The phone menu is a real button that says what it controls and whether it is open.
    button = next(f for f in menu.focusable if f.get("data-testid") == "menu-button")
    assert button["tag"] == "button"
    assert button["type"] == "button"
    assert button["aria-controls"] == "site-menu"
    assert button["aria-expanded"] == "false"
    assert 'id="site-menu" popover' in html
    # Company, account and language together, in one labelled place; every control labelled.
    account = html[html.index('data-testid="account"') : html.index('<nav class="nav"')]
    for part in ("Menu Co., Ltd.", 'data-nav="security"', 'action="/logout/"', "language-select"):
        assert part in account, part
    assert '<label class="sr-only" for="language-select">Language</label>' in account


def test_a_signed_out_page_has_the_language_switch_and_no_menu() -> None:
    html = Client().get("/login/").content.decode()

    assert 'id="language-select"' in html
    assert 'class="skip-link"' in html
    assert 'data-testid="menu-button"' not in html
    assert '<nav class="nav"' not in html


# --- Empty lists say what they will hold and offer the next step ------------------------------


def _empty_state(html: str) -> str:
    found = re.search(r'<div class="empty" data-testid="empty-state">(.*?)</div>', html, re.S)
    assert found is not None
    return found.group(1)


def test_empty_lists_offer_the_next_step_the_role_may_take(company: Company) -> None:
    owner = _client(factories.member(company, Role.OWNER))
    viewer = _client(factories.member(company, Role.VIEWER))

    assert 'href="/orders/new/"' in _empty_state(owner.get("/orders/").content.decode())
    assert 'href="/orders/new/"' not in _empty_state(viewer.get("/orders/").content.decode())
    assert "when an order is funded" in _empty_state(owner.get("/invoices/").content.decode())
    assert 'href="/orders/upload/"' in _empty_state(owner.get("/orders/uploads/").content.decode())
    assert 'href="/orders/"' in _empty_state(owner.get("/approvals/").content.decode())
    assert 'href="/invoices/"' in _empty_state(owner.get("/payments/").content.decode())
    assert 'href="#create-key"' in _empty_state(viewer.get("/settings/api-keys/").content.decode())
    assert 'href="/orders/new/"' in _empty_state(owner.get("/cards/").content.decode())
    assert 'href="/orders/"' in _empty_state(viewer.get("/cards/").content.decode())
    # A search that finds nothing offers the whole list again.
    searched = owner.get("/orders/", {"q": "nothing"}).content.decode()
    assert 'href="/orders/"' in _empty_state(searched)


def test_a_list_table_labels_every_cell_for_the_phone_layout(company: Company) -> None:
    purchaser = factories.member(company, Role.PURCHASER)
    factories.draft(company, purchaser, quantity=1)

    html = _client(purchaser).get("/orders/").content.decode()

    table = re.search(
        r'<table class="table stack" data-testid="order-table">.*?</table>', html, re.S
    )
    assert table is not None
    body = table.group(0).split("<tbody>")[1]
    cells = re.findall(r"<td[^>]*>", body)
    assert cells
    assert all("data-label=" in cell for cell in cells)
    assert sum("lead" in cell for cell in cells) == 2
    assert re.search(r"<code>PO\w+</code>", body)
