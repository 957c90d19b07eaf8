"""Delivery of cards to their recipients by email and SMS, each with a one-time link.

A link carries a random token (256 bits). Only its SHA-256 digest is stored, with an expiry. The
token is made inside the send task, which receives nothing but the delivery's id, so it never
passes through the broker; it goes into the email and the SMS and is then forgotten.

A delivery is ``pending`` whenever a link is wanted: the first send, a resend, a new recipient.
The send task acts only on a pending row it holds locked, and leaves it ``sent`` (or
``bounced``), so a redelivered task message sends nothing twice. A resend or a change of
recipient clears the stored digest at once: the old link is dead before the new one exists.

The recipient's page takes the token from the link into the session (as its digest) and shows
the code once, under the delivery's row lock, so two simultaneous clicks show it once. The same
link opens the card's balance page (``balance``), which never shows the code.
"""

from .balance import link_balance
from .base import (
    CREATE_BATCH,
    RECIPIENT_ACTOR_LABEL,
    TOKEN_BYTES,
    UNREVEALABLE_CARD_STATUSES,
    LinkInvalid,
    RecipientAction,
    mask_email,
    masked_contact,
    masked_recipient,
    recipient_label,
    recipient_link_url,
    token_digest,
)
from .changes import delivery_change_recipient, delivery_resend
from .links import Reveal, link_open, link_reveal
from .sending import deliveries_create, delivery_record_failure, delivery_send

__all__ = [
    "CREATE_BATCH",
    "RECIPIENT_ACTOR_LABEL",
    "TOKEN_BYTES",
    "UNREVEALABLE_CARD_STATUSES",
    "LinkInvalid",
    "RecipientAction",
    "Reveal",
    "deliveries_create",
    "delivery_change_recipient",
    "delivery_record_failure",
    "delivery_resend",
    "delivery_send",
    "link_balance",
    "link_open",
    "link_reveal",
    "mask_email",
    "masked_contact",
    "masked_recipient",
    "recipient_label",
    "recipient_link_url",
    "token_digest",
]
