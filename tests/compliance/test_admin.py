"""The operators' "Compliance reports" page: choose a kind and a period, preview, file, correct,
download (audited), in English and Chinese; deposit records entered in the admin, never edited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import translation

from compliance.canonical import sha256_hex
from compliance.kinds import REPORT_KINDS
from compliance.models import DepositRecord, FiledReport
from compliance.periods import period_label, previous_quarter
from portal import days
from portal.models import AuditEvent, User
from tests import factories
from tests.conftest import sign_in

from .report_helpers import bearer_product, buyer, issued, line

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

COMPUTE = "admin:compliance_filedreport_compute"


def operator_client(user: User, *codenames: str) -> Client:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="compliance", codename__in=codenames)
    )
    client = Client()
    sign_in(client, user, second_factor=True)
    return client


@pytest.fixture
def alice() -> User:
    issued(buyer("Acme"), [line(bearer_product(), "100", 2)])
    return factories.operator("alice@issuer.example")


def test_every_registered_kind_can_be_chosen_and_previewed(alice) -> None:
    client = operator_client(alice, "view_filedreport")
    page = client.get(reverse(COMPUTE))
    assert page.status_code == 200
    for kind in REPORT_KINDS.values():
        assert str(kind.title) in page.content.decode()
    today = days.today()
    preview = client.get(reverse(COMPUTE), {"kind": "ledger_proofs", "period": f"{today:%Y-%m}"})
    assert preview.status_code == 200
    assert "Trial balance" in preview.content.decode()
    assert "File this report" not in preview.content.decode()  # no permission to file


def test_a_bad_period_is_refused_naming_the_value(alice) -> None:
    client = operator_client(alice, "view_filedreport")
    page = client.get(reverse(COMPUTE), {"kind": "deposit", "period": "2026-07"})
    assert "2026-07 is not a quarter" in page.content.decode()
    page = client.get(reverse(COMPUTE), {"kind": "deposit", "period": "last year"})
    assert "last year is neither a quarter" in page.content.decode()


def test_an_operator_files_corrects_and_downloads_a_report(alice) -> None:
    client = operator_client(
        alice, "view_filedreport", "add_filedreport", "add_depositrecord", "view_depositrecord"
    )
    quarter = period_label(previous_quarter(days.today()))
    chosen = {"kind": "deposit", "period": quarter}
    preview = client.get(reverse(COMPUTE), chosen)
    assert "File this report" in preview.content.decode()
    done = client.post(reverse(COMPUTE), chosen)
    assert done.status_code == 302
    filed = FiledReport.objects.get()
    assert done["Location"] == reverse("admin:compliance_filedreport_change", args=[filed.pk])
    assert client.get(done["Location"]).status_code == 200

    # Record the quarter-end escrow balance in the admin, then file the correction.
    period = previous_quarter(days.today())
    added = client.post(
        reverse("admin:compliance_depositrecord_add"),
        {
            "as_of": period.end.isoformat(),
            "escrow_balance": "80.00",
            "guarantee_amount": "0",
            "bank": "ICBC",
            "note": "quarter end",
        },
    )
    assert added.status_code == 302
    deposit = DepositRecord.objects.get()
    assert deposit.recorded_by == alice
    assert deposit.escrow_balance == Decimal("80.00")
    assert AuditEvent.objects.filter(action="compliance.deposit_recorded").count() == 1
    change = client.get(reverse("admin:compliance_depositrecord_change", args=[deposit.pk]))
    assert b'name="escrow_balance"' not in change.content  # read-only

    refused = client.post(reverse(COMPUTE), chosen)
    assert "give the reason for the correction" in refused.content.decode()
    corrected = client.post(reverse(COMPUTE), {**chosen, "reason": "Escrow balance recorded"})
    assert corrected.status_code == 302
    second = FiledReport.objects.get(version=2)
    assert second.correction_reason == "Escrow balance recorded"

    listing = client.get(reverse("admin:compliance_filedreport_changelist"))
    download = reverse("admin:compliance_filedreport_download", args=[second.pk, "xlsx"])
    assert download in listing.content.decode()
    response = client.get(download)
    assert response.status_code == 200
    assert sha256_hex(response.content) == second.xlsx_sha256
    assert response["Content-Disposition"].startswith("attachment")
    assert (
        AuditEvent.objects.filter(
            action="compliance.report_downloaded", object_id=str(second.public_id)
        ).count()
        == 1
    )


def test_the_page_reads_in_chinese_and_files_in_chinese(alice) -> None:
    client = operator_client(alice, "view_filedreport", "add_filedreport")
    chosen = {"kind": "deposit", "period": period_label(previous_quarter(days.today()))}
    page = client.get(reverse(COMPUTE), chosen, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200
    assert '<html lang="zh-hans"' in page.content.decode()
    client.post(reverse(COMPUTE), chosen, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert FiledReport.objects.get().language == "zh-hans"


def test_a_filed_report_is_named_by_its_title_period_and_version_in_both_languages(
    alice,
) -> None:
    client = operator_client(alice, "view_filedreport", "add_filedreport")
    label = period_label(previous_quarter(days.today()))
    client.post(reverse(COMPUTE), {"kind": "deposit", "period": label})
    filed = FiledReport.objects.get()
    assert str(filed) == f"Deposit (escrow) report {label}, version 1"
    change = reverse("admin:compliance_filedreport_change", args=[filed.pk])
    page = client.get(change, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    with translation.override("zh-hans"):
        title = str(REPORT_KINDS["deposit"].title)
    assert title != "Deposit (escrow) report"
    assert f"<title>{title} {label}" in page
    assert "deposit 20" not in page  # not the kind's key and raw dates


def test_nobody_edits_or_deletes_a_filed_report_in_the_admin(alice) -> None:
    user = User.objects.create_superuser("root@issuer.example", "Correct-Horse-42")
    client = operator_client(user)
    client.post(
        reverse(COMPUTE),
        {"kind": "deposit", "period": period_label(previous_quarter(days.today()))},
    )
    filed = FiledReport.objects.get()
    delete = client.post(
        reverse("admin:compliance_filedreport_delete", args=[filed.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    change = client.get(reverse("admin:compliance_filedreport_change", args=[filed.pk]))
    assert b'type="submit"' not in change.content or b'name="_save"' not in change.content
    assert FiledReport.objects.filter(pk=filed.pk).exists()


def test_choosing_only_a_kind_offers_its_finished_periods(alice) -> None:
    client = operator_client(alice, "view_filedreport")
    page = client.get(reverse(COMPUTE), {"kind": "deposit"}).content.decode()
    last = period_label(previous_quarter(days.today()))
    assert f"period={last}" in page
    assert "Choose the period of the report." not in page
