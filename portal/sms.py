"""Text messages through a pluggable backend, chosen by ``settings.SMS_BACKEND``.

``send_sms(to, message)`` is the one entry point. Backends:

- ``ConsoleSmsBackend`` (development): logs the masked number and the message's length, never
  the message itself, because our messages carry one-time links, which are secrets.
- ``LocmemSmsBackend`` (tests): keeps each message in the module-level ``outbox`` list, as
  ``django.core.mail.outbox`` does for email.

Adding a real provider: subclass ``BaseSmsBackend`` in a module of its own, implement
``send(to, message)`` with the provider's HTTP API (credentials from the environment, a timeout on
every call), and set ``SMS_BACKEND`` to its dotted path. Raise ``SmsRecipientRefused`` when the
provider says the number can never receive (invalid, unreachable, opted out): the caller records
it as a bounce and does not retry. Raise ``SmsError`` (or let ``OSError`` through) for anything
worth retrying: timeouts, rate limits, a provider outage. Never log the message text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

from portal import crypto

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """The message was not sent this time; trying again later may work."""


class SmsRecipientRefused(SmsError):
    """The provider refuses this number for good; trying again will not help."""


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str


def mask_mobile(number: str) -> str:
    """13800138000 -> 138****8000."""
    return crypto.mask(number, keep_start=3, keep_end=4)


class BaseSmsBackend:
    def send(self, to: str, message: str) -> None:
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Development: notes that a message went out, without its text (it holds a secret link)."""

    def send(self, to: str, message: str) -> None:
        logger.info(
            "SMS to %s (%d characters) not sent: console backend", mask_mobile(to), len(message)
        )


# Messages "sent" by LocmemSmsBackend; tests read and clear it.
outbox: list[SmsMessage] = []


class LocmemSmsBackend(BaseSmsBackend):
    """Tests: messages land in ``portal.sms.outbox``."""

    def send(self, to: str, message: str) -> None:
        outbox.append(SmsMessage(to=to, body=message))


def get_backend() -> BaseSmsBackend:
    backend_class = import_string(settings.SMS_BACKEND)
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseSmsBackend)):
        raise TypeError(f"SMS_BACKEND {settings.SMS_BACKEND!r} is not a BaseSmsBackend")
    return backend_class()


def send_sms(to: str, message: str) -> None:
    """Send one text message. Raises SmsRecipientRefused (permanent) or SmsError / OSError."""
    get_backend().send(to, message)
