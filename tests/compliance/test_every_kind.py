"""Every registered report kind files through the one framework: computed twice the same, its
XLSX and PDF written with the content's SHA-256, immutable, in both languages."""

from __future__ import annotations

import pytest
from django.utils import translation

from compliance.canonical import sha256_hex
from compliance.content import Period, ReportKind
from compliance.kinds import REPORT_KINDS
from compliance.periods import period_choices, period_parse, previous_quarter
from compliance.services.filing import filed_report_reproduce, report_compute, report_file
from portal import days
from tests import factories

from .report_helpers import after, pdf_text, xlsx_rows

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def last_period(kind: ReportKind) -> Period:
    choices = period_choices(kind)
    if choices:
        return period_parse(kind, period=choices[0])
    return previous_quarter(days.today())


@pytest.mark.parametrize("key", sorted(REPORT_KINDS))
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_each_kind_files_reproducibly_with_its_sha256_in_both_files(key, language) -> None:
    kind = REPORT_KINDS[key]
    period = last_period(kind)
    operator = factories.operator()
    with translation.override(language):
        filed = report_file(kind=key, period=period, operator=operator, now=after(period))
    assert filed.content_json == report_compute(kind=key, period=period).json
    _computed, xlsx = filed_report_reproduce(filed)
    assert sha256_hex(xlsx) == filed.xlsx_sha256
    assert xlsx_rows(xlsx)[3][1] == filed.content_sha256
    assert filed.content_sha256 in pdf_text(bytes(filed.pdf))
    assert filed.language == language
