"""The expense report samples of docs/expense-reports.md (docs/samples/) are what a newcomer
uploads first, into the demo data of ``manage.py seed_demo``: each passes the real check as the
demo company's finance member with no row error, and every claim line of it is backed by spend
of the demo data (the card of that employee, the amount, the day, and the merchant's order
reference where the line gives one), so that matching has something to find. The samples on disk
are what docs/samples/make_expense_samples.py writes."""

# mypy: disable-error-code="index, union-attr"

from __future__ import annotations

import codecs
import importlib.util
from decimal import Decimal
from io import StringIO
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command

from cards.models import CardTransaction
from expenses.models import ExpenseLine, ReportStatus
from portal.management.commands.seed_demo import DEMO_COMPANY, DEMO_DOMAIN, DEMO_SPEND
from portal.models import Company, User
from tests.expenses.intake_helpers import matching, media, receive

__all__ = ["matching", "media"]

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing", "media")]

SAMPLES = Path(settings.BASE_DIR) / "docs" / "samples"
EXPENSE_SAMPLES = ["expense-report-utf8.csv", "expense-report-gbk.csv", "expense-report.xlsx"]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_expense_samples", SAMPLES / "make_expense_samples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo(settings, tmp_path) -> tuple[Company, User]:
    """The demo data as a newcomer has it: ``manage.py seed_demo``, nothing else."""
    settings.VAR_DIR = tmp_path  # its credentials file
    call_command("seed_demo", stdout=StringIO())
    company = Company.objects.get(credit_code=DEMO_COMPANY[1])
    return company, User.objects.get(email=f"finance@{DEMO_DOMAIN}")


def test_every_expense_sample_is_checked_here() -> None:
    on_disk = sorted(path.name for path in SAMPLES.glob("expense-report*"))
    assert on_disk == sorted(EXPENSE_SAMPLES)


def test_the_samples_on_disk_are_what_the_generator_writes() -> None:
    written = generator().samples()

    assert sorted(written) == sorted(EXPENSE_SAMPLES)
    for name, content in written.items():
        assert (SAMPLES / name).read_bytes() == content, (
            f"docs/samples/{name} is stale: run python docs/samples/make_expense_samples.py"
        )


def test_the_gbk_sample_is_really_gbk() -> None:
    data = (SAMPLES / "expense-report-gbk.csv").read_bytes()

    assert not data.startswith(codecs.BOM_UTF8)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    data.decode("gbk")


def test_the_demo_spend_is_made_once(demo) -> None:
    call_command("seed_demo", stdout=StringIO())

    demo_spend = CardTransaction.objects.filter(idempotency_key__startswith="demo-spend:")
    assert demo_spend.count() == len(DEMO_SPEND)


@pytest.mark.parametrize("name", EXPENSE_SAMPLES)
def test_each_sample_passes_the_check_and_each_line_has_its_spend_in_the_demo_data(
    demo, matching, name
) -> None:
    company, finance = demo

    report = receive(company, finance, (SAMPLES / name).read_bytes(), name)

    assert report.result["errors"] == [], report.result["errors"]
    assert report.status == ReportStatus.MATCHING, report.failure
    assert matching.calls == [report.pk]
    assert report.result["line_count"] == generator().LINE_COUNT
    assert Decimal(report.result["total"]) == Decimal(generator().TOTAL)
    assert report.result["note_count"] == 2  # the blank row and the total row
    for line in ExpenseLine.objects.filter(report=report):
        spend = CardTransaction.objects.filter(
            kind=CardTransaction.Kind.REDEEM,
            card__batch__order__company=company,
            card__batch__line__employee_id=line.employee_id,
            amount=-line.amount,
        )
        if line.merchant_reference:
            spend = spend.filter(merchant_reference=line.merchant_reference)
        days = {tx.created_at.astimezone(SHANGHAI).date() for tx in spend}
        assert line.expense_date in days, (line.row_number, line.employee_id, line.amount)
