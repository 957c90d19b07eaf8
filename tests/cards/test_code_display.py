"""Codes and archive passwords as people see them: in groups that never break inside, monospace,
with a copy button that copies the value without the separators (templates/cards/_secret.html,
cards/templatetags/secret_tags.py, static/portal/app.js)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client
from django.utils import translation

from cards import codes
from cards.services import recipients
from portal.models import Role
from tests import factories
from tests.cards import test_code_download as download_tests
from tests.cards import test_recipients as recipient_tests
from tests.cards.legacy_codes import legacy_code

pytestmark = pytest.mark.usefixtures("english_and_fast_hashing")

NEW_CODE = "ABCDEFGHJKMNPQRSTVWXYZ01" + codes.check_symbol("ABCDEFGHJKMNPQRSTVWXYZ01")
PASSWORD = "Ab3dEfGh7kMnPq9sTuVw"
GROUP = re.compile(r'<span class="secret-group">([^<]*)</span>')


def render(value: str, kind: str, testid: str = "code") -> str:
    template = Template(
        "{% load secret_tags %}{% secret_value value kind=kind testid=testid %}",
    )
    return template.render(Context({"value": value, "kind": kind, "testid": testid}))


def element(markup: str, tag: str, marker: str) -> str:
    """The opening tag of the first ``tag`` element whose opening tag contains ``marker``."""
    match = re.search(rf"<{tag}\b[^>]*{re.escape(marker)}[^>]*>", markup)
    assert match, f"no <{tag}> with {marker} in {markup}"
    return match.group()


def assert_copyable(markup: str, *, plain: str, label: str) -> None:
    code = element(markup, "code", "data-copy-value")
    assert f'data-copy-value="{plain}"' in code
    assert "secret-groups" in code
    assert 'translate="no"' in code
    button = element(markup, "button", "data-copy-button")
    assert 'type="button"' in button
    assert f'aria-label="{label}"' in button
    assert 'data-copied-text="Copied"' in button
    assert ">Copy</button>" in markup
    status = element(markup, "span", 'role="status"')
    assert 'aria-live="polite"' in status


# --- The partial -----------------------------------------------------------------------------


def test_a_code_is_shown_in_five_groups_of_five_joined_by_hyphens():
    with translation.override("en"):
        markup = render(codes.format_code(NEW_CODE), "code")
    assert GROUP.findall(markup) == [NEW_CODE[i : i + 5] for i in range(0, 25, 5)]
    # The text of the code element is the formatted code (typed back, hyphens are ignored);
    # a line may break after a hyphen, never inside a group.
    shown = re.search(r'data-testid="code"[^>]*>(.*?)</code>', markup, re.S)
    assert shown
    assert re.sub(r"<[^>]+>", "", shown.group(1)) == codes.format_code(NEW_CODE)
    assert "-<wbr>" in shown.group(1)
    assert_copyable(markup, plain=NEW_CODE, label="Copy the code")


def test_a_code_typed_or_canonical_gives_the_same_groups():
    with translation.override("en"):
        assert GROUP.findall(render(NEW_CODE, "code")) == GROUP.findall(
            render(codes.format_code(NEW_CODE), "code")
        )


def test_an_old_code_with_a_mod_37_check_symbol_is_shown_the_same_way():
    body = next(f"{n:024d}" for n in range(1000) if legacy_code(f"{n:024d}")[-1] in "*~$=U")
    old = legacy_code(body)
    with translation.override("en"):
        markup = render(codes.format_code(old), "code")
    assert "".join(GROUP.findall(markup)) == html.escape(old)
    assert f'data-copy-value="{html.escape(old)}"' in markup


def test_an_archive_password_is_shown_in_groups_with_nothing_between_them():
    with translation.override("en"):
        markup = render(PASSWORD, "password", "archive-password")
    assert GROUP.findall(markup) == ["Ab3dE", "fGh7k", "MnPq9", "sTuVw"]
    shown = re.search(r'data-testid="archive-password"[^>]*>(.*?)</code>', markup, re.S)
    assert shown
    # A selection made by hand copies the password itself: no separator character.
    assert re.sub(r"<[^>]+>", "", shown.group(1)) == PASSWORD
    assert "secret-password" in element(markup, "code", "data-copy-value")
    assert_copyable(markup, plain=PASSWORD, label="Copy the password")


def test_the_copy_button_is_shown_by_the_script_only():
    """Without JavaScript the button could not copy: it starts hidden and app.js shows it."""
    with translation.override("en"):
        button = element(render(NEW_CODE, "code"), "button", "data-copy-button")
    assert " hidden" in button


def test_an_unknown_kind_is_a_template_error():
    with pytest.raises(TemplateSyntaxError):
        render(NEW_CODE, "pin")


def test_groups_never_break_inside_and_the_button_is_styled_and_scripted():
    static = Path(settings.BASE_DIR) / "static" / "portal"
    css = (static / "app.css").read_text()
    assert re.search(r"\.secret-group\s*\{[^}]*white-space:\s*nowrap", css)
    assert re.search(r"\.copy-button\[hidden\]\s*\{[^}]*display:\s*none", css)
    script = (static / "app.js").read_text()
    assert "navigator.clipboard" in script
    assert 'execCommand("copy")' in script
    assert "dataset.copyValue" in script


# --- The pages --------------------------------------------------------------------------------


@pytest.fixture
def recipient_shop(settings: Any) -> recipient_tests.Shop:
    # As tests/cards/test_recipients.py's own ``isolated``: its link pattern, a fresh cache.
    settings.PORTAL_BASE_URL = recipient_tests.BASE
    settings.ISSUANCE_CHUNK_SIZE = 40
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "d"}
    }
    company = factories.company("Acme Gifts Co., Ltd.", approval_threshold="1000000.00")
    factories.credit_line(company, "100000.00")
    return recipient_tests.Shop(
        company=company, people=factories.team(company), product=factories.product()
    )


@pytest.mark.django_db
def test_the_recipient_page_shows_the_code_in_groups_with_a_copy_button(recipient_shop, mailoutbox):
    order = recipient_tests.fulfilled(recipient_shop)
    recipients.deliveries_create(order=order)
    recipient_tests.send_pending(order)
    client = Client()
    token = recipient_tests.last_email_token(mailoutbox, "xiaoming@example.com")
    recipient_tests.open_link(client, token)
    shown = client.post("/r/")
    assert shown.status_code == 200
    card = recipient_tests.delivery_of(order, email="xiaoming@example.com").card
    code = recipient_tests.code_of(card)
    markup = shown.content.decode()
    assert GROUP.findall(markup) == code.split("-")
    assert_copyable(markup, plain=code.replace("-", ""), label="Copy the code")
    assert recipient_tests.shown_code(shown) == code
    # Never in an address: the page's links and form actions carry no code.
    for address in re.findall(r'(?:href|action|src)="([^"]*)"', markup):
        assert code.replace("-", "") not in address.replace("-", "")


@pytest.fixture
def download_shop(settings: Any) -> download_tests.Shop:
    settings.ISSUANCE_CHUNK_SIZE = 4
    company = factories.company("Acme Gifts Co., Ltd.", approval_threshold="1000000.00")
    factories.credit_line(company, "100000.00")
    people = factories.team(company)
    product = factories.product()
    lines = [download_tests.LineInput(product=product, face_value="100", quantity=2)]
    order = download_tests.fulfilled_order(company, people[Role.PURCHASER], lines)
    return download_tests.Shop(company=company, people=people, order=order)


@pytest.mark.django_db
def test_the_archive_password_page_shows_the_password_in_groups_with_a_copy_button(download_shop):
    ready = download_shop.start(download_shop.client(Role.FINANCE))
    assert ready.status_code == 200
    markup = ready.content.decode()
    password = download_tests.shown_password(ready)
    assert len(password) == 20
    assert "".join(GROUP.findall(markup)) == password
    assert [len(group) for group in GROUP.findall(markup)] == [5, 5, 5, 5]
    assert_copyable(markup, plain=password, label="Copy the password")
