"""Secrets and signatures in the Standard Webhooks format, with the ``standardwebhooks`` library.

A secret is ``whsec_`` and 32 random bytes in base64; it is stored encrypted
(``portal.crypto``, its own purpose) and decrypted only to sign. A delivery carries
``webhook-id`` (the event's id), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``:
``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per secret in force, separated by a
space, so that during a rotation's overlap a receiver holding either secret verifies it.
"""

from __future__ import annotations

import base64
import datetime
import secrets

from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from portal import crypto
from webhooks.models import WebhookEndpoint

SECRET_PURPOSE = "webhook-endpoint-secret"
SECRET_PREFIX = "whsec_"


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _associated(endpoint: WebhookEndpoint) -> bytes:
    # Binds a ciphertext to its endpoint: one endpoint's secret never decrypts as another's.
    return str(endpoint.public_id).encode()


def secret_store(endpoint: WebhookEndpoint, secret: str) -> None:
    """Put ``secret`` (encrypted) on the endpoint as its current one; the caller saves."""
    endpoint.secret_key_id, endpoint.secret_ciphertext = crypto.encrypt(
        secret, purpose=SECRET_PURPOSE, associated=_associated(endpoint)
    )


def secrets_in_force(
    endpoint: WebhookEndpoint, *, now: datetime.datetime | None = None
) -> list[str]:
    """The current secret, then the previous one while its overlap lasts."""
    now = now or timezone.now()
    found = [
        crypto.decrypt(
            endpoint.secret_key_id,
            bytes(endpoint.secret_ciphertext),
            purpose=SECRET_PURPOSE,
            associated=_associated(endpoint),
        )
    ]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_ciphertext and expires is not None and expires > now:
        found.append(
            crypto.decrypt(
                endpoint.previous_secret_key_id,
                bytes(endpoint.previous_secret_ciphertext),
                purpose=SECRET_PURPOSE,
                associated=_associated(endpoint),
            )
        )
    return found


def signed_headers(
    *, secrets_: list[str], message_id: str, body: bytes, at: datetime.datetime
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed with each secret."""
    signatures = [Webhook(s).sign(msg_id=message_id, timestamp=at, data=body) for s in secrets_]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
