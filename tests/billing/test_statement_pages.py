"""Statement pages: the active company's list with download links, downloads scoped to the
company (another company's statement is a 404), the on-demand request form for finance and
owners."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import datetime
import hashlib

import pytest
from django.urls import reverse

from billing.models import Statement
from billing.services.statements import statement_build
from billing.tasks.statements import statement_build as build_task
from portal.models import OutboxMessage, Role
from tests import factories
from tests.billing import statement_data as data
from tests.billing.statement_data import shanghai
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

LIST = "/statements/"


def queued_builds() -> list[dict[str, object]]:
    """Statement builds recorded in the outbox (its publish waits for a commit these tests
    never make)."""
    return list(
        OutboxMessage.objects.filter(task=build_task.name)
        .order_by("pk")
        .values_list("kwargs", flat=True)
    )


def october(company) -> Statement:
    data.invoice(company, total="250.00", issued=shanghai(2025, 10, 7))
    return statement_build(
        company=company,
        period_start=datetime.date(2025, 10, 1),
        period_end=datetime.date(2025, 10, 31),
        trigger=Statement.Trigger.MONTHLY,
    )


def test_the_list_shows_balances_and_downloads_return_the_stored_bytes(client) -> None:
    company = factories.company()
    approver = factories.member(company, Role.APPROVER)
    statement = october(company)
    sign_in(client, approver, second_factor=True)

    page = client.get(reverse("billing:statement_list"))

    assert page.status_code == 200
    html = page.content.decode()
    assert statement.number in html
    assert "¥250.00" in html
    assert "Request a statement" not in html  # only owners and finance request
    for fmt in ("pdf", "csv", "xlsx"):
        url = reverse("billing:statement_download", args=[statement.public_id, fmt])
        assert url in html
        response = client.get(url)
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        assert hashlib.sha256(body).hexdigest() == statement.files.get(format=fmt).sha256
        assert f"{statement.number}.{fmt}" in response["Content-Disposition"]


def test_another_companys_statement_is_not_found(client) -> None:
    mine, theirs = factories.company(), factories.company()
    finance = factories.member(mine, Role.FINANCE)
    october(mine)
    other = october(theirs)
    sign_in(client, finance, second_factor=True)

    assert other.number not in client.get(LIST).content.decode()
    url = reverse("billing:statement_download", args=[other.public_id, "pdf"])
    assert client.get(url).status_code == 404


def test_finance_requests_a_statement_for_a_date_range(client) -> None:
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    sign_in(client, finance, second_factor=True)

    response = client.post(
        reverse("billing:statement_request"),
        {"period_start": "2025-10-05", "period_end": "2025-10-20"},
    )

    assert response.status_code == 302
    statement = Statement.objects.get(company=company)
    assert (statement.period_start, statement.period_end) == (
        datetime.date(2025, 10, 5),
        datetime.date(2025, 10, 20),
    )
    assert statement.trigger == "on_demand"
    assert statement.status == "building"
    assert statement.number.startswith("ST-20251005-20251020-")
    assert queued_builds() == [{"statement_id": statement.pk}]
    assert "being prepared" in client.get(LIST).content.decode()


def test_a_request_for_an_issued_period_returns_it_and_bad_ranges_are_explained(client) -> None:
    company = factories.company()
    owner = factories.member(company, Role.OWNER)
    issued = october(company)
    sign_in(client, owner, second_factor=True)

    again = client.post(
        reverse("billing:statement_request"),
        {"period_start": "2025-10-01", "period_end": "2025-10-31"},
        follow=True,
    )
    backwards = client.post(
        reverse("billing:statement_request"),
        {"period_start": "2025-10-20", "period_end": "2025-10-05"},
    )
    assert "already issued" in again.content.decode()
    assert issued.number in again.content.decode()
    assert backwards.status_code == 400
    assert "2025-10-05, before it starts (2025-10-20)" in backwards.content.decode()
    assert queued_builds() == []
    assert Statement.objects.filter(company=company).count() == 1


def test_purchasers_cannot_request_statements(client) -> None:
    company = factories.company()
    purchaser = factories.member(company, Role.PURCHASER)
    sign_in(client, purchaser, second_factor=False)
    response = client.post(
        reverse("billing:statement_request"),
        {"period_start": "2025-10-01", "period_end": "2025-10-31"},
    )
    assert response.status_code == 403
    assert not Statement.objects.exists()


def test_viewers_do_not_see_statements(client) -> None:
    """Statements carry payments and, in the CSV/XLSX, recipients' names and employee ids."""
    company = factories.company()
    viewer = factories.member(company, Role.VIEWER)
    statement = october(company)
    sign_in(client, viewer, second_factor=False)

    assert client.get(reverse("billing:statement_list")).status_code == 403
    url = reverse("billing:statement_download", args=[statement.public_id, "csv"])
    assert client.get(url).status_code == 403
