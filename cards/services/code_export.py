"""Delivery by file: an order's card codes in an encrypted archive, for owners and finance.

Who and when. Only a member whose role may (``portal.policy``: owners and finance) downloads
codes, only for an order of their company whose cards are ready (fulfilled or
delivered) and whose delivery method is "file", and at most ``CODE_DOWNLOAD_LIMIT`` times per
order. ``code_export_start`` locks the order row, counts the earlier downloads after the lock,
records the ``CodeDownload`` and an audit row (counts only, never a code or the password).

The archive. A ZIP with AES-256 encryption (WinZip AE-2: 7-Zip, WinRAR and Bandizip open it; the
tools built into Windows and macOS may not) holding ``<order>-codes.csv`` (UTF-8 with BOM) and
``<order>-codes.xlsx``. ``code_archive_write`` reads the cards ordered by serial in chunks of 2,000
(a server-side cursor on PostgreSQL), decrypts each code once, and writes the CSV member and the
XLSX rows as it goes; the archive lands in a file the caller gives (a temporary file that the
response then streams), so memory stays flat for a million cards. Cells a buyer typed
(recipient, employee ID, cost center) cannot start a formula (``portal.exports.safe_cell``).

The password, portal. ``code_export_start`` draws 20 symbols from ``secrets`` (about 115 bits)
and returns it once; it is never stored, hashed, logged or put in a URL. The page that shows it
also holds a ticket in a hidden form field, which the "Download" button posts back (a POST body,
never a URL): the ticket is signed with ``django.core.signing`` (salted, expires after
``TICKET_MAX_AGE``) and carries the download's public id and the password *encrypted* with
AES-GCM under a key derived from ``CARD_CODE_KEYS`` for its own purpose, bound to the download,
the user and the order. So the server can build the archive in that second request without
keeping the password anywhere (signing alone would only protect the ticket from changes, not
hide the password), and a copy of the ticket that leaks alone, say from a form log, reveals
nothing without the server's key. A ticket works once, by the same user, within the time:
``code_archive_claim`` locks the download row and records the fetch as an audit row, and a second
claim of the same download is refused. The archive is built before the claim, so a failure
while building leaves the ticket usable. The download counts against the limit when the
password is shown, whether or not the archive is then fetched.

The password, API. The client chooses the archive password and sends it in the JSON body of
``POST /api/v1/orders/{number}/codes``; the response is the archive itself. The server never
generates a password to return, so none travels in a response header or a second request.
"""

from __future__ import annotations

import base64
import datetime
import re
import secrets
import shutil
import tempfile
from typing import IO, Any

import pyzipper
from cryptography.exceptions import InvalidTag
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from cards import codes
from cards.models import Card, CodeDownload, Order
from cards.services.code_allowance import (
    code_download_allowance,
    code_download_exhausted_message,
    code_download_refusal,
)
from portal import crypto, policy
from portal.exports import CsvWriter, XlsxWriter
from portal.models import AuditEvent, Company, User, register_audit_actions
from portal.policy import Action
from portal.services.audit import audit_record
from webhooks.events import EventType
from webhooks.services import emit


class CodeExportAction(models.TextChoices):
    CODES_DOWNLOADED = "order.codes_downloaded", gettext_lazy("Downloaded the card codes")
    CODES_ARCHIVE_FETCHED = (
        "order.codes_archive_fetched",
        gettext_lazy("Fetched the archive of card codes"),
    )


register_audit_actions(CodeExportAction)

PASSWORD_LENGTH = 20
# No 0/O/o, 1/I/i/l: read off a screen and typed into an unzip tool without doubt.
PASSWORD_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz"
# What a client may choose through the API: printable ASCII (unzip tools disagree on how to
# encode anything else), no spaces.
CLIENT_PASSWORD_RE = re.compile(r"[\x21-\x7e]{12,128}")
CARD_CHUNK = 2_000
TICKET_SALT = "cards.code-archive-ticket"
TICKET_MAX_AGE = 10 * 60
_TICKET_PURPOSE = "code-archive-password"
# A CSV row is under 200 bytes; past this many cards the member needs ZIP64 from the start.
_ZIP64_FROM_CARDS = 5_000_000


def archive_password_new() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _i in range(PASSWORD_LENGTH))


def _require_download_role(company: Company, user: User) -> None:
    policy.require(company, user, Action.CODES_DOWNLOAD)


@sensitive_variables("password")
@transaction.atomic(durable=True)
def code_export_start(
    *,
    order: Order,
    user: User,
    ip: str | None = None,
    via_api: bool = False,
    password: str | None = None,
    seen_downloads: int | None = None,
) -> tuple[CodeDownload, str]:
    """Record one download of the order's codes and return it with the archive password.

    ``password`` is the client's own (API); without it a new one is drawn (portal) and must be
    shown once. ``seen_downloads`` is the number of downloads the person saw when they asked:
    if someone downloaded meanwhile (or the form was sent twice) the request is refused rather
    than spending another download.
    """
    locked = (
        Order.objects.select_for_update(of=("self",)).select_related("company").get(pk=order.pk)
    )
    _require_download_role(locked.company, user)
    refusal = code_download_refusal(locked)
    if refusal:
        raise ValidationError(refusal, code="not_downloadable")
    allowance = code_download_allowance(locked)
    earlier = allowance.downloads
    if allowance.exhausted:
        raise ValidationError(
            code_download_exhausted_message(locked, allowance), code="download_limit"
        )
    if seen_downloads is not None and seen_downloads != len(earlier):
        raise ValidationError(
            _(
                "The codes of order %(number)s were downloaded since you opened this page. "
                "Reload it to see by whom, then try again if you still need them."
            )
            % {"number": locked.number},
            code="stale",
        )
    if password is None:
        password = archive_password_new()
    elif not CLIENT_PASSWORD_RE.fullmatch(password):
        raise ValidationError(
            {
                "password": _(
                    "Choose an archive password of 12 to 128 characters: letters, digits and "
                    "punctuation, without spaces."
                )
            },
            code="invalid",
        )
    card_count = Card.objects.filter(batch__order=locked, is_canary=False).count()
    download = CodeDownload.objects.create(
        order=locked, user=user, via_api=via_api, card_count=card_count, ip=ip
    )
    audit_record(
        action=CodeExportAction.CODES_DOWNLOADED,
        actor=user,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={
            "download": str(download.public_id),
            "cards": card_count,
            "via_api": via_api,
            "downloads": allowance.used + 1,
            "limit": allowance.limit,
        },
    )
    return download, password


# --- The ticket the password page posts back -----------------------------------------------------


def _ticket_binding(download: CodeDownload) -> bytes:
    return f"{download.public_id}:{download.user_id}:{download.order_id}".encode()


def ticket_expired_message() -> str:
    return _(
        "This download has expired or was already fetched. Start a new download from the "
        "order's codes page."
    )


@sensitive_variables("password")
def archive_ticket_issue(*, download: CodeDownload, password: str) -> str:
    key_id, blob = crypto.encrypt(
        password, purpose=_TICKET_PURPOSE, associated=_ticket_binding(download)
    )
    return signing.dumps(
        {"d": str(download.public_id), "k": key_id, "p": base64.b64encode(blob).decode()},
        salt=TICKET_SALT,
    )


@sensitive_variables("password")
def archive_ticket_open(ticket: str, *, order: Order, user: User) -> tuple[CodeDownload, str]:
    """The download and password a ticket carries, if it is genuine, recent, and issued to
    this user for this order; otherwise a ValidationError saying what to do."""
    try:
        data = signing.loads(ticket, salt=TICKET_SALT, max_age=TICKET_MAX_AGE)
        download = CodeDownload.objects.select_related("order").get(
            public_id=data["d"], order=order, user=user
        )
        blob = base64.b64decode(data["p"], validate=True)
        password = crypto.decrypt(
            data["k"], blob, purpose=_TICKET_PURPOSE, associated=_ticket_binding(download)
        )
    except (
        signing.BadSignature,
        CodeDownload.DoesNotExist,
        InvalidTag,
        KeyError,
        TypeError,
        ValueError,
        ValidationError,
    ) as exc:
        raise ValidationError(ticket_expired_message(), code="ticket") from exc
    return download, password


def code_archive_fetched(download: CodeDownload) -> bool:
    return AuditEvent.objects.filter(
        action=CodeExportAction.CODES_ARCHIVE_FETCHED,
        object_type=CodeDownload._meta.label_lower,
        object_id=str(download.public_id),
    ).exists()


@transaction.atomic(durable=True)
def code_archive_claim(*, download: CodeDownload, user: User, ip: str | None = None) -> None:
    """Mark the download's archive as fetched; a second fetch of the same download is refused.
    The user's role must still allow downloading codes."""
    locked = (
        CodeDownload.objects.select_for_update()
        .select_related("order__company")
        .get(pk=download.pk)
    )
    _require_download_role(locked.order.company, user)
    if code_archive_fetched(locked):
        raise ValidationError(ticket_expired_message(), code="fetched")
    audit_record(
        action=CodeExportAction.CODES_ARCHIVE_FETCHED,
        actor=user,
        company=locked.order.company,
        obj=locked,
        ip=ip,
        changes={"order": locked.order.number, "cards": locked.card_count},
    )
    emit(
        locked.order.company_id,
        EventType.CODE_ARCHIVE_DOWNLOADED,
        locked,
        {
            "download": str(locked.public_id),
            "order": locked.order.number,
            "cards": locked.card_count,
            "by": user.email,
            "via_api": locked.via_api,
        },
    )


# --- The archive ---------------------------------------------------------------------------------


def archive_filename(order: Order) -> str:
    return f"{order.number}-codes.zip"


def _header() -> list[str]:
    return [
        _("Serial"),
        _("Code"),
        _("Face value (CNY)"),
        _("Expires"),
        _("Recipient"),
        _("Employee ID"),
        _("Cost center"),
        _("Order line"),
    ]


# Column widths in the workbook, in characters.
_WIDTHS = (18, 34, 16, 12, 20, 14, 14, 10)


def _card_rows(order: Order) -> Any:
    """(serial, code, face value, expiry date, recipient, employee id, cost center, line) per
    card, by serial, read in chunks. Never a canary card's (docs/codes.md)."""
    rows = (
        Card.objects.filter(batch__order=order, is_canary=False)
        .order_by("serial")
        .values_list(
            "serial",
            "key_id",
            "ciphertext",
            "face_value",
            "expires_at",
            "batch__line__recipient_name",
            "batch__line__employee_id",
            "batch__line__cost_center",
            "batch__line__position",
        )
        .iterator(chunk_size=CARD_CHUNK)
    )
    reveal = codes.reveal
    zone = timezone.get_current_timezone()
    last_expiry: datetime.datetime | None = None
    expiry_date: datetime.date | None = None
    for serial, key_id, ciphertext, face_value, expires_at, name, employee, center, line in rows:
        if expires_at != last_expiry:  # the cards of a batch share their expiry
            last_expiry = expires_at
            expiry_date = expires_at.astimezone(zone).date() if expires_at else None
        serial_text = f"{serial:016d}"
        yield (
            serial_text,
            reveal(serial=serial_text, key_id=key_id, ciphertext=bytes(ciphertext)),
            face_value,
            expiry_date,
            name,
            employee,
            center,
            line,
        )


def _member_info(archive: Any, name: str, *, compress_type: int, size: int | None = None) -> Any:
    now = timezone.localtime()
    info = archive.zipinfo_cls(name, date_time=now.timetuple()[:6])
    info.compress_type = compress_type
    info.external_attr = 0o600 << 16
    if size is not None:
        info.file_size = size
    return info


# Every variable of this call and of the calls under it (rows, codes, the password) is kept out
# of error reports.
@sensitive_variables()
def code_archive_write(*, download: CodeDownload, password: str, fileobj: IO[bytes]) -> int:
    """Write the encrypted archive of the download's order to ``fileobj`` (left open, at its
    end). Returns the number of cards written."""
    order = download.order
    stem = f"{order.number}-codes"
    written = 0
    with (
        tempfile.TemporaryFile() as xlsx_file,
        pyzipper.AESZipFile(
            fileobj, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        ) as archive,
    ):
        archive.setpassword(password.encode())
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        header = _header()
        xlsx = XlsxWriter(xlsx_file, _("Codes"), header, widths=_WIDTHS)
        try:
            member = archive.open(
                _member_info(archive, f"{stem}.csv", compress_type=pyzipper.ZIP_DEFLATED),
                "w",
                force_zip64=download.card_count > _ZIP64_FROM_CARDS,
            )
            with member:
                csv_writer = CsvWriter(member)
                csv_writer.writerow(header)
                for row in _card_rows(order):
                    csv_writer.writerow(row)
                    xlsx.writerow(row)
                    written += 1
                csv_writer.close()
        except BaseException:
            xlsx.abandon()
            raise
        xlsx.close()
        size = xlsx_file.tell()
        xlsx_file.seek(0)
        # An XLSX file is already compressed: stored as is, only encrypted.
        info = _member_info(archive, f"{stem}.xlsx", compress_type=pyzipper.ZIP_STORED, size=size)
        with archive.open(info, "w") as member:
            shutil.copyfileobj(xlsx_file, member, 1 << 20)
    if written != download.card_count:
        # Cards of a ready order never change; a mismatch means the archive is not what was
        # counted and audited, so it is not handed out.
        raise RuntimeError(
            f"code archive of download {download.public_id}: {written} cards written, "
            f"{download.card_count} counted"
        )
    return written


@sensitive_variables("password")
def code_archive_file(*, download: CodeDownload, password: str) -> IO[bytes]:
    """The archive in a temporary file, rewound, for a response to stream (closing it, as the
    response does, deletes it)."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it)
    try:
        code_archive_write(download=download, password=password, fileobj=handle)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle
