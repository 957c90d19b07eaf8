"""What the card services share: audit actions, refusals, which status allows which act, the
reason rule, the second-operator rule, and the void that every path ending a card's life uses."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import Account
from billing.money import ZERO, format_cny
from billing.services.ledger import account_get, journal_post
from cards.models import Card, CardServiceRequest, CardStatus, CardTransaction
from cards.services.card_movements import card_transaction_write
from portal.errors import DomainError, StateConflict
from portal.models import Company, User, register_audit_actions

Act = CardServiceRequest.Action


class CardServiceAction(models.TextChoices):
    FROZEN = "card.frozen", gettext_lazy("Froze a card")
    UNFROZEN = "card.unfrozen", gettext_lazy("Unfroze a card")
    VOIDED = "card.voided", gettext_lazy("Voided a card")
    REISSUED = "card.reissued", gettext_lazy("Reissued a lost card")
    EXCHANGED = "card.exchanged", gettext_lazy("Exchanged an expired card")
    REQUESTED = (
        "card.service_requested",
        gettext_lazy("Asked a second operator to approve a card service"),
    )
    REQUEST_APPROVED = "card.service_approved", gettext_lazy("Approved a card service request")
    REQUEST_REJECTED = "card.service_rejected", gettext_lazy("Rejected a card service request")
    REFUNDED = "order.cards_refunded", gettext_lazy("Refunded unused cards to the buyer")


register_audit_actions(CardServiceAction)


class CardStateError(StateConflict):
    """The card's status (read under its row lock) does not allow the act."""

    default_code = "card_state"


class SecondOperatorRequired(DomainError):
    """The act moves more than the configured amount: another operator must approve it
    (``card_service_request_create``)."""

    default_code = "second_operator_required"


# Which statuses each act starts from. A voided card is in none of them: it never comes back.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "freeze": frozenset({CardStatus.ACTIVE}),
    "unfreeze": frozenset({CardStatus.FROZEN}),
    Act.VOID: frozenset(
        {CardStatus.ACTIVE, CardStatus.FROZEN, CardStatus.DEPLETED, CardStatus.EXPIRED}
    ),
    Act.REISSUE: frozenset({CardStatus.ACTIVE, CardStatus.FROZEN}),
    Act.EXCHANGE: frozenset({CardStatus.EXPIRED, CardStatus.ACTIVE, CardStatus.FROZEN}),
}


def require_operator(actor: User) -> None:
    """Card service is the issuer's staff's work, never a buyer's."""
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied(_("Only the issuer's operators service cards."))


def require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError({"reason": _("Give a reason; it is kept with the card's history.")})
    return reason[:200]


def require_status(card: Card, act: str) -> None:
    if card.is_test:
        # Test mode (docs/api.md): nothing is owed on a test card, so nothing is serviced.
        raise CardStateError(
            _("Card %(serial)s is a test card of a company's sandbox; card service does not apply.")
            % {"serial": card.serial_display},
            code="test_card",
        )
    if card.status in ALLOWED_FROM[act]:
        return
    if card.status == CardStatus.VOIDED:
        message = _("Card %(serial)s is voided; a voided card never comes back.")
    else:
        message = _("Card %(serial)s is %(status)s; this cannot be done to it.")
    raise CardStateError(
        message % {"serial": card.serial_display, "status": card.get_status_display()}
    )


def require_no_holds(card: Card) -> None:
    """Open merchant holds reserve part of the balance for a checkout in progress: they are
    never released behind the merchant's back. The operator freezes the card (no new hold) and
    acts once the holds are captured, released or expired."""
    if card.held > ZERO:
        raise CardStateError(
            _(
                "Card %(serial)s has %(amount)s held by a merchant's checkout. Freeze it now, and "
                "try again once the hold is captured, released or expired."
            )
            % {"serial": card.serial_display, "amount": format_cny(card.held)},
            code="card_held",
        )


def second_operator_threshold() -> Decimal:
    return Decimal(settings.CARD_SERVICE_SECOND_OPERATOR_ABOVE)


def require_second_operator(
    card: Card, act: str, approval: CardServiceRequest | None, actor: User
) -> None:
    """Over the threshold, the act runs only as the approval of another operator's request."""
    if approval is not None:
        if approval.card_id != card.pk or approval.action != act:
            raise ValueError("the approved request is for another card or act")
        if approval.requested_by_id == actor.pk:
            raise DomainError(
                _("Another operator must approve a request you made."), code="same_operator"
            )
        return
    if card.balance > second_operator_threshold():
        raise SecondOperatorRequired(
            _(
                "Card %(serial)s holds %(amount)s, more than %(limit)s: a second operator must "
                "approve this. Send it for approval."
            )
            % {
                "serial": card.serial_display,
                "amount": format_cny(card.balance),
                "limit": format_cny(second_operator_threshold()),
            }
        )


def liability_kind(status: str) -> str:
    """The account that holds a card's balance: an expired card's moved to the expired-balance
    liability (still owed); every other live card's is card liability."""
    if status == CardStatus.EXPIRED:
        return Account.Kind.EXPIRED_LIABILITY
    return Account.Kind.CARD_LIABILITY


def card_company(card: Card) -> Company:
    return Company.objects.get(pk=card.batch.company_id)


def void_locked_card(
    card: Card,
    *,
    reason: str,
    actor: User,
    idempotency_key: str | None = None,
    post: bool = True,
) -> CardTransaction:
    """End a locked card's life: its balance leaves it (a ``void`` transaction to zero, status
    voided) and, with ``post``, goes to the voided-card account (its liability +B, voided
    cards -B). Callers that post one entry for many cards pass ``post=False``."""
    balance = card.balance
    source = liability_kind(card.status)
    if card.status == CardStatus.EXPIRED:
        # Breakage posted on it is no longer income: the balance is leaving the card.
        from cards.services.expiry import breakage_card_reverse

        breakage_card_reverse(card=card)
    movement = card_transaction_write(
        card=card,
        kind=CardTransaction.Kind.VOID,
        amount=-balance,
        status=CardStatus.VOIDED,
        reason=reason,
        actor=actor,
        idempotency_key=idempotency_key,
    )
    if post and balance > ZERO:
        journal_post(
            kind="card_void",
            idempotency_key=f"card_void:{movement.pk}",
            postings=[
                (account_get(source), balance),
                (account_get(Account.Kind.VOIDED_CARDS), -balance),
            ],
            company=card_company(card),
            reference=card.serial_display,
            memo=f"card voided: {reason}",
        )
    return movement
