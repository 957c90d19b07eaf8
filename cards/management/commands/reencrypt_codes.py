"""Move every card code stored under an older key of CARD_CODE_KEYS to the current (first) key.

Key rotation: put the new key first in CARD_CODE_KEYS, keep the old ones listed, deploy, run
this command, then drop the old keys. Cards are taken in primary-key order, a batch at a time,
each batch locked and rewritten in its own transaction, so the command can be stopped and run
again. It prints counts only, never a code.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Count

from cards import codes
from cards.models import Card
from portal import crypto


class Command(BaseCommand):
    help = "Re-encrypt card codes stored under an old key with the current key of CARD_CODE_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1000,
            help="Cards per transaction (default 1000).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only count the cards under each old key; change nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        current = crypto.current_key_id()
        stale = Card.objects.exclude(key_id=current)
        if options["dry_run"]:
            total = 0
            for row in stale.values("key_id").annotate(cards=Count("id")).order_by("key_id"):
                self.stdout.write(f"{row['cards']} cards under key {row['key_id']}")
                total += row["cards"]
            self.stdout.write(f"Dry run: {total} cards would be re-encrypted to key {current}.")
            return
        done, last_pk = 0, 0
        unreadable: list[str] = []
        while True:
            with transaction.atomic():
                cards = list(
                    stale.select_for_update()
                    .filter(pk__gt=last_pk)
                    .order_by("pk")
                    .only("id", "serial", "key_id", "ciphertext")[:batch_size]
                )
                if not cards:
                    break
                changed = []
                for card in cards:
                    try:
                        card.key_id, card.ciphertext = codes.reencrypt(
                            serial=card.serial_display,
                            key_id=card.key_id,
                            ciphertext=bytes(card.ciphertext),
                        )
                    except KeyError as exc:
                        raise CommandError(
                            f"Card {card.serial_display} is under key {card.key_id}, which "
                            "CARD_CODE_KEYS no longer lists: add that key back (after the "
                            "current one) and run this command again."
                        ) from exc
                    except InvalidTag:
                        unreadable.append(card.serial_display)
                        continue
                    changed.append(card)
                Card.objects.bulk_update(changed, ["key_id", "ciphertext"])
                last_pk = cards[-1].pk
            done += len(changed)
            self.stdout.write(f"{done} cards re-encrypted to key {current} so far")
        self.stdout.write(f"Done: {done} cards re-encrypted to key {current}.")
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} cards could not be decrypted with their key and were left "
                f"as they are (serials: {', '.join(unreadable[:20])}"
                f"{', ...' if len(unreadable) > 20 else ''}). Check CARD_CODE_KEYS."
            )
