"""Every role's pages, in a real browser, at desktop (1366 x 900) and phone (390 x 844) width, in
English and in Chinese (issue 14, point 10).

One test per role and language: a company with something on every page (a funded credit order
whose invoice is past due; a pro-forma order waiting for its transfer; an order waiting for
approval; a draft; an order whose cards are ready to download; a recipients order with its
cards; last month's statement). The role signs
in (with a TOTP code where the role needs one), its menu must offer exactly the pages the
policy lets it open, and it opens its pages, through the menu where the menu leads to them
(behind the menu button on a phone), at both widths. On every page ``page_checks`` looks for
sideways scrolling (of the page, and at phone width of a box inside it), labels broken inside
a word, English left on a Chinese page and axe-core's serious or critical violations; every
page is saved to ``var/screenshots/{lang}-{width}-{role}-{page}.png`` (whole page). A test
reports everything it found at once, page by page, then fails.

The owner opens every page, then the recipient's page (``/r/``, signed out, as a recipient);
the other roles open their dashboard and the pages that are theirs (``ROLE_PAGES``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.utils import timezone, translation
from django_otp.plugins.otp_totp.models import TOTPDevice
from selenium.common.exceptions import NoSuchElementException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from billing.models import Invoice, Statement
from billing.services.statements import statement_build
from cards.models import Chunk, DeliveryMethod, Order, OrderStatus
from cards.services import issuance, recipients
from cards.services.orders import LineInput, order_create
from cards.services.workflow import order_begin_fulfilment, order_submit
from portal.models import Company, Role, User
from portal.policy import can
from tests import factories
from tests.cards import test_recipients as recipient_tests
from tests.e2e.browse import (
    click,
    menu_open,
    nav_keys,
    nav_to,
    path_of,
    prefer_chinese,
    prefer_english,
    screenshot,
    set_viewport,
    sign_in,
    wait,
    wait_for_path,
)
from tests.e2e.page_checks import Checks, page_problems

# No worker runs during these tests: a shared one started by an earlier test of this process
# would take the deliveries and notices they queue on commit and send them itself.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_celery_worker"),
]

DESKTOP = (1366, 900)
PHONE = (390, 844)
SECOND_FACTOR = {Role.OWNER, Role.APPROVER, Role.FINANCE}

# The data a journey puts on its pages, in the language of the journey: Chinese pages must not
# show English, so a Chinese journey's company and people have Chinese names.
NAMES = {
    "en": {
        "company": "Hangzhou Spring Gifts Co., Ltd.",
        Role.OWNER: "Wang Jianguo",
        Role.APPROVER: "Li Min",
        Role.FINANCE: "Chen Jing",
        Role.PURCHASER: "Zhang Wei",
        Role.VIEWER: "Liu Yang",
        "recipient": "Zhao Lei",
        "other recipient": "Sun Li",
    },
    "zh": {
        "company": "杭州春风礼品有限公司",
        Role.OWNER: "王建国",
        Role.APPROVER: "李敏",
        Role.FINANCE: "陈静",
        Role.PURCHASER: "张伟",
        Role.VIEWER: "刘洋",
        "recipient": "赵磊",
        "other recipient": "孙丽",
    },
}
RECIPIENT_EMAIL = "zhaolei@example.com"

# The menu's keys and the policy action that opens each (None: every member).
MENU = {
    "dashboard": None,
    "orders": "order.read",
    "cards": "order.read",
    "catalog": "order.read",
    "approvals": "order.approve",
    "uploads": "order.upload",
    "invoices": "invoices.read",
    "payments": "payments.read",
    "statements": "statements.read",
    "aging": "aging.read",
    "members": None,
    "api_keys": "api_keys.own",
    "audit": "audit.read",
    "security": None,
    "expense_reports": "expenses.read",
    "expense_periods": "expenses.read",
    "expense_mapping": "expenses.read",
    "company_documents": "company.documents",
    "webhooks": "webhooks.manage",
    "sso": "sso.manage",
}


@dataclass
class Shop:
    """The journey's company and what is on its pages."""

    company: Company
    people: dict[str, User]
    devices: dict[str, TOTPDevice]
    credit_order: Order
    proforma_order: Order
    pending_order: Order
    recipient_token: str
    invoice_number: str


def _fulfil(order: Order) -> Order:
    """Generate a funded order's cards in-process, as the worker would."""
    order_begin_fulfilment(order_id=order.pk)
    for chunk in Chunk.objects.filter(batch__order=order).order_by("pk"):
        issuance.chunk_generate(chunk_id=chunk.pk)
    for batch in order.batches.all():
        issuance.batch_finalise(batch_id=batch.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    return order


def _shop(language: str, mailoutbox: list[Any]) -> Shop:
    names = NAMES[language]
    company = factories.company(str(names["company"]), approval_threshold="5000.00")
    factories.credit_line(company, "200000.00", net_days=30, grace_days=5)
    product = factories.product()  # 礼品卡 / Gift card: 100, 200, 500, 1,000
    people: dict[str, User] = {}
    for role in Role.values:
        user = factories.member(company, role, f"{role}@spring.example")
        user.first_name, user.last_name = str(names[role]), ""
        user.save(update_fields=["first_name", "last_name"])
        people[role] = user
    devices: dict[str, TOTPDevice] = {
        role: TOTPDevice.objects.create(user=people[role], name="phone", confirmed=True)
        for role in SECOND_FACTOR
    }
    buyer = people[Role.PURCHASER]

    # Funded on credit; its invoice is made past due below (within its grace period, so that
    # credit orders are still accepted).
    credit_order = factories.submitted(
        company, buyer, card=product, face_value="500", quantity=4, client_reference="HR-2026-01"
    )
    assert credit_order.status == OrderStatus.FUNDED
    assert credit_order.invoice is not None
    proforma_order = factories.submitted(
        company, buyer, card=product, face_value="200", quantity=5, payment_method="bank_transfer"
    )
    assert proforma_order.status == OrderStatus.AWAITING_PAYMENT
    pending_order = factories.submitted(company, buyer, card=product, face_value="1000", quantity=8)
    assert pending_order.status == OrderStatus.PENDING_APPROVAL
    factories.draft(company, buyer, card=product, face_value="100", quantity=3)
    # Cards ready by file: codes finance may download.
    _fulfil(factories.submitted(company, buyer, card=product, face_value="200", quantity=2))

    # A recipients order, its cards generated in-process and the links mailed.
    card = str(product.public_id)
    recipients_order = order_create(
        company=company,
        actor=buyer,
        delivery_method=DeliveryMethod.RECIPIENTS,
        lines=[
            LineInput(
                product=card,
                quantity=1,
                face_value="100",
                recipient_name=str(names["recipient"]),
                recipient_email=RECIPIENT_EMAIL,
            ),
            LineInput(
                product=card,
                quantity=1,
                face_value="200",
                recipient_name=str(names["other recipient"]),
                recipient_mobile="13900139000",
            ),
        ],
    )
    recipients_order = _fulfil(order_submit(order=recipients_order, actor=buyer))
    recipients.deliveries_create(order=recipients_order)
    recipient_tests.send_pending(recipients_order)

    Invoice.objects.filter(pk=credit_order.invoice.pk).update(
        due_date=timezone.localdate() - datetime.timedelta(days=3)
    )

    # Last month's statement, issued.
    first_of_month = timezone.localdate().replace(day=1)
    last_month = (first_of_month - datetime.timedelta(days=1)).replace(day=1)
    statement = statement_build(
        company=company,
        period_start=last_month,
        period_end=first_of_month - datetime.timedelta(days=1),
        trigger=Statement.Trigger.MONTHLY,
    )
    assert statement.status == Statement.Status.ISSUED, statement.status
    return Shop(
        company=company,
        people=people,
        devices=devices,
        credit_order=credit_order,
        proforma_order=proforma_order,
        pending_order=pending_order,
        recipient_token=recipient_tests.last_email_token(mailoutbox, RECIPIENT_EMAIL),
        invoice_number=credit_order.invoice.number,
    )


# --- The pages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """A page a journey opens: through the menu (``menu`` key) or at an address."""

    name: str
    menu: str = ""
    address: Callable[[Shop], str] | None = None
    path: str = field(default="")  # where the menu leads (checked), if not the address


PAGES = {
    page.name: page
    for page in (
        Page("dashboard", menu="dashboard", path="/"),
        Page("orders", menu="orders", path="/orders/"),
        Page("approvals", menu="approvals", path="/approvals/"),
        Page("order-form", address=lambda shop: "/orders/new/"),
        Page("order-credit", address=lambda shop: f"/orders/{shop.credit_order.number}/"),
        Page("order-proforma", address=lambda shop: f"/orders/{shop.proforma_order.number}/"),
        Page("order-pending", address=lambda shop: f"/orders/{shop.pending_order.number}/"),
        Page("invoices", menu="invoices", path="/invoices/"),
        Page("invoice", address=lambda shop: f"/invoices/{shop.invoice_number}/"),
        Page("aging", menu="aging", path="/aging/"),
        Page("statements", menu="statements", path="/statements/"),
        Page("cards", menu="cards", path="/cards/"),
        Page("members", menu="members", path="/members/"),
    )
}
# The owner opens every page; the others their dashboard and the pages that are theirs (the
# pages they share with the owner differ only in the actions they offer).
ROLE_PAGES: dict[str, list[str]] = {
    Role.OWNER: list(PAGES),
    Role.APPROVER: ["dashboard", "approvals", "order-pending", "invoices"],
    Role.FINANCE: ["dashboard", "invoices", "aging", "statements"],
    Role.PURCHASER: ["dashboard", "orders", "order-form", "order-proforma"],
    Role.VIEWER: ["dashboard", "orders", "invoices"],
}


def _error_titles(language: str) -> list[str]:
    """How the titles of the error pages and the sign-in page begin (none should be shown)."""
    with translation.override("zh-hans" if language == "zh" else "en"):
        titles = [str(translation.gettext(t)) for t in ("Not found", "Not allowed", "Sign in")]
    return [*titles, "Error / 出错了"]


class Journey:
    """One role's visit in one language: opens pages, runs the checks, keeps the problems."""

    def __init__(self, browser: WebDriver, base: str, role: str, language: str) -> None:
        self.browser = browser
        self.base = base
        self.role = role
        self.language = language
        self.error_titles = _error_titles(language)
        self.width = 0
        # (language width who, problem) -> the pages it was seen on, in order
        self.seen: dict[tuple[str, str], list[str]] = {}

    def note(self, page: str, problem: str, who: str = "") -> None:
        where = f"{self.language} {self.width} {who or self.role}"
        self.seen.setdefault((where, problem), []).append(page)

    def problems(self) -> list[str]:
        """Each problem once, with the pages it was seen on (the menu's are on every page)."""
        return [
            f"{where} {', '.join(pages)}: {problem}"
            for (where, problem), pages in self.seen.items()
        ]

    def check(self, page: str, who: str = "") -> None:
        """Check the page shown now, and save its screenshot."""
        title = str(self.browser.title)
        if any(title.startswith(error) for error in self.error_titles):
            self.note(page, f"the page is an error page ({title!r})", who)
        checks = Checks(chinese=self.language == "zh", phone=self.width == PHONE[0])
        for problem in page_problems(self.browser, checks):
            self.note(page, problem, who)
        who = who or self.role
        screenshot(self.browser, f"{self.language}-{self.width}-{who}-{page}", full_page=True)

    def visit(self, shop: Shop, page: Page) -> None:
        """Open the page and check it; a page that cannot be opened is a problem too."""
        try:
            if page.menu:
                nav_to(self.browser, page.menu)
                wait_for_path(self.browser, page.path)
            else:
                assert page.address is not None
                path = page.address(shop)
                self.browser.get(self.base + path)
                wait_for_path(self.browser, path)
        except (NoSuchElementException, TimeoutException) as error:
            self.note(
                page.name,
                f"cannot be opened ({type(error).__name__}: {error.msg}), "
                f"seen at {path_of(self.browser)}",
            )
            return
        self.check(page.name)

    def menu(self) -> None:
        """The menu offers exactly the pages the role may open; on a phone, it opens from its
        button and is checked open."""
        expected = {key for key, action in MENU.items() if action is None or can(self.role, action)}
        offered = set(nav_keys(self.browser))
        if offered != expected:
            self.note("menu", f"offers {sorted(offered)}, the role may open {sorted(expected)}")
        if self.width == PHONE[0]:
            menu_open(self.browser)
            self.check("menu")
            self.browser.refresh()


def _recipient_page(journey: Journey, shop: Shop) -> None:
    """The recipient's one-time page, as the recipient sees it (no account: a new session):
    the link, "Show my code", the code. Seen at both widths without reloading (a second look
    shows only the last four characters)."""
    browser = journey.browser
    browser.delete_all_cookies()
    set_viewport(browser, *DESKTOP)
    journey.width = DESKTOP[0]
    browser.get(f"{journey.base}/r/{shop.recipient_token}/")
    wait_for_path(browser, "/r/")
    click(browser, "reveal")
    wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '[data-testid="code"]'))
    journey.check("code", who="recipient")
    set_viewport(browser, *PHONE, phone=True)
    journey.width = PHONE[0]
    journey.check("code", who="recipient")


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("role", list(ROLE_PAGES))
def test_role_pages_fit_read_well_and_pass_axe(
    live_server: Any,
    browser: WebDriver,
    mailoutbox: list[Any],
    settings: Any,
    role: str,
    language: str,
) -> None:
    settings.PORTAL_BASE_URL = recipient_tests.BASE  # the links the recipients are mailed
    # The real hasher costs a second per member; the live server shares these settings.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    shop = _shop(language, mailoutbox)
    (prefer_chinese if language == "zh" else prefer_english)(browser)
    journey = Journey(browser, live_server.url, role, language)

    set_viewport(browser, *DESKTOP)
    sign_in(browser, live_server.url, shop.people[role].email, device=shop.devices.get(role))
    wait_for_path(browser, "/")
    for width, height in (DESKTOP, PHONE):
        set_viewport(browser, width, height, phone=width == PHONE[0])
        journey.width = width
        browser.get(live_server.url + "/")
        journey.menu()
        for name in ROLE_PAGES[role]:
            journey.visit(shop, PAGES[name])
    if role == Role.OWNER:
        _recipient_page(journey, shop)

    problems = journey.problems()
    assert not problems, (
        f"{len(problems)} problems on the {role}'s pages in {language}:\n" + "\n".join(problems)
    )
