"""The portal's expense report pages: finance and owners upload, viewers read; a report's page
shows its errors (with the error file) or, once matched, its lines by state; a large one's
progress is polled; another company's report is a 404."""

# mypy: disable-error-code="union-attr, index, arg-type"

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from expenses.models import ExpenseLine, ExpenseReport, LineState, ReportStatus
from portal.models import Role
from tests import factories
from tests.conftest import sign_in
from tests.expenses.intake_helpers import ZH, csv_bytes, matching, media, receive, row

__all__ = ["matching", "media"]

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("english_and_fast_hashing", "media"),
]

LIST = "/expenses/"
NEW = "/expenses/reports/new/"


@pytest.fixture
def company():
    return factories.company()


@pytest.fixture
def finance(company):
    return factories.member(company, Role.FINANCE)


def client_for(user) -> Client:
    client = Client(headers={"accept-language": "en"})
    sign_in(client, user, second_factor=True)
    return client


def detail(report: ExpenseReport) -> str:
    return reverse("expenses:report_detail", kwargs={"public_id": report.public_id})


def upload(client: Client, data: bytes, name: str = "report.csv", **extra: str):
    return client.post(NEW, {"file": SimpleUploadedFile(name, data), **extra})


def test_finance_uploads_a_report_and_lands_on_its_page(finance, matching):
    client = client_for(finance)

    response = upload(client, csv_bytes([ZH, row("1"), row("2")]))

    report = ExpenseReport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail(report)
    assert report.status == ReportStatus.MATCHING
    page = client.get(detail(report))
    assert page.status_code == 200
    assert b'data-testid="report-lines"' in page.content
    assert page.content.count(b'data-testid="line-row"') == 2


def test_a_report_with_errors_lists_them_and_offers_the_error_file(finance, matching):
    client = client_for(finance)
    upload(client, csv_bytes([ZH, row("1"), row("2", amount="12,5x")]))
    report = ExpenseReport.objects.get()

    page = client.get(detail(report)).content.decode()

    assert report.status == ReportStatus.INVALID
    assert 'data-testid="report-error-row"' in page
    assert "<code>12,5x</code>" in page
    assert "is not an amount; write digits such as 128 or 99.50." in page
    assert 'data-testid="report-lines"' not in page
    error_file = client.get(
        reverse("expenses:report_errors", kwargs={"public_id": report.public_id, "fmt": "csv"})
    )
    assert error_file.status_code == 200
    rows = list(csv.reader(io.StringIO(error_file.content.decode("utf-8-sig"))))
    assert rows[2][-1] == "金额: is not an amount; write digits such as 128 or 99.50."
    xlsx = client.get(
        reverse("expenses:report_errors", kwargs={"public_id": report.public_id, "fmt": "xlsx"})
    )
    assert xlsx.content.startswith(b"PK")


def test_the_fixed_file_replaces_the_report_with_errors(finance, matching):
    client = client_for(finance)
    upload(client, csv_bytes([ZH, row("1", amount="x")]))
    first = ExpenseReport.objects.get()

    response = upload(client, csv_bytes([ZH, row("1")]), replaces=str(first.public_id))

    first.refresh_from_db()
    assert first.status == ReportStatus.DISCARDED
    second = ExpenseReport.objects.exclude(pk=first.pk).get()
    assert response["Location"] == detail(second)
    assert second.status == ReportStatus.MATCHING


def test_a_file_the_reader_refuses_is_an_error_on_the_form(finance):
    client = client_for(finance)

    response = upload(client, csv_bytes([["报销单号", "金额"], ["BX-1", "1"]]))

    assert response.status_code == 200
    assert b"The header has no column for" in response.content
    assert not ExpenseReport.objects.exists()


def test_the_list_shows_status_and_counts_per_state(finance, matching):
    client = client_for(finance)
    matching.finish = True
    upload(client, csv_bytes([ZH, row("1")]))
    ExpenseReport.objects.update(result={"states": {"matched": 4, "no_spend": 2}})

    page = client.get(LIST).content.decode()

    assert page.count('data-testid="report-row"') == 1
    assert "Matched: 4" in page
    assert "No spend found: 2" in page
    assert 'data-testid="report-new"' in page


def test_the_lines_are_filtered_by_state_and_paginated(finance, matching):
    client = client_for(finance)
    upload(client, csv_bytes([ZH, *[row(str(n)) for n in range(1, 61)]]))
    report = ExpenseReport.objects.get()
    ExpenseReport.objects.update(
        status=ReportStatus.MATCHED, result={"states": {"matched": 59, "amount_differs": 1}}
    )
    ExpenseLine.objects.filter(row_number=10).update(
        state=LineState.AMOUNT_DIFFERS, matched_amount="100.00", difference="28.00"
    )

    everything = client.get(detail(report)).content.decode()
    differs = client.get(detail(report), {"state": "amount_differs"}).content.decode()
    second = client.get(detail(report), {"page": 2}).content.decode()

    assert everything.count('data-testid="line-row"') == 50
    assert second.count('data-testid="line-row"') == 10
    assert differs.count('data-testid="line-row"') == 1
    assert 'data-state="amount_differs"' in differs
    assert "¥28.00" in differs
    assert "Amount differs (1)" in everything


def test_a_viewer_reads_but_cannot_upload_or_discard(company, finance, matching):
    report = receive(company, finance, csv_bytes([ZH, row("1", amount="x")]))
    viewer = client_for(factories.member(company, Role.VIEWER))

    assert viewer.get(LIST).status_code == 200
    assert b'data-testid="report-new"' not in viewer.get(LIST).content
    page = viewer.get(detail(report))
    assert page.status_code == 200
    assert b'data-testid="report-discard"' not in page.content
    assert viewer.get(NEW).status_code == 403
    assert upload(viewer, csv_bytes([ZH, row("1")])).status_code == 403
    discard = reverse("expenses:report_discard", kwargs={"public_id": report.public_id})
    assert viewer.post(discard).status_code == 403
    assert ExpenseReport.objects.get().status == ReportStatus.INVALID


def test_a_purchaser_sees_no_expense_reports(company):
    purchaser = client_for(factories.member(company, Role.PURCHASER))

    assert purchaser.get(LIST).status_code == 403
    assert b'data-nav="expense_reports"' not in purchaser.get("/").content


@pytest.mark.parametrize("role", [Role.OWNER, Role.FINANCE, Role.VIEWER])
def test_the_menu_links_the_reports_for_who_may_read_them(company, role):
    client = client_for(factories.member(company, role))

    assert b'data-nav="expense_reports"' in client.get(LIST).content


def test_another_companys_report_is_a_404(company, finance, matching):
    report = receive(company, finance, csv_bytes([ZH, row("1", amount="x")]))
    other = factories.company()
    stranger = client_for(factories.member(other, Role.OWNER))
    key = {"public_id": report.public_id}

    assert stranger.get(detail(report)).status_code == 404
    assert stranger.get(reverse("expenses:report_progress", kwargs=key)).status_code == 404
    errors = reverse("expenses:report_errors", kwargs={**key, "fmt": "csv"})
    assert stranger.get(errors).status_code == 404
    assert stranger.post(reverse("expenses:report_discard", kwargs=key)).status_code == 404
    assert stranger.get(NEW, {"replaces": str(report.public_id)}).status_code == 404
    assert b'data-testid="report-row"' not in stranger.get(LIST).content
    assert ExpenseReport.objects.get().status == ReportStatus.INVALID


def test_a_large_report_shows_its_progress_polled_by_htmx(finance, settings, matching):
    settings.EXPENSE_REPORT_INLINE_MAX_BYTES = 0
    client = client_for(finance)
    upload(client, csv_bytes([ZH, row("1")]))
    report = ExpenseReport.objects.get()
    progress_url = reverse("expenses:report_progress", kwargs={"public_id": report.public_id})

    page = client.get(detail(report)).content.decode()
    polled = client.get(progress_url, headers={"HX-Request": "true"})

    assert report.status == ReportStatus.CHECKING
    assert f'hx-get="{progress_url}"' in page
    assert polled.status_code == 200
    assert "HX-Refresh" not in polled
    assert b'data-stage="checking"' in polled.content
    ExpenseReport.objects.update(status=ReportStatus.MATCHING, rows_total=10, rows_done=4)
    matching_now = client.get(progress_url, headers={"HX-Request": "true"})
    assert b'data-stage="matching"' in matching_now.content
    assert b'data-field="percent">40<' in matching_now.content
    ExpenseReport.objects.update(status=ReportStatus.MATCHED, result={"states": {}})
    done = client.get(progress_url, headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true"
    assert b"hx-get" not in done.content


def test_discarding_a_report_from_its_page(finance, matching):
    client = client_for(finance)
    upload(client, csv_bytes([ZH, row("1", amount="x")]))
    report = ExpenseReport.objects.get()

    response = client.post(
        reverse("expenses:report_discard", kwargs={"public_id": report.public_id})
    )

    assert response.status_code == 302
    assert response["Location"] == LIST
    report.refresh_from_db()
    assert report.status == ReportStatus.DISCARDED


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_templates_download_in_both_languages(finance, language, fmt):
    client = client_for(finance)

    response = client.get(
        reverse("expenses:report_template", kwargs={"language": language, "fmt": fmt})
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith(f'-{language}.{fmt}"')
    assert client.get(f"/expenses/reports/template/fr.{fmt}").status_code == 404


def test_the_pages_read_in_chinese(finance, matching):
    client = client_for(finance)
    client.cookies["django_language"] = "zh-hans"
    upload(client, csv_bytes([ZH, row("1", amount="x")]))
    report = ExpenseReport.objects.get()

    page = client.get(detail(report), headers={"accept-language": "zh-hans"})

    assert page.status_code == 200
    assert 'lang="zh-hans"' in page.content.decode() or "zh" in page["Content-Language"]
