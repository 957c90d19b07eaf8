"""The pluggable SMS backend: settings choose it, tests collect messages, the console hides them."""

from __future__ import annotations

import pytest

from portal import sms


class RecordingBackend(sms.BaseSmsBackend):
    sent: list[tuple[str, str]] = []

    def send(self, to: str, message: str) -> None:
        self.sent.append((to, message))


@pytest.fixture(autouse=True)
def empty_outbox() -> None:
    sms.outbox.clear()
    RecordingBackend.sent.clear()


def test_tests_collect_messages_in_the_outbox() -> None:
    sms.send_sms("13800138000", "Hello")
    assert sms.outbox == [sms.SmsMessage(to="13800138000", body="Hello")]


def test_the_backend_comes_from_the_settings(settings) -> None:
    settings.SMS_BACKEND = "tests.portal.test_sms.RecordingBackend"
    sms.send_sms("13800138000", "Hi")
    assert RecordingBackend.sent == [("13800138000", "Hi")]
    assert sms.outbox == []


def test_a_class_that_is_not_a_backend_is_refused(settings) -> None:
    settings.SMS_BACKEND = "portal.sms.SmsMessage"
    with pytest.raises(TypeError, match="not a BaseSmsBackend"):
        sms.send_sms("13800138000", "Hi")


def test_the_console_backend_logs_the_masked_number_and_length_only(settings, caplog) -> None:
    settings.SMS_BACKEND = "portal.sms.ConsoleSmsBackend"
    caplog.set_level("INFO", logger="portal.sms")
    secret = "https://portal.example/r/very-secret-token/"
    sms.send_sms("13800138000", f"Your card: {secret}")
    assert "138****8000" in caplog.text
    assert f"({len('Your card: ' + secret)} characters)" in caplog.text
    assert "13800138000" not in caplog.text
    assert "secret" not in caplog.text
    assert sms.outbox == []


def test_mobile_numbers_are_masked() -> None:
    assert sms.mask_mobile("13800138000") == "138****8000"
    assert sms.mask_mobile("123") == "***"


def test_refused_numbers_are_a_kind_of_sms_error() -> None:
    assert issubclass(sms.SmsRecipientRefused, sms.SmsError)
