"""The exception queue and the period pages in the portal and the API: filters, evidence,
accept/reject/link/unlink and bulk acts, close and re-open, the filed reports to download with
their SHA-256; viewers read but cannot act; another company gets 404; the finance dashboard
shows this month's open exceptions and unclaimed spend."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from expenses.audit import ExpenseAction
from expenses.models import (
    ExpenseLine,
    ExpenseMatch,
    LineState,
    PeriodReport,
    PeriodStatus,
    Resolution,
)
from expenses.services.closing import period_close
from portal.models import AuditEvent, Role
from tests.api.helpers import Api, key_for
from tests.expenses.resolution_data import Books, books

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def acme(settings: Any, tmp_path: Any) -> Books:
    settings.ISSUANCE_CHUNK_SIZE = 10
    settings.MEDIA_ROOT = str(tmp_path)
    return books()


def month_of(acme: Books) -> str:
    return f"{acme.period().month:%Y-%m}"


def queue_url(acme: Books, **query: str) -> str:
    url = reverse("expenses:period_exceptions", args=[month_of(acme)])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def resolve_url(line: ExpenseLine) -> str:
    return reverse("expenses:line_resolve", args=[line.public_id])


def follow(client: Client, url: str, data: dict[str, Any]) -> str:
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    return response.content.decode()


# --- The queue -----------------------------------------------------------------------------------


def test_the_queue_shows_each_exception_with_its_evidence(acme: Books) -> None:
    tx = acme.spend("E001", "80.00", ref="POS-8080")
    short = acme.line("88.00", state=LineState.AMOUNT_DIFFERS, matched=[(tx, "80.00")])
    original = acme.line("50.00", report="R-0", fapiao_number="F-1")
    acme.line(
        "50.00",
        state=LineState.DUPLICATE,
        employee="E002",
        duplicate_of=original,
        fapiao_number="F-1",
    )
    acme.line("10.00")  # matched: not in the queue

    page = acme.client().get(queue_url(acme)).content.decode()

    assert page.count('data-testid="exception-row"') == 2
    assert "POS-8080" in page
    assert "difference ¥8.00" in page
    assert f"Repeats claim R-0/{original.line_number}" in page
    assert f"{short.report_number}/{short.line_number}" in page


def test_the_queue_filters_by_state_report_employee_and_cost_center(acme: Books) -> None:
    acme.line("10.00", state=LineState.NO_SPEND, employee="E001")
    acme.line("11.00", state=LineState.UNKNOWN, employee="E002", report="R-2")
    acme.line("12.00", state=LineState.NO_SPEND, employee="E002", cost_center="CC-99")
    client = acme.client()

    def rows(**query: str) -> int:
        return (
            client.get(queue_url(acme, **query))
            .content.decode()
            .count('data-testid="exception-row"')
        )

    assert rows() == 3
    assert rows(state="no_spend") == 2
    assert rows(report="R-2") == 1
    assert rows(employee="E002") == 2
    assert rows(employee="张三") == 1
    assert rows(cost_center="CC-99") == 1
    assert rows(state="all", resolution="any") == 3


def test_finance_accepts_with_a_note_from_the_queue(acme: Books) -> None:
    line = acme.line("10.00", state=LineState.NO_SPEND)
    client = acme.client()

    page = follow(client, resolve_url(line), {"action": "accept", "note": ""})
    assert "Write a note saying why" in page
    line.refresh_from_db()
    assert line.resolution == Resolution.NONE

    page = follow(
        client,
        resolve_url(line),
        {"action": "accept", "note": "Receipt on paper", "next": queue_url(acme)},
    )
    line.refresh_from_db()
    assert line.resolution == Resolution.ACCEPTED
    assert "accepted" in page
    event = AuditEvent.objects.get(action=ExpenseAction.LINE_ACCEPTED)
    assert event.ip == "127.0.0.1"


def test_finance_links_a_candidate_and_unlinks_it(acme: Books) -> None:
    tx = acme.spend("E001", "66.00")
    other = acme.spend("E002", "66.00")  # another employee's card: not a candidate
    line = acme.line("66.00", state=LineState.NO_SPEND)
    client = acme.client()

    page = client.get(queue_url(acme)).content.decode()
    assert str(tx.public_id) in page
    assert str(other.public_id) not in page

    follow(
        client,
        resolve_url(line),
        {"action": "link", "transaction": str(tx.public_id), "note": "Found it"},
    )
    line.refresh_from_db()
    assert line.state == LineState.MATCHED
    assert ExpenseMatch.objects.get(line=line).manual

    follow(client, resolve_url(line), {"action": "unlink", "transaction": str(tx.public_id)})
    line.refresh_from_db()
    assert line.state == LineState.NO_SPEND
    assert not ExpenseMatch.objects.filter(line=line).exists()


def test_bulk_acts_on_the_lines_ticked_all_or_nothing(acme: Books) -> None:
    tx = acme.spend("E001", "5.00")
    lines = [acme.line("5.00", state=LineState.NO_SPEND) for _ in range(2)]
    matched = acme.line("5.00", matched=[(tx, "5.00")])
    client = acme.client()
    bulk = reverse("expenses:period_bulk_resolve", args=[month_of(acme)])

    page = follow(
        client,
        bulk,
        {
            "action": "accept",
            "note": "Small",
            "lines": [str(x.public_id) for x in [*lines, matched]],
        },
    )
    assert "Nothing was changed" in page
    assert f"line {matched.line_number}" in page
    assert not ExpenseLine.objects.filter(resolution=Resolution.ACCEPTED).exists()

    page = follow(
        client,
        bulk,
        {"action": "accept", "note": "Small", "lines": [str(x.public_id) for x in lines]},
    )
    assert "2 claim lines changed." in page
    assert ExpenseLine.objects.filter(resolution=Resolution.ACCEPTED).count() == 2


def test_a_viewer_reads_the_queue_but_cannot_act(acme: Books) -> None:
    line = acme.line("10.00", state=LineState.NO_SPEND)
    client = acme.client(Role.VIEWER)

    page = client.get(queue_url(acme))
    assert page.status_code == 200
    assert 'data-testid="exception-row"' in page.content.decode()
    assert 'data-testid="resolve-form"' not in page.content.decode()
    assert 'data-testid="bulk-form"' not in page.content.decode()

    response = client.post(resolve_url(line), {"action": "accept", "note": "x"})
    assert response.status_code == 403
    detail = client.get(reverse("expenses:period_detail", args=[month_of(acme)]))
    assert 'data-testid="close-form"' not in detail.content.decode()
    closing = client.post(reverse("expenses:period_close", args=[month_of(acme)]))
    assert closing.status_code == 403
    line.refresh_from_db()
    assert line.resolution == Resolution.NONE


def test_another_company_gets_404(acme: Books) -> None:
    line = acme.line("10.00", state=LineState.NO_SPEND)
    stranger = books()
    month = month_of(acme)
    client = stranger.client()

    for url in (
        reverse("expenses:period_detail", args=[month]),
        reverse("expenses:period_exceptions", args=[month]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(resolve_url(line), {"action": "accept", "note": "x"}).status_code == 404
    assert client.post(reverse("expenses:period_close", args=[month])).status_code == 404
    line.refresh_from_db()
    assert line.resolution == Resolution.NONE


# --- The period page -----------------------------------------------------------------------------


def test_closing_from_the_period_page_says_what_is_left(acme: Books) -> None:
    acme.line("10.00", state=LineState.NO_SPEND)
    client = acme.client()

    response = client.post(reverse("expenses:period_close", args=[month_of(acme)]))

    assert response.status_code == 409
    page = response.content.decode()
    assert "1 claim line is an open exception" in page
    assert queue_url(acme) in page


def test_a_closed_period_lists_its_reports_to_download_with_their_checksum(acme: Books) -> None:
    line = acme.line("10.00", state=LineState.NO_SPEND)
    client = acme.client()
    follow(client, resolve_url(line), {"action": "reject", "note": "No receipt"})

    follow(client, reverse("expenses:period_close", args=[month_of(acme)]), {})

    period = acme.period()
    assert period.status == PeriodStatus.CLOSED
    detail = client.get(reverse("expenses:period_detail", args=[month_of(acme)])).content.decode()
    assert detail.count('data-testid="report-row"') == 2
    for report in PeriodReport.objects.filter(period=period):
        assert report.file_sha256 in detail
        download = client.get(
            reverse("expenses:period_report_download", args=[month_of(acme), report.public_id])
        )
        assert download.status_code == 200
        body = b"".join(download.streaming_content)  # type: ignore[attr-defined]
        assert hashlib.sha256(body).hexdigest() == report.file_sha256
        assert download["X-Content-SHA256"] == report.file_sha256
    # Frozen: the queue offers no act, and an act posted anyway is refused.
    queue = client.get(queue_url(acme, resolution="any")).content.decode()
    assert 'data-testid="period-closed"' in queue
    assert 'data-testid="reopen"' not in queue
    page = follow(client, resolve_url(line), {"action": "reopen"})
    assert "is closed" in page


def test_only_an_owner_reopens_and_says_why(acme: Books) -> None:
    line = acme.line("10.00", state=LineState.NO_SPEND)
    follow(acme.client(), resolve_url(line), {"action": "reject", "note": "No receipt"})
    period_close(period=acme.period(), user=acme.finance)
    reopen = reverse("expenses:period_reopen", args=[month_of(acme)])

    assert acme.client().post(reopen, {"reason": "late"}).status_code == 403
    owner = acme.client(Role.OWNER)
    assert owner.post(reopen, {"reason": ""}).status_code == 400

    follow(owner, reopen, {"reason": "A late receipt"})

    assert acme.period().status == PeriodStatus.OPEN
    event = AuditEvent.objects.get(action=ExpenseAction.PERIOD_REOPENED)
    assert event.changes["reason"] == "A late receipt"


def test_the_period_list_shows_open_exceptions(acme: Books) -> None:
    acme.line("10.00", state=LineState.NO_SPEND)
    acme.line("10.00")
    page = acme.client(Role.VIEWER).get(reverse("expenses:period_list")).content.decode()
    assert 'data-testid="period-row"' in page
    assert 'data-testid="period-open-count">1<' in page


# --- The dashboard -------------------------------------------------------------------------------


def test_the_dashboard_shows_open_exceptions_and_unclaimed_spend(acme: Books) -> None:
    tx = acme.spend("E001", "100.00")
    acme.spend("E002", "25.00")
    acme.line("100.00", matched=[(tx, "100.00")])
    acme.line("40.00", state=LineState.NO_SPEND)

    for role in (Role.FINANCE, Role.OWNER, Role.VIEWER):
        page = acme.client(role).get(reverse("portal:dashboard")).content.decode()
        panel = page[page.index('data-testid="dash-expenses"') :]
        assert "1</a> · ¥40.00" in panel.split('data-testid="dash-unclaimed"')[0], role
        assert "1 · ¥25.00" in panel, role
    for role in (Role.PURCHASER, Role.APPROVER):
        page = acme.client(role).get(reverse("portal:dashboard")).content.decode()
        assert 'data-testid="dash-expenses"' not in page, role


# --- The API -------------------------------------------------------------------------------------


def api(acme: Books, role: str = Role.FINANCE) -> Api:
    return Api(key_for(acme.company, acme.people[role]))


def test_the_api_lists_periods_and_their_exceptions(acme: Books) -> None:
    tx = acme.spend("E001", "80.00")
    line = acme.line("88.00", state=LineState.AMOUNT_DIFFERS, matched=[(tx, "80.00")])
    acme.line("10.00")
    client = api(acme, Role.VIEWER)

    periods = client.get("/api/v1/expense-periods").json()
    assert [p["month"] for p in periods["results"]] == [month_of(acme)]
    assert periods["results"][0]["open_exceptions"] == 1

    body = client.get(f"/api/v1/expense-periods/{month_of(acme)}/exceptions").json()
    (shown,) = body["results"]
    assert shown["id"] == str(line.public_id)
    assert shown["difference"] == "8.00"
    assert shown["matches"][0]["transaction"] == str(tx.public_id)
    assert shown["matches"][0]["spent"] == "80.00"
    every = client.get(
        f"/api/v1/expense-periods/{month_of(acme)}/exceptions", state="all", resolution="any"
    ).json()
    assert len(every["results"]) == 2


def test_the_api_resolves_a_line_and_a_viewer_key_cannot(acme: Books) -> None:
    tx = acme.spend("E001", "30.00")
    line = acme.line("30.00", state=LineState.NO_SPEND)
    url = f"/api/v1/expense-lines/{line.public_id}/resolution"

    refused = api(acme, Role.VIEWER).post(url, {"action": "accept", "note": "x"})
    assert refused.status_code == 403

    missing = api(acme).post(url, {"action": "accept"})
    assert missing.status_code == 400
    assert missing.json()["code"] == "note_required"

    linked = api(acme).post(
        url, {"action": "link", "transaction": str(tx.public_id), "note": "Receipt"}
    )
    assert linked.status_code == 200, linked.json()
    assert linked.json()["state"] == LineState.MATCHED
    assert linked.json()["evidence"] == "manual"

    again = api(acme).post(url, {"action": "reopen"})
    assert again.status_code == 409
    assert again.json()["code"] == "line_state"


def test_the_api_closes_a_period_and_only_an_owner_key_reopens(acme: Books) -> None:
    line = acme.line("10.00", state=LineState.NO_SPEND)
    month = month_of(acme)
    close = f"/api/v1/expense-periods/{month}/close"

    blocked = api(acme).post(close)
    assert blocked.status_code == 409
    assert blocked.json()["code"] == "period_not_ready"
    assert "1 claim line is an open exception" in blocked.json()["detail"]

    api(acme).post(
        f"/api/v1/expense-lines/{line.public_id}/resolution",
        {"action": "reject", "note": "No receipt"},
    )
    closed = api(acme).post(close)
    assert closed.status_code == 200, closed.json()
    assert closed.json()["status"] == "closed"
    assert {r["format"] for r in closed.json()["reports"]} == {"pdf", "xlsx"}

    reopen = f"/api/v1/expense-periods/{month}/reopen"
    assert api(acme).post(reopen, {"reason": "late"}).status_code == 403
    assert api(acme, Role.OWNER).post(reopen, {"reason": "late"}).status_code == 200
    assert acme.period().status == PeriodStatus.OPEN


def test_the_api_answers_404_for_another_companys_period_and_line(acme: Books) -> None:
    line = acme.line("10.00", state=LineState.NO_SPEND)
    stranger = api(books())
    month = month_of(acme)

    assert stranger.get(f"/api/v1/expense-periods/{month}/exceptions").status_code == 404
    assert stranger.post(f"/api/v1/expense-periods/{month}/close").status_code == 404
    response = stranger.post(
        f"/api/v1/expense-lines/{line.public_id}/resolution", {"action": "accept", "note": "x"}
    )
    assert response.status_code == 404
