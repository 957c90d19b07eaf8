"""Cursor pages on every list of the buyer API: ``?cursor=`` (empty for the first page) walks a
list by position, so rows added between pages are neither skipped nor repeated; ``?page=``
keeps working as before. A cursor that is not one is a 400 naming the field."""

# mypy: disable-error-code="union-attr, index"

from __future__ import annotations

import base64
import datetime
import itertools
from typing import Any

import pytest
from django.db.models import F
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from billing.models import Invoice
from cards.models import Order
from portal.api.pagination import ApiPagination
from tests import factories
from tests.api.helpers import ORDERS, Api, buyer, line, order_body
from tests.billing import statement_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

INVOICES = "/api/v1/invoices"
_days = itertools.count(1)


def invoice_on(company: Any, day: datetime.date) -> str:
    return statement_data.invoice(
        company,
        total="10.00",
        issued=statement_data.shanghai(day.year, day.month, day.day, 10, next(_days) % 50),
    ).number


def walk(api: Api, url: str, params: dict[str, Any], between: Any = None) -> list[list[str]]:
    """The numbers page after page, following ``next``; ``between(page)`` runs after each."""
    pages: list[list[str]] = []
    response = api.get(url, **params)
    while True:
        assert response.status_code == 200, response.json()
        body = response.json()
        assert "count" not in body
        pages.append([row["number"] for row in body["results"]])
        if between is not None:
            between(len(pages))
        if not body["next"]:
            return pages
        response = api.client.get(body["next"])


def expected_order(company: Any) -> list[str]:
    """The list's own order: newest issue date first, then the latest row first."""
    rows = Invoice.objects.filter(company=company).order_by("-issue_date", "-id")
    return [row.number for row in rows]


def test_cursor_pages_walk_the_whole_list_while_rows_are_added() -> None:
    acme = buyer()
    api = acme.api("owner")
    start = datetime.date(2025, 3, 1)
    # Ties on the issue date, which the primary key orders.
    days = [0, 0, 0, 1, 1, 2, 5, 5, 5, 5, 9]
    originals = [invoice_on(acme.company, start + datetime.timedelta(days=d)) for d in days]
    ahead: list[str] = []  # added where the walk has not been yet: must be seen
    behind: list[str] = []  # added where it has been: must not be (no repeats, no shifts)

    def add_rows(page: int) -> None:
        if page > 4:
            return
        # A later day than every row: before the cursor.
        behind.append(invoice_on(acme.company, start + datetime.timedelta(days=30 + page)))
        # An earlier day than every row: after the cursor, at the end.
        ahead.append(invoice_on(acme.company, start - datetime.timedelta(days=page)))

    pages = walk(api, INVOICES, {"cursor": "", "page_size": 2}, between=add_rows)
    seen = [number for page in pages for number in page]
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert set(originals) <= set(seen), "a row was skipped"
    assert set(ahead) <= set(seen)
    assert not set(behind) & set(seen)
    assert all(len(page) == 2 for page in pages[:-1])
    # In the list's order, with nothing between that the walk missed.
    final = expected_order(acme.company)
    assert seen == [number for number in final if number in set(seen)]
    assert final[-len(seen) :] == seen


def test_previous_links_walk_back_to_the_first_page() -> None:
    acme = buyer()
    api = acme.api("owner")
    for d in [0, 0, 1, 2, 2, 2, 3]:
        invoice_on(acme.company, datetime.date(2025, 5, 1) + datetime.timedelta(days=d))
    forward = walk(api, INVOICES, {"cursor": "", "page_size": 3})
    assert [n for page in forward for n in page] == expected_order(acme.company)
    # From the last page back.
    response = api.get(INVOICES, cursor="", page_size=3)
    while response.json()["next"]:
        response = api.client.get(response.json()["next"])
    backward = [[row["number"] for row in response.json()["results"]]]
    while response.json()["previous"]:
        response = api.client.get(response.json()["previous"])
        backward.insert(0, [row["number"] for row in response.json()["results"]])
    assert backward == forward
    assert response.json()["previous"] is None


def test_page_numbers_keep_working() -> None:
    acme = buyer()
    api = acme.api("owner")
    for d in range(5):
        invoice_on(acme.company, datetime.date(2025, 7, 1) + datetime.timedelta(days=d))
    second = api.get(INVOICES, page=2, page_size=2).json()
    assert second["count"] == 5
    assert [row["number"] for row in second["results"]] == expected_order(acme.company)[2:4]
    assert "page=3" in second["next"]
    assert "cursor" not in second["next"]


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        "eyJwIjpbMV19",
        "e30",
        "!!",
        "eyJwIjpbIngiLCJ5Il19",
        # {"p": ["2025-07-01", 1e999]}: an integer key too large for any number
        base64.urlsafe_b64encode(b'{"p":["2025-07-01",1e999]}').decode().rstrip("="),
    ],
)
def test_a_cursor_that_is_not_one_is_refused_naming_the_field(cursor: str) -> None:
    acme = buyer()
    invoice_on(acme.company, datetime.date(2025, 7, 1))
    response = acme.api("owner").get(INVOICES, cursor=cursor)
    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]) == ["cursor"]
    assert "cursor" in body["detail"]


def test_every_paginated_list_answers_in_the_cursor_form() -> None:
    acme = buyer()
    owner = acme.api("owner")
    product = factories.product()
    created = acme.api("purchaser").post(
        ORDERS, order_body(line(product), line(product, "200"), submit=True), idempotency_key="c1"
    )
    assert created.status_code == 201, created.json()
    number = created.json()["number"]
    invoice_on(acme.company, datetime.date(2025, 9, 1))
    lists = [
        ORDERS,
        f"{ORDERS}/{number}/lines",
        INVOICES,
        "/api/v1/payments",
        "/api/v1/statements",
        "/api/v1/expense-reports",
        "/api/v1/expense-periods",
    ]
    for url in lists:
        pages = owner.get(url, page_size=1)
        cursors = owner.get(url, cursor="", page_size=1)
        assert pages.status_code == cursors.status_code == 200, (url, cursors.json())
        assert "count" in pages.json()
        assert set(cursors.json()) == {"next", "previous", "results"}, url
        assert cursors.json()["results"] == pages.json()["results"], url
    lines = owner.get(f"{ORDERS}/{number}/lines", cursor="", page_size=1).json()
    second = owner.client.get(lines["next"]).json()
    assert second["next"] is None
    assert len(second["results"]) == 1
    assert second["results"] != lines["results"]


def test_the_schema_describes_both_forms_the_headers_and_the_429() -> None:
    api = buyer().api("owner")
    schema = api.get("/api/schema/", format="json").json()
    lists = schema["paths"]["/api/v1/orders"]["get"]
    assert {"page", "cursor", "page_size"} <= {p["name"] for p in lists["parameters"]}
    ok = lists["responses"]["200"]
    page = schema["components"]["schemas"][
        ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    ]
    assert page["required"] == ["results"]
    assert {"count", "next", "previous", "results"} == set(page["properties"])
    assert {"X-Request-ID", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(
        ok["headers"]
    )
    assert "Retry-After" in lists["responses"]["429"]["headers"]
    create = schema["paths"]["/api/v1/orders"]["post"]["responses"]
    assert "429" in create


@pytest.mark.parametrize("ordering", [("submitted_at",), ("-submitted_at",)])
def test_a_column_with_empty_values_is_walked_both_ways(ordering: tuple[str, ...]) -> None:
    """Rows without a value (drafts never submitted) come last going up, first going down, and
    the walk crosses from one kind to the other without losing a row."""
    acme = buyer()
    actor = acme.people["purchaser"]
    for index in range(7):
        if index % 2:
            factories.submitted(acme.company, actor)
        else:
            factories.draft(acme.company, actor)
    orders = Order.objects.filter(company=acme.company).order_by(*ordering)
    # The order the pages must follow: empty values last going up, first going down, then the
    # primary key in the same direction.
    column = F("submitted_at")
    if ordering[0].startswith("-"):
        strict = orders.order_by(column.desc(nulls_first=True), "-id")
    else:
        strict = orders.order_by(column.asc(nulls_last=True), "id")
    expected = [order.number for order in strict]
    assert Order.objects.filter(company=acme.company, submitted_at=None).count() == 4

    def page(url: str) -> tuple[list[str], str | None, str | None]:
        paginator = ApiPagination()
        request = Request(APIRequestFactory().get(url))
        rows = paginator.paginate_queryset(orders, request)
        assert rows is not None
        body = paginator.get_paginated_response([]).data
        return [row.number for row in rows], body["next"], body["previous"]

    seen: list[list[str]] = []
    url: str | None = "/api/v1/orders?cursor=&page_size=2"
    while url:
        numbers, url, _previous = page(url)
        seen.append(numbers)
    assert [n for numbers in seen for n in numbers] == expected
    # And back from the last page.
    numbers, following, previous = page("/api/v1/orders?cursor=&page_size=2")
    while following:
        numbers, following, previous = page(following)
    back = [numbers]
    while previous:
        numbers, _following, previous = page(previous)
        back.insert(0, numbers)
    assert back == seen
