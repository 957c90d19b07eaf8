"""No full card code anywhere but in its ciphertext: after a real worker generated a few thousand
cards, every code is decrypted here and looked for in the broker and result backend (Redis, also
sampled while the batch ran), the worker's log output, this process's logs and output, the
emails sent, and every row of every table of the database.

A code is looked for as typed (25 symbols, or grouped with hyphens or spaces, any case) and as
the hexadecimal of either form's ASCII (how a bytea column dumps). Kombu's message bodies are
base64: they are decoded before the search.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from django.db import connection
from pytest_django.fixtures import Settings

from cards import codes
from cards.models import Card, OrderStatus
from tests.cards.test_issuance_worker import WORKER_ENV, order_funded, order_status, wait_for

if TYPE_CHECKING:
    from conftest import Worker

_PLAIN_RUN = re.compile(r"[0-9A-Z*~$=]{25,}")
_HEX_RUN = re.compile(r"[0-9a-f]{50,}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


class CodeScanner:
    """Finds any of a set of codes in text. Runs of symbols (or hex digits) are cut into windows
    of a code's length and each window is looked up in a set: linear in the text."""

    def __init__(self, formatted_codes: Iterable[str]) -> None:
        formatted = set(formatted_codes)
        self.plain = {code.replace("-", "") for code in formatted}
        self.hex_plain = {code.encode().hex() for code in self.plain}
        self.hex_formatted = {code.encode().hex() for code in formatted}
        # Window widths from the codes themselves, so a change of grouping is still caught.
        self.hex_widths = [
            (width, wanted)
            for wanted in (self.hex_plain, self.hex_formatted)
            for width in sorted({len(hex_form) for hex_form in wanted})
        ]

    @staticmethod
    def _windows(run: str, width: int) -> Iterator[str]:
        for start in range(len(run) - width + 1):
            yield run[start : start + width]

    def find(self, text: str) -> list[str]:
        """The codes found, each as its last 4 symbols (a failure message shows no code)."""
        found: set[str] = set()
        squeezed = re.sub(r"[\s\-]", "", text.upper())
        for match in _PLAIN_RUN.finditer(squeezed):
            found |= self.plain.intersection(self._windows(match.group(), 25))
        for match in _HEX_RUN.finditer(text.lower()):
            for width, wanted in self.hex_widths:
                for hex_form in wanted.intersection(self._windows(match.group(), width)):
                    found.add(bytes.fromhex(hex_form).decode().replace("-", ""))
        return sorted(code[-5:-1] for code in found)


def _decoded(text: str) -> Iterator[str]:
    """The text, and what base64 inside it decodes to (kombu's message bodies)."""
    yield text
    for match in _BASE64.finditer(text):
        try:
            yield base64.b64decode(match.group(), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue


def _json_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def redis_texts(client: redis.Redis, prefix: str) -> dict[str, str]:
    """Every key under the run's prefix and everything stored in it, as text."""
    texts = {}
    keys = set(client.scan_iter(match=f"{prefix}*", count=1000))
    keys |= set(client.scan_iter(match=f"*{prefix}*", count=1000))
    for key in keys:
        kind = _text(client.type(key))
        parts: list[Any]
        if kind == "string":
            parts = [client.get(key)]
        elif kind == "list":
            parts = list(client.lrange(key, 0, -1))
        elif kind == "hash":
            parts = [item for pair in client.hgetall(key).items() for item in pair]
        elif kind == "set":
            parts = list(client.smembers(key))
        elif kind == "zset":
            parts = list(client.zrange(key, 0, -1))
        else:
            parts = []
        blobs = [_text(key)]
        for part in parts:
            text = _text(part or b"")
            blobs.append(text)
            with contextlib.suppress(ValueError):
                blobs.extend(_json_strings(json.loads(text)))
        texts[f"redis {_text(key)} ({kind})"] = "\n".join(
            decoded for blob in blobs for decoded in _decoded(blob)
        )
    return texts


class RedisSampler:
    """Copies the run's Redis keyspace every 50 ms while the batch is generated: queued and
    unacknowledged messages are gone once the work is done."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self.samples: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, text in redis_texts(self.client, self.prefix).items():
                self.samples.setdefault(name, "")
                if text not in self.samples[name]:
                    self.samples[name] += "\n" + text
            self._stop.wait(0.05)

    def __enter__(self) -> RedisSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def database_texts() -> dict[str, str]:
    """Every row of every table in the test database, as ``COPY ... TO STDOUT`` writes it
    (bytea as hexadecimal)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        )
        tables = [row[0] for row in cursor.fetchall()]
        texts = {}
        for table in tables:
            chunks = []
            with cursor.cursor.copy(f'COPY (SELECT * FROM "{table}") TO STDOUT') as copy:
                for data in copy:
                    chunks.append(bytes(data))
            texts[f"table {table}"] = b"".join(chunks).decode("utf-8", "replace")
    return texts


def test_the_scanner_finds_a_code_in_any_of_its_forms() -> None:
    plain = "ABCDEFGHJKMNPQRSTVWXYZ012"
    code = codes.format_code(plain)
    scanner = CodeScanner([code])
    assert scanner.find(f"log: code={code}.") == ["YZ01"]
    assert scanner.find(f"x{plain.lower()}x") == ["YZ01"]
    assert scanner.find(code.replace("-", " ")) == ["YZ01"]
    assert scanner.find("\\x00" + plain.encode().hex() + "ff") == ["YZ01"]
    assert scanner.find(code.encode().hex()) == ["YZ01"]
    body = base64.b64encode(json.dumps([[1], {"code": code}]).encode()).decode()
    assert scanner.find("\n".join(_decoded(json.dumps({"body": body})))) == ["YZ01"]
    assert scanner.find(plain[:-1] + "3") == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("english_and_fast_hashing")
def test_no_generated_code_is_in_the_broker_results_logs_mail_or_database(
    settings: Settings,
    celery_worker_factory: Callable[..., Worker],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    mail_dir: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    quantities = [2_000, 1_500]
    worker = celery_worker_factory(
        env={**WORKER_ENV, "LOG_LEVEL": "DEBUG"},
        loglevel="DEBUG",
        queues="default,codes",
        name="scanned",
    )
    client = redis.Redis.from_url(settings.REDIS_URL)
    with RedisSampler(client, settings.REDIS_KEY_PREFIX) as sampler:
        order = order_funded(settings, quantities)
        wait_for(lambda: order_status(order) == OrderStatus.FULFILLED, "the order to be fulfilled")
    worker.stop()  # its log is complete

    cards = list(
        Card.objects.filter(batch__order=order).values_list("serial", "key_id", "ciphertext")
    )
    assert len(cards) == sum(quantities)
    formatted = [
        codes.reveal(serial=f"{serial:016d}", key_id=key_id, ciphertext=bytes(ciphertext))
        for serial, key_id, ciphertext in cards
    ]
    scanner = CodeScanner(formatted)
    assert len(scanner.plain) == len(cards)

    places: dict[str, str] = {}
    places.update(sampler.samples)
    places.update(redis_texts(client, settings.REDIS_KEY_PREFIX))
    places["worker log"] = worker.log_text()
    places["test log"] = caplog.text
    out, err = capfd.readouterr()
    places["test output"] = out + err
    for path in sorted(mail_dir.rglob("*")):
        if path.is_file():
            places[f"mail {path.name}"] = path.read_text(errors="replace")
    places.update(database_texts())

    # The scan saw the work: chunk tasks in the broker and the worker's log, cards in the table.
    redis_text = "\n".join(t for name, t in places.items() if name.startswith("redis"))
    assert "cards.tasks.issuance_generate_chunk" in redis_text
    # Chunk results are not kept (CELERY_TASK_IGNORE_RESULT): nothing of a chunk is stored beyond
    # its message.
    assert places["worker log"].count("issuance_generate_chunk") >= 4
    assert places["table cards_card"].count("\n") == len(cards)

    leaks = {name: found for name, text in places.items() if (found := scanner.find(text))}
    assert leaks == {}
