"""Confirming a checked order file into a draft order (the lines streamed with COPY, re-checked
and priced at today's price), and discarding one."""

from __future__ import annotations

import io
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.money import ZERO, format_cny
from cards.models import CardProduct, Order, OrderUpload, UploadStatus
from cards.services.orders import (
    LineInput,
    LineRules,
    OrderTotals,
    order_company_check,
    order_insert,
    order_methods_check,
)
from portal import policy
from portal.models import Company, User
from portal.policy import Action
from portal.services.audit import audit_record

from .base import UploadAction
from .check import _duplicate_orders
from .lines_file import _COPY_BLOCK, _line_writer


def _require_upload_actor(upload: OrderUpload, actor: User) -> None:
    if upload.on_behalf and actor.is_active and actor.is_staff:
        return
    policy.require(upload.company, actor, Action.ORDER_UPLOAD)


@transaction.atomic(durable=False)
def upload_confirm(
    *, upload: OrderUpload, actor: User, allow_duplicate: bool = False, ip: str | None = None
) -> Order:
    """Create the draft order of a checked file: all its lines in one transaction, or nothing.

    The lines are those the check kept, checked again against the catalog and prices of this
    moment (product, face value and quantity, the rules of ``LineRules``); a file already
    confirmed for this company is refused (code ``duplicate_upload``, naming the earlier order)
    unless ``allow_duplicate``."""
    locked = (
        OrderUpload.objects.select_for_update(of=("self",))
        .select_related("company", "created_by")
        .get(pk=upload.pk)
    )
    _require_upload_actor(locked, actor)
    if locked.status != UploadStatus.VALID:
        raise ValidationError(
            _("This order file cannot be confirmed: it is %(status)s.")
            % {"status": locked.get_status_display()},
            code="not_valid",
        )
    company = locked.company
    order_company_check(company)
    order_methods_check(locked.payment_method, locked.delivery_method)
    # One confirm at a time per company: two uploads of the same file confirmed at once (two
    # tabs) would otherwise both miss the other's order in the duplicate check below.
    Company.objects.select_for_update().filter(pk=company.pk).first()
    earlier = _duplicate_orders(locked)
    if earlier and not allow_duplicate:
        raise ValidationError(
            _(
                "This file was already uploaded and became order %(orders)s; confirm again only "
                "if you want a second order of the same cards."
            )
            % {"orders": ", ".join(earlier)},
            code="duplicate_upload",
        )
    order = order_insert(
        company=company,
        created_by=locked.created_by,
        actor=actor,
        totals=None,
        write_lines=lambda order: _copy_lines(order, locked),
        payment_method=locked.payment_method,
        delivery_method=locked.delivery_method,
        note=_("From order file %(name)s") % {"name": locked.file_name},
        api_key=locked.created_via_key,
        ip=ip,
        via="upload",
    )
    checked_total = (locked.result or {}).get("total")
    if checked_total is not None and order.total != Decimal(checked_total):
        # The company's price changed since the check: the buyer confirmed another total.
        raise ValidationError(
            _(
                "The price changed since the file was checked: %(then)s then, %(now)s now. "
                "Upload the file again to see today's price before confirming."
            )
            % {"then": format_cny(Decimal(checked_total)), "now": format_cny(order.total)},
            code="catalog_changed",
        )
    locked.status = UploadStatus.CONFIRMED
    locked.order = order
    locked.confirmed_at = timezone.now()
    locked.save(update_fields=["status", "order", "confirmed_at"])
    audit_record(
        action=UploadAction.CONFIRMED,
        actor=actor,
        company=company,
        obj=locked,
        ip=ip,
        changes={"order": order.number, "lines": order.line_count, "duplicate": bool(earlier)},
    )
    lines_file = (locked.result or {}).get("lines_file")
    if lines_file:
        storage = locked.file.storage
        transaction.on_commit(lambda: storage.delete(lines_file))
    return order


def _copy_lines(order: Order, upload: OrderUpload) -> OrderTotals:
    """Stream the checked lines into the order with COPY, re-checking each distinct product,
    face value and quantity, and pricing them at today's price."""
    rules = LineRules(upload.company)
    # Everything the re-check reads is read before COPY starts: the connection is busy during it.
    public_ids = [group["product"] for group in upload.result.get("totals", [])]
    products = {p.pk: p for p in CardProduct.objects.filter(public_id__in=public_ids)}
    # (product pk, face value, quantity) text -> "unit\tamount" or the problems
    priced: dict[tuple[str, str, str], str] = {}
    counts: dict[tuple[str, str, str], int] = {}
    problems: list[str] = []
    prefix = f"{order.pk}\t"
    position = 0
    name = upload.result["lines_file"]
    with upload.file.storage.open(name, "rb") as stored, connection.cursor() as cursor:
        text = io.TextIOWrapper(getattr(stored, "file", stored), encoding="utf-8", newline="\n")
        with _line_writer(cursor) as copy:
            block: list[str] = []
            for record in text:
                row, pk, face, quantity, rest = record.split("\t", 4)
                key = (pk, face, quantity)
                price = priced.get(key)
                if price is None:
                    price = priced[key] = _reprice(rules, products, key, row, problems)
                    counts[key] = 0
                counts[key] += 1
                position += 1
                block.append(f"{prefix}{position}\t{pk}\t{face}\t{quantity}\t{price}\t{rest}")
                if len(block) >= _COPY_BLOCK:
                    copy.write("".join(block))
                    block.clear()
            if problems:
                intro = _(
                    "The catalog or the prices changed since the file was checked; upload it "
                    "again to check it against today's catalog."
                )
                raise ValidationError(
                    [
                        ValidationError(message, code="catalog_changed")
                        for message in [intro, *problems[:20]]
                    ]
                )
            if block:
                copy.write("".join(block))
    face_total = ZERO
    total = ZERO
    cards = 0
    for (_pk, face, quantity), count in counts.items():
        amount = Decimal(priced[(_pk, face, quantity)].split("\t")[1])
        face_total += Decimal(face) * int(quantity) * count
        total += amount * count
        cards += int(quantity) * count
    return OrderTotals(face_total=face_total, total=total, card_count=cards, line_count=position)


def _reprice(
    rules: LineRules,
    products: dict[int, CardProduct],
    key: tuple[str, str, str],
    row: str,
    problems: list[str],
) -> str:
    pk, face, quantity = key
    product = products.get(int(pk))
    line, broken = rules.check(
        LineInput(
            product=product if product is not None else "",
            face_value=Decimal(face),
            quantity=int(quantity),
        )
    )
    if line is None:
        problems.extend(
            _("Row %(row)s, %(field)s “%(value)s”: %(reason)s")
            % {"row": row, "field": problem.label, "value": problem.value, "reason": problem.reason}
            for problem in broken
        )
        return "0\t0"
    return f"{line.unit_price}\t{line.amount}"


@transaction.atomic
def upload_discard(*, upload: OrderUpload, actor: User) -> OrderUpload:
    """Set an upload aside (not confirmed); a check still running finds it discarded and
    leaves it."""
    locked = OrderUpload.objects.select_for_update().select_related("company").get(pk=upload.pk)
    _require_upload_actor(locked, actor)
    if locked.status in (UploadStatus.CONFIRMED, UploadStatus.DISCARDED):
        raise ValidationError(
            _("This order file is %(status)s; it cannot be discarded.")
            % {"status": locked.get_status_display()},
            code="finished",
        )
    locked.status = UploadStatus.DISCARDED
    locked.save(update_fields=["status"])
    audit_record(
        action=UploadAction.DISCARDED,
        actor=actor,
        company=locked.company,
        obj=locked,
        changes={"file": locked.file_name},
    )
    lines_file = (locked.result or {}).get("lines_file")
    if lines_file:
        storage = locked.file.storage
        transaction.on_commit(lambda: storage.delete(lines_file))
    return locked
