"""The dashboard per role: what needs the member now comes first, decided by what their role
may do (``portal.policy``); an owner sees every section, a viewer a read-only summary. The page
costs a bounded number of queries however much the company has."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Statement
from billing.services.statements import statement_build
from cards.models import CodeDownload, Order, OrderStatus, OrderUpload, UploadStatus
from portal.models import Company, Role, User
from tests import factories
from tests.billing import statement_data as data
from tests.cards.test_code_download import fulfilled_order
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

NOW_SECTIONS = (
    "dash-approvals",
    "dash-codes-ready",
    "dash-due-soon",
    "dash-overdue",
    "dash-last-statement",
    "dash-drafts",
    "dash-uploads",
)
OWNER_SECTIONS = (
    *NOW_SECTIONS,
    "dash-recent-orders",
    "dash-counts",
    "dash-credit",
    "dash-spend",
    "dash-cards-issued",
    "dash-card-activity",
)


@dataclass
class Shop:
    company: Company
    people: dict[str, User]
    fulfilled: Order

    def page(self, client: Client, role: str) -> str:
        sign_in(client, self.people[role], second_factor=True)
        response = client.get(reverse("portal:dashboard"))
        assert response.status_code == 200
        return response.text


@pytest.fixture
def shop(settings: Any) -> Shop:
    """A company with a credit line, one order whose codes are ready (funded and issued today),
    and nothing else yet."""
    settings.ISSUANCE_CHUNK_SIZE = 10
    company = factories.company("Dashboard Co., Ltd.", approval_threshold="1000000.00")
    factories.credit_line(company, "100000.00")
    people = factories.team(company)
    return Shop(company, people, fulfilled_order(company, people[Role.PURCHASER]))


def section(page: str, testid: str) -> str:
    """The HTML from the section marked ``data-testid=testid`` to the next dashboard section."""
    start = page.index(f'data-testid="{testid}"')
    end = page.find('data-testid="dash-', start + 1)
    return page[start : end if end > 0 else len(page)]


def sections(page: str) -> set[str]:
    return {name for name in OWNER_SECTIONS if f'data-testid="{name}"' in page}


def waiting_orders(shop: Shop) -> list[Order]:
    """Two orders over a lowered approval threshold, submitted a day apart (the older second)."""
    Company.objects.filter(pk=shop.company.pk).update(approval_threshold=Decimal("100.00"))
    shop.company.refresh_from_db()
    purchaser = shop.people[Role.PURCHASER]
    newer = factories.submitted(shop.company, purchaser, quantity=2)
    older = factories.submitted(shop.company, purchaser, quantity=3)
    assert newer.status == older.status == OrderStatus.PENDING_APPROVAL
    Order.objects.filter(pk=older.pk).update(
        submitted_at=F("submitted_at") - datetime.timedelta(days=2)
    )
    return [older, newer]


def invoices_due(shop: Shop) -> None:
    """One invoice due in 10 days, one 10 days overdue."""
    now = timezone.now()
    data.invoice(
        shop.company, total="1500.00", issued=now - datetime.timedelta(days=20), due_days=30
    )
    data.invoice(
        shop.company, total="2500.00", issued=now - datetime.timedelta(days=40), due_days=30
    )


def upload(shop: Shop, status: str, name: str) -> OrderUpload:
    return OrderUpload.objects.create(
        company=shop.company,
        created_by=shop.people[Role.PURCHASER],
        file="uploads/x.csv",
        file_name=name,
        file_size=10,
        file_sha256="0" * 64,
        status=status,
        error_count=2 if status == UploadStatus.INVALID else 0,
    )


# --- which sections each role sees --------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.OWNER, set(OWNER_SECTIONS)),
        (
            Role.FINANCE,
            {
                "dash-codes-ready",
                "dash-due-soon",
                "dash-overdue",
                "dash-last-statement",
                "dash-recent-orders",
                "dash-counts",
                "dash-credit",
                "dash-spend",
                "dash-cards-issued",
                "dash-card-activity",
            },
        ),
        (Role.APPROVER, {"dash-approvals", "dash-recent-orders", "dash-counts", "dash-credit"}),
        (
            Role.PURCHASER,
            {"dash-drafts", "dash-uploads", "dash-recent-orders", "dash-counts", "dash-credit"},
        ),
        (Role.VIEWER, {"dash-recent-orders", "dash-counts", "dash-credit"}),
    ],
)
def test_each_role_sees_the_sections_its_actions_open(
    client: Client, shop: Shop, role: str, expected: set[str]
) -> None:
    page = shop.page(client, role)

    assert sections(page) == expected


@pytest.mark.parametrize("role", [Role.OWNER, Role.PURCHASER])
def test_roles_that_order_get_a_new_order_button(client: Client, shop: Shop, role: str) -> None:
    page = shop.page(client, role)

    assert 'data-testid="new-order"' in page
    assert f'href="{reverse("cards:order_create")}"' in page


@pytest.mark.parametrize("role", [Role.VIEWER, Role.APPROVER, Role.FINANCE])
def test_roles_that_do_not_order_get_no_new_order_button(
    client: Client, shop: Shop, role: str
) -> None:
    page = shop.page(client, role)

    assert 'data-testid="new-order"' not in page
    assert f'href="{reverse("cards:order_create")}"' not in page


def test_the_viewer_gets_a_read_only_summary(client: Client, shop: Shop) -> None:
    page = shop.page(client, Role.VIEWER)

    recent = section(page, "dash-recent-orders")
    assert shop.fulfilled.number in recent
    assert "Cards ready" in recent
    assert 'data-testid="count-done">1<' in page
    assert "<button" not in section(page, "dash-recent-orders")
    assert f'href="{reverse("cards:upload_new")}"' not in page
    assert 'data-testid="chart-credit-use"' not in page  # credit terms are not theirs


# --- approver -----------------------------------------------------------------------------------


def test_the_approver_sees_orders_waiting_oldest_first_with_purchaser_total_and_age(
    client: Client, shop: Shop
) -> None:
    older, newer = waiting_orders(shop)

    approvals = section(shop.page(client, Role.APPROVER), "dash-approvals")

    assert approvals.index(older.number) < approvals.index(newer.number)
    assert f'href="{reverse("cards:order_detail", kwargs={"number": older.number})}"' in approvals
    assert shop.people[Role.PURCHASER].first_name in approvals
    assert "¥300.00" in approvals
    assert "2\xa0days" in approvals
    assert 'data-label="Price"' in approvals


def test_with_nothing_to_approve_the_approver_is_told_so(client: Client, shop: Shop) -> None:
    approvals = section(shop.page(client, Role.APPROVER), "dash-approvals")

    assert 'data-testid="empty-state"' in approvals
    assert "Nothing waits for your approval" in approvals


# --- finance ------------------------------------------------------------------------------------


def test_finance_sees_the_codes_to_download_until_someone_downloads_them(
    client: Client, shop: Shop
) -> None:
    codes = section(shop.page(client, Role.FINANCE), "dash-codes-ready")
    url = reverse("cards:code_download", kwargs={"number": shop.fulfilled.number})
    assert f'href="{url}"' in codes
    assert "5 cards" in codes

    CodeDownload.objects.create(order=shop.fulfilled, user=shop.people[Role.FINANCE], card_count=5)
    codes = section(shop.page(client, Role.FINANCE), "dash-codes-ready")

    assert shop.fulfilled.number not in codes
    assert 'data-testid="empty-state"' in codes


def test_finance_sees_invoices_due_soon_and_overdue_with_amounts_and_days(
    client: Client, shop: Shop
) -> None:
    invoices_due(shop)

    page = shop.page(client, Role.FINANCE)

    due = section(page, "dash-due-soon")
    overdue = section(page, "dash-overdue")
    assert "¥1,500.00" in due
    assert "¥2,500.00" not in due
    assert "¥2,500.00" in overdue
    assert "10 days overdue" in overdue
    assert "¥2,500.00 past due in total" in overdue
    assert "¥1,500.00" not in overdue
    # The order's own invoice (credit terms of 30 days) is not due within 14 days.
    assert shop.fulfilled.number not in due


def test_finance_sees_the_last_issued_statement_with_its_files(client: Client, shop: Shop) -> None:
    empty = section(shop.page(client, Role.FINANCE), "dash-last-statement")
    assert 'data-testid="empty-state"' in empty

    older = statement_build(
        company=shop.company,
        period_start=datetime.date(2025, 9, 1),
        period_end=datetime.date(2025, 9, 30),
        trigger=Statement.Trigger.MONTHLY,
    )
    latest = statement_build(
        company=shop.company,
        period_start=datetime.date(2025, 10, 1),
        period_end=datetime.date(2025, 10, 31),
        trigger=Statement.Trigger.MONTHLY,
    )
    last = section(shop.page(client, Role.FINANCE), "dash-last-statement")

    assert latest.number in last
    assert older.number not in last
    assert reverse("billing:statement_download", args=[latest.public_id, "pdf"]) in last


def test_finance_sees_spend_and_cards_issued_this_month(client: Client, shop: Shop) -> None:
    page = shop.page(client, Role.FINANCE)

    spend = section(page, "dash-spend")
    cards = section(page, "dash-cards-issued")
    month = timezone.localdate().strftime("%Y-%m")
    assert 'role="img"' in spend
    assert f'<th scope="row">{month}</th><td class="num">{_cny(shop.fulfilled.total)}</td>' in spend
    assert f'<th scope="row">{month}</th><td class="num">5</td>' in cards
    # Twelve months, each in the table of numbers.
    assert spend.count('<th scope="row">') == 12


def _cny(value: Decimal) -> str:
    return f"¥{value:,.2f}"


# --- purchaser ----------------------------------------------------------------------------------


def test_the_purchaser_sees_their_own_drafts_and_uploads_in_progress(
    client: Client, shop: Shop
) -> None:
    mine = factories.draft(shop.company, shop.people[Role.PURCHASER])
    theirs = factories.draft(shop.company, shop.people[Role.OWNER])
    upload(shop, UploadStatus.INVALID, "march-orders.csv")
    upload(shop, UploadStatus.CONFIRMED, "done.csv")

    page = shop.page(client, Role.PURCHASER)

    drafts = section(page, "dash-drafts")
    uploads = section(page, "dash-uploads")
    assert mine.number in drafts
    assert theirs.number not in drafts
    assert "march-orders.csv" in uploads
    assert "2 errors" in uploads
    assert "done.csv" not in uploads
    assert mine.number not in section(page, "dash-recent-orders")  # drafts are not orders yet


def test_a_purchaser_without_drafts_or_files_is_shown_the_next_step(
    client: Client, shop: Shop
) -> None:
    page = shop.page(client, Role.PURCHASER)

    assert f'href="{reverse("cards:order_create")}"' in section(page, "dash-drafts")
    assert f'href="{reverse("cards:upload_new")}"' in section(page, "dash-uploads")


# --- owner --------------------------------------------------------------------------------------


def test_the_owner_sees_credit_use_as_a_chart_with_its_numbers(client: Client, shop: Shop) -> None:
    credit = section(shop.page(client, Role.OWNER), "dash-credit")

    assert 'data-testid="chart-credit-use"' in credit
    assert "Used by unpaid invoices" in credit
    assert "Reserved for approved orders" in credit
    assert _cny(shop.fulfilled.total) in credit
    assert 'data-testid="chart-credit-use-numbers"' in credit


def test_a_new_company_gets_an_empty_state_in_every_list(client: Client) -> None:
    company = factories.company()
    owner = factories.member(company, Role.OWNER)
    sign_in(client, owner, second_factor=True)

    page = client.get(reverse("portal:dashboard")).text

    for name in (
        *NOW_SECTIONS,
        "dash-recent-orders",
        "dash-spend",
        "dash-cards-issued",
        "dash-card-activity",
    ):
        assert 'data-testid="empty-state"' in section(page, name), name
    assert "No credit terms" in section(page, "dash-credit")


def test_the_owners_dashboard_costs_a_bounded_number_of_queries(
    client: Client, shop: Shop, django_assert_max_num_queries: Any
) -> None:
    for _ in range(3):
        factories.draft(shop.company, shop.people[Role.OWNER])
        upload(shop, UploadStatus.VALID, "file.csv")
        fulfilled_order(shop.company, shop.people[Role.PURCHASER])
    waiting_orders(shop)
    invoices_due(shop)
    sign_in(client, shop.people[Role.OWNER], second_factor=True)

    with django_assert_max_num_queries(30):
        response = client.get(reverse("portal:dashboard"))

    assert response.status_code == 200
    assert sections(response.text) == set(OWNER_SECTIONS)
