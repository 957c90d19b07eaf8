"""The cardholder's balance page (``/r/balance/``): reached from the recipient's link (no account),
it shows the card's balance, status, expiry and transactions, never its code.

The link's token is in the session as its digest (``cards.views.recipient``), so this address
carries nothing secret. Requests are counted per client address and per link in the cache
(``portal.rate_limits``), and over either limit the page answers 429 with ``Retry-After``, as
the merchant API does; failed look-ups also count against the address's failure limit of the
link pages.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cards.card_history import card_transactions
from cards.services import recipients
from cards.views.recipient import (
    SESSION_KEY,
    _blocked,
    _count_failure,
    _invalid,
    _private,
    _too_many,
    session_link_digest,
)
from portal.rate_limits import RateLimit, rate_limit_hit
from portal.services.audit import client_ip

# The transactions shown, newest first; the buyer's portal lists them all.
BALANCE_TRANSACTIONS = 50


def _rates() -> tuple[RateLimit, RateLimit]:
    window = settings.CARDHOLDER_BALANCE_WINDOW_SECONDS
    return (
        RateLimit("cardholder-balance-ip", settings.CARDHOLDER_BALANCE_PER_IP, window),
        RateLimit("cardholder-balance-link", settings.CARDHOLDER_BALANCE_PER_LINK, window),
    )


def _throttled(request: HttpRequest, wait: int) -> HttpResponse:
    minutes = max((wait + 59) // 60, 1)
    response = render(
        request, "cards/recipient_balance_too_many.html", {"minutes": minutes}, status=429
    )
    response["Retry-After"] = str(wait)
    return _private(response)


@require_GET
def recipient_balance(request: HttpRequest) -> HttpResponse:
    """The card behind the session's link: its balance and transactions."""
    if _blocked(request):
        return _too_many(request)
    digest = session_link_digest(request)
    if not digest:
        return _invalid(request)
    by_address, by_link = _rates()
    wait = rate_limit_hit(by_address, client_ip(request) or "unknown") or rate_limit_hit(
        by_link, digest.hex()
    )
    if wait:
        return _throttled(request, wait)
    try:
        delivery = recipients.link_balance(digest=digest)
    except recipients.LinkInvalid:
        request.session.pop(SESSION_KEY, None)
        _count_failure(request)
        return _invalid(request)
    card = delivery.card
    context = {
        "delivery": delivery,
        "card": card,
        "company": delivery.order.company.legal_name,
        "product": delivery.line.product,
        "transactions": list(card_transactions(card)[:BALANCE_TRANSACTIONS]),
        "shown_at_most": BALANCE_TRANSACTIONS,
    }
    return _private(render(request, "cards/recipient_balance.html", context))
