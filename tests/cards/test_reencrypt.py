"""Key rotation: with a new key first in CARD_CODE_KEYS old cards still reveal; ``reencrypt_codes``
moves every card to the new key in batches, printing counts only; afterwards the old key can go."""

from __future__ import annotations

import secrets
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from cards import codes
from cards.models import Card, Order
from tests.cards.test_cards_pages import Buyer, buyer, issued_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

NEW_KEY_ID = "rot2"


@pytest.fixture
def acme(settings: Settings) -> Buyer:
    settings.ISSUANCE_CHUNK_SIZE = 40
    return buyer()


@pytest.fixture
def order(acme: Buyer) -> Order:
    return issued_order(acme, ("100", 60, ""), ("200", 15, ""))


def revealed() -> dict[int, str]:
    return {
        card.pk: codes.reveal(
            serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
        )
        for card in Card.objects.order_by("pk")
    }


def reencrypt(*args: str) -> str:
    out = StringIO()
    call_command("reencrypt_codes", *args, stdout=out)
    return out.getvalue()


def rotate(settings: Settings) -> tuple[str, str]:
    """Put a new key first; returns (old setting, new key entry)."""
    old = settings.CARD_CODE_KEYS
    new = f"{NEW_KEY_ID}:{secrets.token_hex(32)}"
    settings.CARD_CODE_KEYS = f"{new},{old}"
    return old, new


def test_rotating_keys_then_reencrypting_keeps_every_code(settings: Settings, order: Order):
    # Given cards generated under the current key
    old_id = settings.CARD_CODE_KEYS.split(",")[0].split(":")[0]
    assert set(Card.objects.values_list("key_id", flat=True)) == {old_id}
    before = revealed()
    ciphertexts = dict(Card.objects.values_list("pk", "ciphertext"))
    # When a new key comes first, the old cards still reveal under their old key
    _old, new = rotate(settings)
    assert revealed() == before
    # And a dry run only counts them
    dry = reencrypt("--dry-run")
    assert f"75 cards under key {old_id}" in dry
    assert f"Dry run: 75 cards would be re-encrypted to key {NEW_KEY_ID}." in dry
    assert set(Card.objects.values_list("key_id", flat=True)) == {old_id}
    # When the command runs in batches of 20
    output = reencrypt("--batch-size", "20")
    # Then every card is under the new key with a new ciphertext and the same code
    assert set(Card.objects.values_list("key_id", flat=True)) == {NEW_KEY_ID}
    assert revealed() == before
    assert all(
        bytes(blob) != bytes(ciphertexts[pk])
        for pk, blob in Card.objects.values_list("pk", "ciphertext")
    )
    assert "20 cards re-encrypted" in output
    assert f"Done: 75 cards re-encrypted to key {NEW_KEY_ID}." in output
    # And it printed counts only, never a code
    for code in before.values():
        assert code not in output
        assert code.replace("-", "") not in output
    # And once the old key is removed, every card still reveals
    settings.CARD_CODE_KEYS = new
    assert revealed() == before
    # A second run has nothing to do
    assert "Done: 0 cards re-encrypted" in reencrypt()


def test_cards_under_a_key_no_longer_listed_stop_the_command_and_name_the_key(
    settings: Settings, order: Order
) -> None:
    old_id = settings.CARD_CODE_KEYS.split(",")[0].split(":")[0]
    settings.CARD_CODE_KEYS = f"{NEW_KEY_ID}:{secrets.token_hex(32)}"
    with pytest.raises(CommandError, match=f"under key {old_id}"):
        reencrypt()
    assert set(Card.objects.values_list("key_id", flat=True)) == {old_id}


def test_a_batch_size_below_one_is_refused(order: Order) -> None:
    with pytest.raises(CommandError, match="at least 1"):
        reencrypt("--batch-size", "0")
