"""Expense reports through the API: a file (multipart) or JSON lines, each with an
Idempotency-Key; a small report checked at once (201), a large one by a worker (202); its status
with progress and counts, its lines by state, its error file. Scoped to the key's company, with
the expenses scopes."""

# mypy: disable-error-code="union-attr, index, arg-type"

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from expenses.models import ExpenseLine, ExpenseReport, LineState, ReportStatus
from portal.models import ApiKey, Role
from tests import factories
from tests.api.helpers import Api, key_for
from tests.expenses.intake_helpers import ZH, as_json, csv_bytes, matching, media, row

__all__ = ["matching", "media"]

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("english_and_fast_hashing", "media"),
]

REPORTS = "/api/v1/expense-reports"


@pytest.fixture
def company():
    return factories.company()


@pytest.fixture
def finance_key(company) -> str:
    return key_for(company, factories.member(company, Role.FINANCE))


def send_file(key: str, data: bytes, *, idem: str | None = "k-1", name: str = "r.csv") -> Any:
    headers = {"authorization": f"Bearer {key}", "accept-language": "en"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return Client(headers=headers).post(REPORTS, {"file": SimpleUploadedFile(name, data)})


def send_lines(key: str, lines: list[dict[str, Any]], *, idem: str | None = "k-1") -> Any:
    return Api(key).post(REPORTS, {"lines": lines}, idempotency_key=idem)


def test_a_small_file_is_checked_and_matched_at_once_and_answers_201(finance_key, matching):
    matching.finish = True

    response = send_file(finance_key, csv_bytes([ZH, row("1"), row("2", amount="56.50")]))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "matched"
    assert body["source"] == "file"
    assert body["progress"]["finished"] is True
    assert body["states"] == [{"state": "matched", "label": "Matched", "count": 1}]
    assert response["Location"] == body["poll_url"] == f"{REPORTS}/{body['id']}"
    assert ExpenseLine.objects.count() == 2
    assert len(matching.calls) == 1


def test_json_lines_are_a_report_too(finance_key, matching):
    matching.finish = True

    response = send_lines(finance_key, [as_json(row("1")), {**as_json(row("2")), "amount": 56.5}])

    assert response.status_code == 201, response.json()
    assert response.json()["source"] == "api"
    amounts = sorted(ExpenseLine.objects.values_list("amount", flat=True))
    assert [str(a) for a in amounts] == ["56.50", "128.00"]


def test_errors_are_listed_with_row_column_value_and_reason_and_the_error_file(
    finance_key, matching
):
    response = send_file(finance_key, csv_bytes([ZH, row("1"), row("2", day="yesterday")]))

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "invalid"
    assert body["error_count"] == 1
    (error,) = body["result"]["errors"]
    assert error == {
        "row": 3,
        "field": "expense_date",
        "column": "费用日期",
        "value": "yesterday",
        "reason": "is not a date; write it as 2026-01-31 (or 2026/1/31, 2026年1月31日).",
    }
    assert not ExpenseLine.objects.exists()
    errors = Api(finance_key).get(body["errors_url"], format="csv")
    assert errors.status_code == 200
    assert errors["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert rows[0][-1] == "error"
    assert rows[2][-1].startswith("费用日期: is not a date")
    xlsx = Api(finance_key).get(body["errors_url"], format="xlsx")
    assert xlsx.status_code == 200
    assert xlsx.content.startswith(b"PK")


def test_a_valid_report_has_no_error_file(finance_key, matching):
    body = send_file(finance_key, csv_bytes([ZH, row("1")])).json()

    assert body["errors_url"] is None
    assert Api(finance_key).get(f"{REPORTS}/{body['id']}/errors").status_code == 404


def test_a_file_without_a_required_column_is_refused_with_400(finance_key):
    header = [cell for cell in ZH if cell != "工号"]
    data = csv_bytes([header, row("1")[:2] + row("1")[3:]])

    response = send_file(finance_key, data)

    assert response.status_code == 400
    assert response.json()["code"] == "missing_column"
    assert not ExpenseReport.objects.exists()


def test_lines_that_are_not_objects_are_refused(finance_key):
    response = send_lines(finance_key, ["nope"])  # type: ignore[list-item]

    assert response.status_code == 400
    assert not ExpenseReport.objects.exists()


@pytest.mark.parametrize("send", [send_file, send_lines])
def test_the_idempotency_key_is_required(finance_key, send):
    body = csv_bytes([ZH, row("1")]) if send is send_file else [as_json(row("1"))]

    response = send(finance_key, body, idem=None)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_missing"
    assert not ExpenseReport.objects.exists()


def test_the_same_key_and_file_replay_the_same_report(finance_key, matching):
    matching.finish = True
    data = csv_bytes([ZH, row("1")])
    first = send_file(finance_key, data, idem="same")

    again = send_file(finance_key, data, idem="same")

    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert first.get("Idempotent-Replayed") is None
    assert ExpenseReport.objects.count() == 1
    assert len(matching.calls) == 1


def test_the_same_key_with_another_body_is_refused_with_422(finance_key, matching):
    send_lines(finance_key, [as_json(row("1"))], idem="same")

    response = send_lines(finance_key, [as_json(row("1", amount="1.00"))], idem="same")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert ExpenseReport.objects.count() == 1


def test_a_large_report_answers_202_and_its_progress_is_polled(finance_key, settings, matching):
    settings.EXPENSE_REPORT_INLINE_MAX_BYTES = 0

    response = send_file(finance_key, csv_bytes([ZH, row("1")]))

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "checking"
    assert body["result"] is None
    polled = Api(finance_key).get(body["poll_url"]).json()
    assert polled["progress"] == {
        "status": "checking",
        "status_label": "Checking",
        "stage": "checking",
        "rows_done": 0,
        "rows_total": 0,
        "percent": 0,
        "finished": False,
        "error_count": 0,
        "failure": "",
    }


def test_the_list_and_the_counts_per_state_once_matched(finance_key, matching, company):
    matching.finish = True
    send_file(finance_key, csv_bytes([ZH, row("1")]), idem="a")
    send_file(finance_key, csv_bytes([ZH, row("1", amount="x")]), idem="b")
    ExpenseReport.objects.filter(status="matched").update(
        result={"line_count": 1, "states": {"matched": 3, "amount_differs": 1}}
    )

    response = Api(finance_key).get(REPORTS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    invalid, matched = body["results"]
    assert invalid["status"] == "invalid"
    assert invalid["states"] == []
    assert matched["states"] == [
        {"state": "matched", "label": "Matched", "count": 3},
        {"state": "amount_differs", "label": "Amount differs", "count": 1},
    ]
    only = Api(finance_key).get(REPORTS, status="invalid").json()
    assert [r["id"] for r in only["results"]] == [invalid["id"]]
    detail = Api(finance_key).get(matched["poll_url"]).json()
    assert detail["result"]["states"] == matched["states"]
    assert Api(finance_key).get(REPORTS, status="nope").status_code == 400


def test_the_lines_by_state_paginated(finance_key, matching):
    body = send_file(finance_key, csv_bytes([ZH, *[row(str(n)) for n in range(1, 6)]])).json()
    lines = list(ExpenseLine.objects.order_by("row_number"))
    ExpenseLine.objects.filter(pk=lines[1].pk).update(
        state=LineState.AMOUNT_DIFFERS, matched_amount="100.00", difference="28.00"
    )

    everything = Api(finance_key).get(body["lines_url"], page_size=2).json()
    differs = Api(finance_key).get(body["lines_url"], state="amount_differs").json()

    assert everything["count"] == 5
    assert [line["row"] for line in everything["results"]] == [2, 3]
    assert everything["next"]
    (line,) = differs["results"]
    assert line["row"] == 3
    assert (line["state"], line["matched_amount"], line["difference"]) == (
        "amount_differs",
        "100.00",
        "28.00",
    )
    assert line["period"] == "2026-11"
    assert line["amount"] == "128.00"
    assert Api(finance_key).get(body["lines_url"], state="nope").status_code == 400


def test_another_companys_report_is_a_404(finance_key, matching):
    body = send_file(finance_key, csv_bytes([ZH, row("1", amount="x")])).json()
    other = factories.company()
    other_key = key_for(other, factories.member(other, Role.OWNER))

    for path in (body["poll_url"], body["lines_url"], body["errors_url"]):
        assert Api(other_key).get(path).status_code == 404
    assert Api(other_key).get(REPORTS).json()["count"] == 0


def test_a_read_only_key_reads_but_cannot_send(company, finance_key, matching):
    send_file(finance_key, csv_bytes([ZH, row("1")]))
    reader = key_for(
        company, factories.member(company, Role.FINANCE), scopes=[ApiKey.Scope.EXPENSES_READ]
    )

    assert Api(reader).get(REPORTS).json()["count"] == 1
    response = send_file(reader, csv_bytes([ZH, row("2")]), idem="other")
    assert response.status_code == 403
    assert ExpenseReport.objects.count() == 1


def test_a_viewers_key_reads_but_cannot_send(company, finance_key, matching):
    viewer_key = key_for(company, factories.member(company, Role.VIEWER))

    assert Api(viewer_key).get(REPORTS).status_code == 200
    assert send_file(viewer_key, csv_bytes([ZH, row("1")])).status_code == 403
    assert not ExpenseReport.objects.exists()


def test_a_purchasers_key_cannot_read_expense_reports(company):
    purchaser_key = key_for(company, factories.member(company, Role.PURCHASER))

    assert Api(purchaser_key).get(REPORTS).status_code == 403


def test_a_report_still_matching_answers_202_with_its_check_and_no_states(finance_key, matching):
    response = send_file(finance_key, csv_bytes([ZH, row("1"), row("2", amount="56.50")]))

    assert response.status_code == 202
    body = response.json()
    assert body["result"]["line_count"] == 2
    assert body["result"]["total"] == "184.50"
    assert body["result"]["months"] == ["2026-11"]
    assert body["progress"]["stage"] == "matching"

    assert body["states"] == []
    assert body["progress"]["status_label"] == "Matching"
    assert ReportStatus(body["status"]) == ReportStatus.MATCHING
