"""The issuance engine: batches and chunks, generating and committing cards, finalising.

- ``batches_create`` (inside the transaction that moves an order to fulfilment) turns each order
  line into a batch with a gapless block of serials and splits it into chunks.
- ``chunk_generate`` (one Celery task per chunk, on the ``codes`` queue) generates the chunk's
  cards and loads them with one binary ``COPY``, streamed block by block, in one transaction
  that also marks the chunk done. The chunk row is locked for the whole transaction: a second
  delivery of the message waits, then finds the chunk done and does nothing. A worker that dies
  rolls its transaction back (no card of the chunk survives it); the sweeper sends the chunk
  again. A worker holds one block of cards at a time, so its memory does not grow with the chunk
  or the batch.
- ``batch_finalise`` marks a batch ready once every chunk is done and the card count matches,
  posts one journal entry for the batch, and marks the order ready when its last batch is.
  First, in a short transaction of its own, ``batch_canaries_create`` makes the batch's canary
  cards when ``ISSUANCE_CANARIES_PER_BATCH`` asks for them (docs/codes.md).
No plaintext code leaves ``cards.codes``: tasks carry ids, errors carry no row data.
"""

from __future__ import annotations

import calendar
import datetime
import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.money import ZERO
from billing.services.ledger import ledger_post_card_issuance
from cards import codes
from cards.audit import CardsAction
from cards.card_copy import COPY_SIGNATURE, COPY_SQL, COPY_TRAILER, copy_row_format
from cards.models import (
    Batch,
    BatchStatus,
    Card,
    CardStatus,
    Chunk,
    ChunkStatus,
    Order,
    OrderStatus,
)
from portal import crypto
from portal.models import User
from portal.services.audit import audit_record
from webhooks.events import EventType
from webhooks.services import emit

logger = logging.getLogger(__name__)

# Cards generated and written to the COPY stream at a time: PostgreSQL loads one block while the
# worker generates the next, and a worker holds one block's rows, whatever the chunk size.
COPY_BLOCK = 2_000
# Canary cards per batch at most, whatever ISSUANCE_CANARIES_PER_BATCH says: a trip wire needs a
# few, and a mistyped setting must not stop batches from being finalised.
MAX_CANARIES_PER_BATCH = 100


def add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    """The same day ``months`` later (the last day of the month when that day does not exist)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def serials_allocate(count: int) -> int:
    """Reserve ``count`` consecutive serial numbers; returns the first. The upsert holds the
    counter row until commit, so two batches never share a number."""
    table = "cards_serialcounter"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, last) VALUES ('card', %s) "  # noqa: S608
            f"ON CONFLICT (name) DO UPDATE SET last = {table}.last + EXCLUDED.last "
            "RETURNING last",
            [count],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]) - count + 1


def batches_create(order: Order) -> list[Batch]:
    """One batch per order line, with its serial block and its chunks. Call inside the
    transaction that moves the order to fulfilment; enqueue with ``chunks_enqueue`` on commit."""
    chunk_size = max(1, settings.ISSUANCE_CHUNK_SIZE)
    now = timezone.now()
    batches = []
    for line in order.lines.select_related("product").order_by("position"):
        months = line.product.validity_months
        batch = Batch.objects.create(
            order=order,
            line=line,
            company_id=order.company_id,
            is_test=order.company.is_sandbox,
            product=line.product,
            face_value=line.face_value,
            quantity=line.quantity,
            first_serial=serials_allocate(line.quantity),
            chunk_size=chunk_size,
            chunk_count=-(-line.quantity // chunk_size),
            expires_at=add_months(now, months) if months else None,
        )
        Chunk.objects.bulk_create(
            Chunk(
                batch=batch,
                index=index,
                offset=index * chunk_size,
                count=min(chunk_size, line.quantity - index * chunk_size),
                enqueued_at=now,
            )
            for index in range(batch.chunk_count)
        )
        batches.append(batch)
    return batches


def chunks_enqueue(chunk_ids: Iterable[int]) -> None:
    from cards.tasks import issuance_generate_chunk

    for chunk_id in chunk_ids:
        issuance_generate_chunk.delay(chunk_id)


def _copy_cards(batch: Batch, first_serial_number: int, count: int) -> None:
    """Generate ``count`` cards and load them, in blocks of ``COPY_BLOCK``. On PostgreSQL, one
    ``COPY ... (FORMAT BINARY)`` whose tuples are built from a per-chunk template: per card,
    one ``%`` on bytes (psycopg's ``write_row`` would adapt 11 Python values per card).
    A sandbox's batch (``is_test``) is loaded by the ORM: its codes are longer and its cards
    marked, and nobody waits on its speed."""
    now = timezone.now()
    key_id = crypto.current_key_id()
    test = batch.is_test
    blocks = (
        codes.generate_block(
            first_serial_number + offset, min(COPY_BLOCK, count - offset), test=test
        )
        for offset in range(0, count, COPY_BLOCK)
    )
    if connection.vendor != "postgresql" or test:
        face = batch.face_value
        for block in blocks:
            Card.objects.bulk_create(
                Card(
                    serial=serial,
                    batch=batch,
                    digest=digest,
                    key_id=block.key_id,
                    ciphertext=ciphertext,
                    last4=last4.decode(),
                    face_value=face,
                    balance=face,
                    status=CardStatus.ACTIVE,
                    expires_at=batch.expires_at,
                    is_test=test,
                    created_at=now,
                )
                for serial, digest, ciphertext, last4 in zip(
                    block.serials, block.digests, block.ciphertexts, block.last4s, strict=True
                )
            )
        return
    with connection.cursor() as cursor:
        raw = cursor.cursor
        row = copy_row_format(raw, batch, key_id, now)
        with raw.copy(COPY_SQL) as copy:
            copy.write(COPY_SIGNATURE)
            for block in blocks:
                if block.key_id != key_id:  # the row template carries the key id
                    raise RuntimeError("the card-code key changed during a chunk")
                columns = zip(
                    block.serials, block.digests, block.ciphertexts, block.last4s, strict=True
                )
                copy.write(
                    b"".join([row % (s.to_bytes(8), d, c, last4) for s, d, c, last4 in columns])
                )
            copy.write(COPY_TRAILER)


def _safe_error(exc: BaseException) -> str:
    """What an operator needs, without row data: the error class, SQLSTATE and first line."""
    sqlstate = getattr(getattr(exc, "__cause__", None), "sqlstate", None) or getattr(
        exc, "sqlstate", None
    )
    first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
    if "COPY" in first_line or "Key (" in first_line:
        first_line = ""
    return " ".join(
        filter(None, [type(exc).__name__, f"[{sqlstate}]" if sqlstate else "", first_line])
    )


def chunk_attempt_start(*, chunk_id: int) -> Chunk | None:
    """Count an attempt (outside the work's transaction, so a crash still counts it)."""
    Chunk.objects.filter(pk=chunk_id, status=ChunkStatus.PENDING).update(attempts=F("attempts") + 1)
    return Chunk.objects.filter(pk=chunk_id).first()


def chunk_generate(*, chunk_id: int) -> str:
    """Generate and commit one chunk's cards; a no-op when the chunk is already done."""
    with transaction.atomic(durable=True):
        chunk = (
            Chunk.objects.select_for_update(of=("self",))
            .select_related("batch")
            .filter(pk=chunk_id)
            .first()
        )
        if chunk is None:
            return "missing"
        if chunk.status != ChunkStatus.PENDING:
            return chunk.status
        batch = chunk.batch
        if batch.status in (BatchStatus.FAILED, BatchStatus.READY):
            return f"batch-{batch.status}"
        _copy_cards(batch, batch.first_serial + chunk.offset, chunk.count)
        Chunk.objects.filter(pk=chunk.pk).update(
            status=ChunkStatus.DONE, finished_at=timezone.now(), last_error=""
        )
        Batch.objects.filter(pk=batch.pk).update(
            generated=F("generated") + chunk.count,
            status=BatchStatus.GENERATING,
            started_at=Coalesce(F("started_at"), Now()),
        )
        batch_id = batch.pk
        transaction.on_commit(lambda: _finalise_if_complete(batch_id))
    return "done"


def _finalise_if_complete(batch_id: int) -> None:
    if not Chunk.objects.filter(batch_id=batch_id).exclude(status=ChunkStatus.DONE).exists():
        from cards.tasks import finalise_batch

        finalise_batch.delay(batch_id)


def chunk_record_failure(*, chunk_id: int, error: BaseException, final: bool) -> None:
    """Note why an attempt failed; on the last attempt the chunk and its batch fail."""
    reason = _safe_error(error)
    with transaction.atomic():
        chunk = Chunk.objects.select_for_update().filter(pk=chunk_id).first()
        if chunk is None or chunk.status == ChunkStatus.DONE:
            return
        chunk.last_error = reason
        if final:
            chunk.status = ChunkStatus.FAILED
        chunk.save(update_fields=["last_error", "status"])
        if final:
            batch_fail(
                batch_id=chunk.batch_id,
                reason=_(
                    "Part %(index)s of %(count)s failed after %(attempts)s attempts: %(error)s"
                )
                % {
                    "index": chunk.index + 1,
                    "count": chunk.batch.chunk_count,
                    "attempts": chunk.attempts,
                    "error": reason,
                },
            )
    logger.warning("issuance chunk %s attempt failed: %s", chunk_id, reason)


def batch_fail(*, batch_id: int, reason: str) -> None:
    with transaction.atomic():
        batch = Batch.objects.select_for_update().select_related("order").get(pk=batch_id)
        if batch.status == BatchStatus.READY:
            return
        batch.status = BatchStatus.FAILED
        batch.failure_reason = reason
        batch.save(update_fields=["status", "failure_reason"])
        audit_record(
            action=CardsAction.BATCH_FAILED,
            company=batch.company,
            obj=batch.order,
            actor_label="system",
            changes={"line": batch.line.position, "reason": reason},
        )


def batch_retry(*, batch: Batch, actor: User, ip: str | None = None) -> int:
    """An operator sends a failed batch's unfinished chunks again. Returns how many."""
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != BatchStatus.FAILED:
            return 0
        chunk_ids = list(
            locked.chunks.exclude(status=ChunkStatus.DONE).values_list("pk", flat=True)
        )
        Chunk.objects.filter(pk__in=chunk_ids).update(
            status=ChunkStatus.PENDING, attempts=0, enqueued_at=Now()
        )
        locked.status = BatchStatus.GENERATING if locked.generated else BatchStatus.PENDING
        locked.failure_reason = ""
        locked.save(update_fields=["status", "failure_reason"])
        audit_record(
            action=CardsAction.BATCH_RETRIED,
            actor=actor,
            company=locked.company,
            obj=locked.order,
            ip=ip,
            changes={"line": locked.line.position, "chunks": len(chunk_ids)},
        )
        transaction.on_commit(lambda: chunks_enqueue(chunk_ids))
    return len(chunk_ids)


def batch_canaries_create(*, batch_id: int) -> int:
    """Make the batch's canary cards once all its cards are generated; returns how many this
    call made (0 when the setting is 0, the batch is not complete, or they were made before).

    Canaries are cards like any other (a secret code from ``codes.generate_block``, a serial
    from the counter, taken after the batch's own block) with ``is_canary`` set, a face value
    and balance of 0.00 (nothing owed: no ledger entry, and the card checks hold) and no expiry.
    No buyer ever gets or sees one; a look-up of one at the merchant API freezes the key
    (``cards.services.spend.lookup``). Their count is not among the batch's ``quantity`` or
    ``generated``.

    Once: the claim is a conditional update of the batch's ``canaries`` from 0, in the same
    transaction as the cards. A second finaliser waits on the batch row, then finds it set and
    makes none; a rolled-back attempt leaves it 0 for the next. The transaction is short (two
    rows locked: the batch and the serial counter, in that order) and runs before the
    finaliser's own."""
    wanted = min(settings.ISSUANCE_CANARIES_PER_BATCH, MAX_CANARIES_PER_BATCH)
    if wanted <= 0:
        return 0
    with transaction.atomic():
        # A sandbox's batch gets none: its codes are refused by merchants anyway.
        claimed = Batch.objects.filter(
            pk=batch_id,
            is_test=False,
            canaries=0,
            status=BatchStatus.GENERATING,
            generated=F("quantity"),
        ).update(canaries=wanted)
        if not claimed:
            return 0
        block = codes.generate_block(serials_allocate(wanted), wanted)
        now = timezone.now()
        Card.objects.bulk_create(
            Card(
                serial=serial,
                batch_id=batch_id,
                digest=digest,
                key_id=block.key_id,
                ciphertext=ciphertext,
                last4=last4.decode(),
                face_value=ZERO,
                balance=ZERO,
                status=CardStatus.ACTIVE,
                expires_at=None,
                is_canary=True,
                created_at=now,
            )
            for serial, digest, ciphertext, last4 in zip(
                block.serials, block.digests, block.ciphertexts, block.last4s, strict=True
            )
        )
        # No company: the buyer's audit trail and order history never mention canaries.
        audit_record(
            action=CardsAction.BATCH_CANARIES_CREATED,
            obj=Batch.objects.only("public_id").get(pk=batch_id),
            actor_label="system",
            changes={"canaries": wanted},
        )
    return wanted


def batch_finalise(*, batch_id: int) -> str:
    """Every chunk done → the batch is ready, its issuance is posted, and the order is ready
    when this was its last batch. Safe to call any number of times."""
    from cards.services.workflow import order_mark_fulfilled

    batch_canaries_create(batch_id=batch_id)
    with transaction.atomic():
        batch = (
            Batch.objects.select_for_update(of=("self",))
            .select_related("order", "company")
            .filter(pk=batch_id)
            .first()
        )
        if batch is None:
            return "missing"
        if batch.status == BatchStatus.READY:
            return "already-ready"
        if batch.chunks.exclude(status=ChunkStatus.DONE).exists():
            return "not-complete"
        issued = Card.objects.filter(batch=batch, is_canary=False).count()
        if issued != batch.quantity:
            batch_fail(
                batch_id=batch.pk,
                reason=_("%(issued)s cards exist for %(ordered)s ordered; call the engineers.")
                % {"issued": issued, "ordered": batch.quantity},
            )
            return "count-mismatch"
        batch.status = BatchStatus.READY
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "finished_at"])
        if not batch.is_test:  # a sandbox's cards are owed nothing: no entry
            ledger_post_card_issuance(
                company=batch.company,
                reference=f"{batch.order.number}-{batch.line.position}",
                face_total=batch.face_total,
                idempotency_key=f"card_issuance:{batch.public_id}",
            )
        emit(
            batch.company_id,
            EventType.CARDS_READY,
            batch,
            {
                "batch": str(batch.public_id),
                "order": batch.order.number,
                "line": batch.line.position,
                "cards": batch.quantity,
                "face_value": str(batch.face_value),
                "first_serial": batch.first_serial,
            },
        )
        order = Order.objects.select_for_update(of=("self",)).get(pk=batch.order_id)
        pending = order.batches.exclude(status=BatchStatus.READY).exclude(pk=batch.pk).exists()
        if order.status == OrderStatus.FULFILLING and not pending:
            order_mark_fulfilled(order=order)
    return "ready"


def issuance_sweep(*, stale_seconds: int | None = None) -> list[int]:
    """Send again the chunks nobody is working on that waited too long (their worker died or
    their message was lost), and finalise batches whose finaliser message was lost. Chunks a
    live transaction holds are skipped (SKIP LOCKED): their worker is alive."""
    stale = stale_seconds if stale_seconds is not None else settings.ISSUANCE_STALE_SECONDS
    cutoff = timezone.now() - datetime.timedelta(seconds=stale)
    max_attempts = settings.ISSUANCE_MAX_ATTEMPTS
    with transaction.atomic():
        stuck = list(
            Chunk.objects.select_for_update(skip_locked=True)
            .filter(status=ChunkStatus.PENDING, enqueued_at__lt=cutoff)
            .exclude(batch__status=BatchStatus.FAILED)
            .order_by("pk")[:1000]
        )
        resend = [c.pk for c in stuck if c.attempts < max_attempts]
        for chunk in stuck:
            if chunk.attempts >= max_attempts:
                chunk_record_failure(
                    chunk_id=chunk.pk, error=TimeoutError("worker lost repeatedly"), final=True
                )
        Chunk.objects.filter(pk__in=resend).update(enqueued_at=Now())
        transaction.on_commit(lambda: chunks_enqueue(resend))
    for batch_id in Batch.objects.filter(
        status=BatchStatus.GENERATING, generated=F("quantity")
    ).values_list("pk", flat=True)[:1000]:
        _finalise_if_complete(batch_id)
    return resend


def batch_progress(batch: Batch) -> dict[str, object]:
    """Cards generated, rate and time left, for the live progress bar."""
    rate = 0.0
    eta = None
    if batch.started_at and batch.generated:
        end = batch.finished_at or timezone.now()
        elapsed = max((end - batch.started_at).total_seconds(), 0.001)
        rate = batch.generated / elapsed
        if batch.status != BatchStatus.READY and rate > 0:
            eta = round((batch.quantity - batch.generated) / rate)
    return {
        "id": str(batch.public_id),
        "line": batch.line.position,
        "status": batch.status,
        "generated": batch.generated,
        "quantity": batch.quantity,
        "percent": round(100 * batch.generated / batch.quantity, 1) if batch.quantity else 100,
        "rate_per_s": round(rate),
        "eta_seconds": eta,
        "failure_reason": batch.failure_reason,
    }
