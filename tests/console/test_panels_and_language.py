"""Panels other apps register on the console render in order; the console reads in Chinese."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpRequest
from django.test import Client
from django.utils import translation
from pytest_django.fixtures import Settings

from console import panels
from console.queues import work_queues
from portal.models import Company
from tests import factories
from tests.console.helpers import INDEX, operator_client

TEMPLATES = Path(__file__).parent / "templates"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def no_panels(settings: Settings) -> Iterator[None]:
    """Registrations made by the test are taken back; its panel template is found in
    tests/console/templates/."""
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], TEMPLATES]},
        *settings.TEMPLATES[1:],
    ]
    before = panels.registered_panels()
    yield
    for name in panels.registered_panels():
        if name not in before:
            panels.unregister_panel(name)


def test_registered_panels_render_in_order_and_one_with_nothing_to_show_is_left_out(
    client: Client, no_panels: None
) -> None:
    def deposit(request: HttpRequest) -> panels.PanelResult:
        return "console_test_panel.html", {"heading": "Deposit monitor", "user": request.user}

    def quiet(request: HttpRequest) -> panels.PanelResult:
        return None

    def due(request: HttpRequest) -> panels.PanelResult:
        return "console_test_panel.html", {"heading": "Report due in 5 days"}

    panels.register_panel("deposit", deposit)
    panels.register_panel("quiet", quiet)
    panels.register_panel("due", due)
    admin, ops = operator_client(client)
    page = admin.get(INDEX).content.decode()
    assert 'data-testid="console-panel-quiet"' not in page
    deposit_at = page.index('data-testid="console-panel-deposit"')
    due_at = page.index('data-testid="console-panel-due"')
    # After the queues, before the key figures, in the order registered.
    assert page.index('data-testid="console-queues"') < deposit_at < due_at
    assert due_at < page.index('data-testid="console-figures"')
    assert f"<h2>Deposit monitor</h2><p>{ops.email}</p>" in page
    assert "<h2>Report due in 5 days</h2>" in page


def test_a_failing_panel_is_reported_and_the_console_stays(
    client: Client, no_panels: None, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: HttpRequest) -> panels.PanelResult:
        raise RuntimeError("the deposit figures are not there")

    def fine(request: HttpRequest) -> panels.PanelResult:
        return "console_test_panel.html", {"heading": "Report due in 5 days"}

    panels.register_panel("broken", broken)
    panels.register_panel("fine", fine)
    admin, _ops = operator_client(client)
    response = admin.get(INDEX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The panel “broken” could not be shown; the error is in the log." in page
    assert "<h2>Report due in 5 days</h2>" in page
    assert 'data-testid="console-figures"' in page
    assert "console panel broken failed" in caplog.text


def _zh(client: Client) -> str:
    client.cookies["django_language"] = "zh-hans"
    response = client.get(INDEX, headers={"accept-language": "zh-hans"})
    assert response.status_code == 200
    return response.content.decode()


def test_the_console_in_chinese(client: Client) -> None:
    admin, _ops = operator_client(client)
    factories.company(status=Company.Status.PENDING)
    page = _zh(admin)
    assert '<html lang="zh-hans"' in page
    # Strings the catalogue already has: the figures' headings and the aging buckets...
    for chinese in ("月份", "预付卡负债", "已过期卡余额负债", "已发卡", "未逾期", "合计"):
        assert chinese in page, chinese
    # ...the age of the oldest item, in Chinese...
    assert "0\xa0分钟" in page
    # ...and every string of the console as the catalogue translates it.
    with translation.override("zh-hans"):
        expected: list[Any] = [queue.title for queue in work_queues()]
        expected += [translation.gettext("Key figures"), translation.gettext("Work queues")]
    for text in expected:
        assert str(text) in page, text
