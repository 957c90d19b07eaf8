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
from billing.services.statements import StatementAction, last_month, statement_build
from billing.tasks.statements import statement_build as build_task
from portal.models import AuditEvent, OutboxMessage, Role
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


# --- Issue 14: last month offered first, failures explained and retried, checksums ------------


def failed_october(company, monkeypatch, error: Exception | None = None) -> Statement:
    """October's statement, failed while its files were written (``error``: a full disk)."""

    def broken(content, path):
        raise error or OSError("disk full at /var/lib/portal/statements/secret-path")

    monkeypatch.setattr("billing.services.statements.files._write_xlsx", broken)
    statement = october(company)
    monkeypatch.undo()
    assert statement.status == Statement.Status.FAILED
    return statement


def at_utc(*args: int):
    """Stops the clock at an instant given in UTC (the portal's days are Shanghai days)."""
    return datetime.datetime(*args, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("instant", "start", "end"),
    [
        # 2026-11-01 00:30 in Shanghai, still October 31st in UTC: October has ended.
        (at_utc(2026, 10, 31, 16, 30), "2026-10-01", "2026-10-31"),
        # 2026-10-31 23:59 in Shanghai: October is not over, September is last month.
        (at_utc(2026, 10, 31, 15, 59), "2026-09-01", "2026-09-30"),
        # January: last month is December of the year before.
        (at_utc(2026, 1, 15, 4, 0), "2025-12-01", "2025-12-31"),
    ],
    ids=["just-after-shanghai-midnight", "just-before-shanghai-midnight", "january"],
)
def test_the_request_form_offers_last_month_in_shanghai_days(
    client, monkeypatch, instant, start, end
) -> None:
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    sign_in(client, finance, second_factor=True)
    monkeypatch.setattr("django.utils.timezone.now", lambda: instant)

    html = client.get(LIST).content.decode()

    assert f'name="period_start" value="{start}"' in html
    assert f'name="period_end" value="{end}"' in html


def test_the_offered_period_is_filled_in_on_a_chinese_page_too(client, monkeypatch) -> None:
    """A date input takes only ISO dates: a Chinese date format would leave it empty."""
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    sign_in(client, finance, second_factor=True)
    monkeypatch.setattr("django.utils.timezone.now", lambda: at_utc(2026, 10, 31, 16, 30))

    html = client.get(LIST, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "申请对账单" in html
    assert 'name="period_start" value="2026-10-01"' in html
    assert 'name="period_end" value="2026-10-31"' in html


def test_the_offered_period_can_be_requested_as_it_is_or_changed(client) -> None:
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    sign_in(client, finance, second_factor=True)
    start, end = last_month()

    client.post(reverse("billing:statement_request"), {"period_start": start, "period_end": end})
    client.post(
        reverse("billing:statement_request"),
        {"period_start": "2025-10-05", "period_end": "2025-10-20"},
    )

    periods = set(
        Statement.objects.filter(company=company).values_list("period_start", "period_end")
    )
    assert periods == {(start, end), (datetime.date(2025, 10, 5), datetime.date(2025, 10, 20))}


def test_a_build_failure_is_stored_as_a_reason_code(monkeypatch) -> None:
    storage = failed_october(factories.company(), monkeypatch)
    unexpected = failed_october(factories.company(), monkeypatch, ValueError("bad row 7"))

    assert storage.failure_code == Statement.Failure.STORAGE
    assert unexpected.failure_code == Statement.Failure.UNEXPECTED
    # The exception stays for operators (the admin), never for the page.
    assert "disk full" in storage.failure


def test_a_failed_statement_says_why_in_the_readers_words_and_offers_a_retry(
    client, monkeypatch
) -> None:
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    statement = failed_october(company, monkeypatch)
    sign_in(client, finance, second_factor=True)

    html = client.get(LIST).content.decode()

    assert 'data-testid="statement-failure"' in html
    assert "could not be saved" in html
    assert "disk full" not in html
    assert "OSError" not in html
    assert "/var/lib" not in html
    assert "Traceback" not in html
    retry = reverse("billing:statement_retry", args=[statement.public_id])
    form = html[html.index(f'action="{retry}"') :]
    assert 'name="csrfmiddlewaretoken"' in form[: form.index("</form>")]
    assert 'data-testid="statement-retry"' in form[: form.index("</form>")]


def test_the_reason_is_shown_in_chinese_to_a_chinese_reader(client, monkeypatch) -> None:
    """Fails on the bill14 branch until the lead adds the pending Chinese to the catalogue."""
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    failed_october(company, monkeypatch)
    sign_in(client, finance, second_factor=True)

    html = client.get(LIST, headers={"accept-language": "zh-hans"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = html.content.decode()

    assert "对账单" in text  # the page is in Chinese
    assert "could not be saved" not in text
    assert "对账单文件未能保存" in text


def test_a_retry_queues_exactly_one_build_and_is_audited(client, monkeypatch) -> None:
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    statement = failed_october(company, monkeypatch)
    sign_in(client, finance, second_factor=True)
    url = reverse("billing:statement_retry", args=[statement.public_id])

    first = client.post(url, follow=True)
    second = client.post(url, follow=True)  # a double click

    assert first.status_code == second.status_code == 200
    assert "being prepared again" in first.content.decode()
    assert "already being prepared" in second.content.decode()
    assert queued_builds() == [{"statement_id": statement.pk}]
    statement.refresh_from_db()
    assert statement.status == Statement.Status.BUILDING
    assert (statement.failure, statement.failure_code) == ("", "")
    events = AuditEvent.objects.filter(action=StatementAction.RETRIED)
    assert [(e.actor_id, e.company_id, e.object_id) for e in events] == [
        (finance.pk, company.pk, str(statement.public_id))
    ]

    # The worker builds it: issued, with its files.
    assert build_task(statement_id=statement.pk) == "issued"


def test_a_retry_of_a_statement_that_is_not_failed_is_refused(client) -> None:
    company = factories.company()
    owner = factories.member(company, Role.OWNER)
    issued = october(company)
    sign_in(client, owner, second_factor=True)

    response = client.post(reverse("billing:statement_retry", args=[issued.public_id]), follow=True)

    assert "already issued: there is nothing to retry" in response.content.decode()
    assert queued_builds() == []
    assert not AuditEvent.objects.filter(action=StatementAction.RETRIED).exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.APPROVER, Role.PURCHASER])
def test_only_owners_and_finance_retry(client, monkeypatch, role) -> None:
    company = factories.company()
    person = factories.member(company, role)
    statement = failed_october(company, monkeypatch)
    sign_in(client, person, second_factor=role == Role.APPROVER)

    response = client.post(reverse("billing:statement_retry", args=[statement.public_id]))

    assert response.status_code == 403
    statement.refresh_from_db()
    assert statement.status == Statement.Status.FAILED
    assert queued_builds() == []


def test_an_approver_sees_why_a_statement_failed_but_no_retry_button(client, monkeypatch) -> None:
    company = factories.company()
    approver = factories.member(company, Role.APPROVER)
    failed_october(company, monkeypatch)
    sign_in(client, approver, second_factor=True)

    html = client.get(LIST).content.decode()

    assert "could not be saved" in html
    assert 'data-testid="statement-retry"' not in html


def test_another_companys_statement_cannot_be_retried(client, monkeypatch) -> None:
    finance = factories.member(factories.company(), Role.FINANCE)
    theirs = failed_october(factories.company(), monkeypatch)
    sign_in(client, finance, second_factor=True)

    response = client.post(reverse("billing:statement_retry", args=[theirs.public_id]))

    assert response.status_code == 404
    assert queued_builds() == []


def test_a_retry_must_be_posted(client, monkeypatch) -> None:
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    statement = failed_october(company, monkeypatch)
    sign_in(client, finance, second_factor=True)

    url = reverse("billing:statement_retry", args=[statement.public_id])
    assert client.get(url).status_code == 405
    assert queued_builds() == []


def test_the_admin_retries_through_the_same_service(client, monkeypatch) -> None:
    operator = factories.operator()
    operator.is_superuser = True
    operator.save()
    sign_in(client, operator, second_factor=True)
    company = factories.company()
    failed = failed_october(company, monkeypatch)
    issued = october(factories.company())

    response = client.post(
        reverse("admin:billing_statement_changelist"),
        {"action": "retry", "_selected_action": [failed.pk, issued.pk]},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    html = response.content.decode()
    assert "1 retry queued." in html
    assert "already issued" in html
    assert queued_builds() == [{"statement_id": failed.pk}]
    assert AuditEvent.objects.filter(action=StatementAction.RETRIED).count() == 1


def test_the_list_shows_period_version_and_checksum_as_a_phone_table(client) -> None:
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    statement = october(company)
    sha = statement.files.get(format="pdf").sha256
    sign_in(client, finance, second_factor=True)

    html = client.get(LIST).content.decode()

    assert '<table class="table stack statement-table"' in html
    assert "2025-10-01</span> \u2013 <span" in html
    assert 'data-testid="statement-version">1<' in html
    # Shortened for reading, the full value in a title and on the copy button.
    assert f'title="{sha}"' in html
    assert f'data-copy-value="{sha}"' in html
    assert f">{sha[:12]}…<" in html
    assert html.count(sha) == 3  # the title, the copy value and the PDF link's title
    row = html[
        html.index('data-testid="statement-row"') : html.index(
            "</tr>", html.index('data-testid="statement-row"')
        )
    ]
    cells = row.count("<td")
    assert row.count("data-label=") == cells
    assert 'class="lead" data-label="Status"' in row
    assert 'class="num lead" data-label="Closing balance"' in row
    assert f'<span class="nowrap">{statement.number}</span>' in row


def test_an_empty_list_leads_to_the_request_form(client) -> None:
    company = factories.company()
    finance = factories.member(company, Role.FINANCE)
    approver = factories.member(company, Role.APPROVER)
    sign_in(client, finance, second_factor=True)

    html = client.get(LIST).content.decode()

    empty = html[html.index('data-testid="empty-state"') :]
    empty = empty[: empty.index("</div>")]
    assert 'href="#statement-request"' in empty
    assert 'id="statement-request"' in html
    assert 'data-testid="statement-table"' not in html

    client.logout()
    sign_in(client, approver, second_factor=True)
    html = client.get(LIST).content.decode()
    assert 'data-testid="empty-state"' in html
    assert 'href="#statement-request"' not in html
