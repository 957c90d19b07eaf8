"""Delivery to recipients: the recipient's one-time link page (no account), and the buyer's
resend and change-of-recipient actions on the order page. The card's balance page behind the
same link is ``cards.views.cardholder``.

The link ``/r/<token>/`` is answered with a redirect to ``/r/`` after the token's digest is put
in the session, so the token does not stay in the address bar, the history or a Referer header.
Pages carrying a card's details are never cached and send no referrer.
"""

from __future__ import annotations

import uuid
from typing import cast

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cards.models import Order, RecipientDelivery
from cards.services import recipients
from portal.access import get_company_object_or_404, policy_required
from portal.models import User
from portal.policy import Action
from portal.services.audit import client_ip

SESSION_KEY = "recipient_link"
# Failed look-ups (unknown, replaced or expired links) allowed per address and window.
LINK_FAILURE_LIMIT = 20
LINK_FAILURE_WINDOW_SECONDS = 15 * 60
MAX_TOKEN_LENGTH = 128


# --- The recipient's page ------------------------------------------------------------------------


def _failure_key(request: HttpRequest) -> str:
    return f"recipient-link-failures:{client_ip(request) or 'unknown'}"


def _blocked(request: HttpRequest) -> bool:
    return int(cache.get(_failure_key(request)) or 0) >= LINK_FAILURE_LIMIT


def _count_failure(request: HttpRequest) -> None:
    key = _failure_key(request)
    cache.add(key, 0, LINK_FAILURE_WINDOW_SECONDS)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, LINK_FAILURE_WINDOW_SECONDS)


def _private(response: HttpResponse) -> HttpResponse:
    # Never send these addresses to another site; "no-referrer" would also make Chromium post
    # the reveal form with "Origin: null", which Django's CSRF check refuses.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    add_never_cache_headers(response)
    return response


def _invalid(request: HttpRequest) -> HttpResponse:
    return _private(render(request, "cards/recipient_invalid.html", status=404))


def _too_many(request: HttpRequest) -> HttpResponse:
    return _private(render(request, "cards/recipient_too_many.html", status=429))


@require_GET
def recipient_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the email or SMS: keep the token's digest in the session, leave the URL.
    Always a redirect, never an error status: Django logs the path of 4xx answers, and this
    path holds the token. The page at ``/r/`` answers errors (and the rate limit) instead."""
    if _blocked(request) or len(token) > MAX_TOKEN_LENGTH:
        request.session.pop(SESSION_KEY, None)
    else:
        request.session[SESSION_KEY] = recipients.token_digest(token).hex()
    return _private(redirect("cards:recipient_card"))


def session_link_digest(request: HttpRequest) -> bytes:
    """The digest of the link this session opened, or nothing."""
    try:
        return bytes.fromhex(request.session.get(SESSION_KEY) or "")
    except (TypeError, ValueError):
        return b""


def _balance_only(digest: bytes) -> bool:
    """Whether a link past its time for the card page still opens the balance page (its code
    was shown)."""
    try:
        recipients.link_balance(digest=digest)
    except recipients.LinkInvalid:
        return False
    return True


@require_http_methods(["GET", "POST"])
def recipient_card(request: HttpRequest) -> HttpResponse:
    """The card behind the session's link: its details, and on POST its code, once. A link
    that now opens only the balance page goes there."""
    if _blocked(request):
        return _too_many(request)
    digest = session_link_digest(request)
    if not digest:
        return _invalid(request)
    code = None
    try:
        if request.method == "POST":
            reveal = recipients.link_reveal(digest=digest, ip=client_ip(request))
            delivery, code = reveal.delivery, reveal.code
        else:
            delivery = recipients.link_open(digest=digest)
    except recipients.LinkInvalid:
        if _balance_only(digest):
            return _private(redirect("cards:recipient_balance"))
        request.session.pop(SESSION_KEY, None)
        _count_failure(request)
        return _invalid(request)
    card = delivery.card
    context = {
        "delivery": delivery,
        "card": card,
        "company": delivery.order.company.legal_name,
        "product": delivery.line.product,
        "code": code,
        "inactive": card.status in recipients.UNREVEALABLE_CARD_STATUSES
        and delivery.revealed_at is None,
    }
    return _private(render(request, "cards/recipient_card.html", context))


# --- The buyer's actions -------------------------------------------------------------------------


def _delivery_for_action(
    request: HttpRequest, number: str, delivery_id: uuid.UUID
) -> RecipientDelivery:
    """The delivery of one of the active company's orders; any other is a 404."""
    order = get_company_object_or_404(
        request, Order.objects.select_related("company"), number=number
    )
    delivery = (
        RecipientDelivery.objects.filter(order=order)
        .select_related("order__company", "card")
        .filter(public_id=delivery_id)
        .first()
    )
    if delivery is None:
        raise Http404
    return delivery


def _back(delivery: RecipientDelivery) -> HttpResponse:
    url = reverse("cards:order_detail", kwargs={"number": delivery.order.number})
    return redirect(f"{url}#recipients")


def _error_text(exc: ValidationError | PermissionDenied) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or _("Your role in this company does not allow this.")


@policy_required(Action.RECIPIENTS_MANAGE)
@require_POST
def recipient_resend(request: HttpRequest, number: str, delivery: uuid.UUID) -> HttpResponse:
    row = _delivery_for_action(request, number, delivery)
    try:
        row = recipients.delivery_resend(
            delivery=row, actor=cast(User, request.user), ip=client_ip(request)
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request,
            _("A new link is on its way to %(recipient)s; the previous link no longer works.")
            % {"recipient": recipients.recipient_label(row)},
        )
    return _back(row)


@policy_required(Action.RECIPIENTS_MANAGE)
@require_POST
def recipient_change(request: HttpRequest, number: str, delivery: uuid.UUID) -> HttpResponse:
    row = _delivery_for_action(request, number, delivery)
    try:
        row = recipients.delivery_change_recipient(
            delivery=row,
            actor=cast(User, request.user),
            name=request.POST.get("name", ""),
            email=request.POST.get("email", ""),
            mobile=request.POST.get("mobile", ""),
            ip=client_ip(request),
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request,
            _(
                "Card %(serial)s now goes to %(recipient)s: a new link is on its way, and the "
                "previous link no longer works."
            )
            % {"serial": row.card.serial_display, "recipient": recipients.recipient_label(row)},
        )
    return _back(row)
