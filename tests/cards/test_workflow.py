"""An order's way from draft to funded: approval threshold, the creator rule, rejection reasons,
risk review (platform limit, velocity, structuring), prepay, cancelling, and the audit trail."""

# Optional relations (order.invoice, a credit position...) are set in these stories; a None
# fails the test at once, so mypy need not be told each time.
# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from pytest_django.fixtures import Settings

from billing.audit import BillingAction
from billing.models import CreditReservation, Invoice
from billing.services.invoices import proforma_mark_paid
from cards.audit import CardsAction
from cards.models import Order, OrderStatus
from cards.services.workflow import (
    RISK_FLAG_LABELS,
    OrderStateError,
    order_approve,
    order_begin_fulfilment,
    order_cancel,
    order_fund_from_proforma,
    order_reject,
    order_review_approve,
    order_review_reject,
    order_risk_flags,
    order_submit,
)
from portal.models import AuditEvent, Role
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def company():
    company = factories.company(approval_threshold="5000.00")
    factories.credit_line(company, "100000.00")
    return company


@pytest.fixture
def people(company):
    return factories.team(company)


@pytest.fixture
def card():
    return factories.product(face_values=["100", "200", "500", "1000"])


@pytest.fixture
def ops():
    return factories.operator()


def draft(company, actor, card, face_value="100", quantity=10, **kwargs) -> Order:
    return factories.draft(
        company, actor, card=card, face_value=face_value, quantity=quantity, **kwargs
    )


def actions(order: Order) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_id=str(order.public_id))
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )


# --- Approval threshold --------------------------------------------------------------------------


def test_an_order_at_or_under_the_threshold_is_funded_at_once(company, people, card) -> None:
    # Given a draft of exactly the company's threshold (5,000)
    order = draft(company, people["purchaser"], card, "500", 10)
    # When the purchaser submits it
    order = order_submit(order=order, actor=people["purchaser"])
    # Then no approver is needed: it is invoiced on credit and funded
    assert order.status == OrderStatus.FUNDED
    assert order.needs_approval is False
    assert order.invoice.total == Decimal("5000.00")
    assert order.funded_at is not None
    assert actions(order) == [
        CardsAction.ORDER_CREATED,
        CardsAction.ORDER_SUBMITTED,
        CardsAction.ORDER_FUNDED,
    ]


def test_an_order_over_the_threshold_waits_for_an_approver(company, people, card) -> None:
    order = draft(company, people["purchaser"], card, "100", 51)  # 5,100
    order = order_submit(order=order, actor=people["purchaser"])
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert order.needs_approval is True
    assert order.invoice is None
    assert not Invoice.objects.exists()


def test_an_approver_approves_and_the_order_is_invoiced(company, people, card) -> None:
    order = order_submit(
        order=draft(company, people["purchaser"], card, "1000", 6), actor=people["purchaser"]
    )
    order = order_approve(order=order, actor=people["approver"], ip="203.0.113.9")
    assert order.status == OrderStatus.FUNDED
    assert order.approved_by == people["approver"]
    assert order.invoice.total == Decimal("6000.00")
    assert actions(order) == [
        CardsAction.ORDER_CREATED,
        CardsAction.ORDER_SUBMITTED,
        CardsAction.ORDER_APPROVED,
        CardsAction.ORDER_FUNDED,
    ]
    approved = AuditEvent.objects.get(action=CardsAction.ORDER_APPROVED)
    assert (approved.actor, approved.ip) == (people["approver"], "203.0.113.9")
    assert AuditEvent.objects.filter(
        action=BillingAction.INVOICE_ISSUED, object_id=str(order.invoice.public_id)
    ).exists()


def test_an_owner_may_approve_too(company, people, card) -> None:
    order = factories.submitted(company, people["purchaser"], card=card, quantity=60)
    assert order_approve(order=order, actor=people["owner"]).status == OrderStatus.FUNDED


def test_the_creator_can_never_approve_their_own_order(company, people, card) -> None:
    # Given an owner who drafted and submitted an order over the threshold
    order = factories.submitted(company, people["owner"], card=card, quantity=60)
    # When they try to approve it themselves
    with pytest.raises(PermissionDenied, match="someone else must approve it"):
        order_approve(order=order, actor=people["owner"])
    # Then it still waits
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL


def test_an_approver_of_another_company_cannot_approve(company, people, card) -> None:
    order = factories.submitted(company, people["purchaser"], card=card, quantity=60)
    stranger = factories.member(factories.company(), Role.APPROVER)
    with pytest.raises(PermissionDenied):
        order_approve(order=order, actor=stranger)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL


@pytest.mark.parametrize("role", [Role.PURCHASER, Role.FINANCE, Role.VIEWER])
def test_roles_without_approval_cannot_approve(company, people, card, role) -> None:
    order = factories.submitted(company, people["purchaser"], card=card, quantity=60)
    with pytest.raises(PermissionDenied):
        order_approve(order=order, actor=factories.member(company, role))


def test_a_second_approval_is_refused(company, people, card) -> None:
    order = factories.submitted(company, people["purchaser"], card=card, quantity=60)
    order_approve(order=order, actor=people["approver"])
    with pytest.raises(OrderStateError, match="is not waiting for approval"):
        order_approve(order=order, actor=people["owner"])
    assert Invoice.objects.count() == 1


def test_an_order_is_submitted_once(company, people, card) -> None:
    order = factories.submitted(company, people["purchaser"], card=card)
    with pytest.raises(OrderStateError, match="was already submitted"):
        order_submit(order=order, actor=people["purchaser"])


@pytest.mark.parametrize("role", [Role.APPROVER, Role.FINANCE, Role.VIEWER])
def test_only_purchasers_and_owners_submit(company, people, card, role) -> None:
    order = draft(company, people["purchaser"], card)
    with pytest.raises(PermissionDenied):
        order_submit(order=order, actor=factories.member(company, role))


def test_a_suspended_company_cannot_submit(company, people, card) -> None:
    order = draft(company, people["purchaser"], card)
    company.status = "suspended"
    company.save()
    with pytest.raises(ValidationError, match="is not active; orders cannot be submitted"):
        order_submit(order=order, actor=people["purchaser"])


# --- Rejection -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_rejection_needs_a_reason(company, people, card, reason) -> None:
    order = factories.submitted(company, people["purchaser"], card=card, quantity=60)
    with pytest.raises(ValidationError) as exc:
        order_reject(order=order, actor=people["approver"], reason=reason)
    assert exc.value.message_dict == {"reason": ["Give a reason; the buyer will see it."]}
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL


def test_a_rejection_with_a_reason_closes_the_order(company, people, card) -> None:
    order = factories.submitted(company, people["purchaser"], card=card, quantity=60)
    order = order_reject(order=order, actor=people["approver"], reason="  Budget is frozen. ")
    assert order.status == OrderStatus.REJECTED
    assert order.closing_reason == "Budget is frozen."
    assert order.closed_at is not None
    event = AuditEvent.objects.get(action=CardsAction.ORDER_REJECTED)
    assert (event.actor, event.changes) == (people["approver"], {"reason": "Budget is frozen."})
    # A rejected order is final
    with pytest.raises(OrderStateError):
        order_approve(order=order, actor=people["owner"])


def test_the_creator_cannot_reject_their_own_order(company, people, card) -> None:
    order = factories.submitted(company, people["owner"], card=card, quantity=60)
    with pytest.raises(PermissionDenied, match="cancel it instead"):
        order_reject(order=order, actor=people["owner"], reason="changed my mind")


# --- Credit at submission and approval -----------------------------------------------------------


def test_a_credit_order_beyond_the_available_credit_is_refused_at_submit(
    company, people, card
) -> None:
    company.credit_line.limit = Decimal("3000.00")
    company.credit_line.save()
    order = draft(company, people["purchaser"], card, "500", 8)  # 4,000
    with pytest.raises(ValidationError) as exc:
        order_submit(order=order, actor=people["purchaser"])
    assert exc.value.messages == [
        "Not enough credit: this order needs ¥4,000.00, available credit is ¥3,000.00."
    ]
    assert exc.value.code == "insufficient_credit"
    assert exc.value.params == {"available": Decimal("3000.00")}
    order.refresh_from_db()
    assert order.status == OrderStatus.DRAFT


def test_credit_spent_while_an_order_waited_is_checked_again_at_approval(
    company, people, card, settings: Settings
) -> None:
    settings.ORDER_STRUCTURING_COUNT = 100  # the small orders below are all at the threshold
    # Given an order of 60,000 waiting for approval on a 100,000 line
    big = factories.submitted(
        company,
        people["purchaser"],
        card=card,
        face_value="1000",
        quantity=60,
        registration=factories.registration(),
    )
    assert big.status == OrderStatus.PENDING_APPROVAL
    # And meanwhile 45,000 of small orders were funded
    for _ in range(9):
        small = factories.submitted(
            company, people["purchaser"], card=card, face_value="500", quantity=10
        )
        assert small.status == OrderStatus.FUNDED
    # When the approver approves the big one
    with pytest.raises(ValidationError) as exc:
        order_approve(order=big, actor=people["approver"])
    # Then it is refused, showing the available amount, and the order still waits
    assert exc.value.messages == [
        "Not enough credit: this order needs ¥60,000.00, available credit is ¥55,000.00."
    ]
    big.refresh_from_db()
    assert big.status == OrderStatus.PENDING_APPROVAL
    assert big.approved_by is None


def test_a_company_without_a_credit_line_is_told_to_pay_by_transfer(people, card) -> None:
    company = factories.company()
    purchaser = factories.member(company, Role.PURCHASER)
    with pytest.raises(ValidationError, match="has no credit line; pay by bank transfer"):
        order_submit(order=draft(company, purchaser, card), actor=purchaser)


# --- Risk review ---------------------------------------------------------------------------------


def test_an_order_at_the_platform_limit_goes_to_risk_review(
    company, people, card, settings: Settings
) -> None:
    settings.ORDER_PLATFORM_LIMIT = Decimal("3000.00")
    order = factories.submitted(company, people["purchaser"], card=card, quantity=30)
    assert order.status == OrderStatus.PENDING_REVIEW
    assert order.risk_flags == ["platform_limit"]
    assert not Invoice.objects.exists()
    # Its credit is held while it waits
    hold = CreditReservation.objects.get(reference=order.number)
    assert (hold.amount, hold.released_at) == (Decimal("3000.00"), None)
    assert actions(order)[-1] == CardsAction.ORDER_SENT_TO_REVIEW


def test_an_order_over_both_limits_is_approved_by_the_company_then_reviewed(
    company, people, card, settings: Settings
) -> None:
    settings.ORDER_PLATFORM_LIMIT = Decimal("6000.00")
    order = factories.submitted(
        company, people["purchaser"], card=card, face_value="1000", quantity=6
    )
    assert order.status == OrderStatus.PENDING_APPROVAL
    order = order_approve(order=order, actor=people["approver"])
    assert order.status == OrderStatus.PENDING_REVIEW


def test_too_many_orders_in_a_day_go_to_review(company, people, card, settings: Settings) -> None:
    settings.ORDER_VELOCITY_MAX_COUNT = 2
    first, second = (factories.submitted(company, people["purchaser"], card=card) for _ in "12")
    assert (first.status, second.status) == (OrderStatus.FUNDED, OrderStatus.FUNDED)
    third = factories.submitted(company, people["purchaser"], card=card)
    assert third.status == OrderStatus.PENDING_REVIEW
    assert third.risk_flags == ["velocity_count"]


def test_yesterdays_orders_do_not_count_towards_today(
    company, people, card, settings: Settings
) -> None:
    settings.ORDER_VELOCITY_MAX_COUNT = 1
    first = factories.submitted(company, people["purchaser"], card=card)
    Order.objects.filter(pk=first.pk).update(
        submitted_at=timezone.now() - datetime.timedelta(days=1)
    )
    assert factories.submitted(company, people["purchaser"], card=card).risk_flags == []


def test_too_much_value_in_a_day_goes_to_review(company, people, card, settings: Settings) -> None:
    settings.ORDER_VELOCITY_MAX_VALUE = Decimal("2500.00")
    factories.submitted(company, people["purchaser"], card=card, face_value="1000", quantity=2)
    later = factories.submitted(
        company, people["purchaser"], card=card, face_value="100", quantity=6
    )
    assert later.status == OrderStatus.PENDING_REVIEW
    assert later.risk_flags == ["velocity_value"]


def test_three_orders_just_under_the_approval_threshold_go_to_review(company, people, card) -> None:
    # Given a threshold of 5,000: orders of 4,600 and 5,000 need no approval
    first = factories.submitted(company, people["purchaser"], card=card, quantity=46)
    second = factories.submitted(
        company, people["purchaser"], card=card, face_value="500", quantity=10
    )
    assert [first.risk_flags, second.risk_flags] == [[], []]
    # When a third lands just under it on the same day
    third = factories.submitted(company, people["purchaser"], card=card, quantity=48)
    # Then it is held for an operator, as structuring
    assert third.status == OrderStatus.PENDING_REVIEW
    assert third.risk_flags == ["structuring"]


def test_orders_well_under_a_threshold_are_not_structuring(company, people, card) -> None:
    for _ in range(3):
        order = factories.submitted(company, people["purchaser"], card=card, quantity=30)
        assert order.risk_flags == []


def test_three_orders_just_under_the_registration_threshold_are_structuring(people, card) -> None:
    company = factories.company(approval_threshold="100000.00")
    factories.credit_line(company, "100000.00")
    purchaser = factories.member(company, Role.PURCHASER)
    orders = [
        factories.submitted(company, purchaser, card=card, face_value="1000", quantity=9)
        for _ in range(3)
    ]
    assert [o.risk_flags for o in orders] == [[], [], ["structuring"]]


def test_risk_flags_have_readable_labels(company, people, card) -> None:
    order = draft(company, people["purchaser"], card)
    assert order_risk_flags(order) == []
    assert str(RISK_FLAG_LABELS["structuring"]) == "several orders just under a threshold today"


def test_an_operator_clears_a_reviewed_credit_order_and_it_is_invoiced(
    company, people, card, ops, settings: Settings
) -> None:
    settings.ORDER_PLATFORM_LIMIT = Decimal("3000.00")
    order = factories.submitted(company, people["purchaser"], card=card, quantity=30)
    order = order_review_approve(order=order, operator=ops, ip="198.51.100.7")
    assert order.status == OrderStatus.FUNDED
    assert (order.reviewed_by, order.invoice.total) == (ops, Decimal("3000.00"))
    # The hold is released when the invoice takes its place
    assert CreditReservation.objects.get(reference=order.number).released_at is not None
    event = AuditEvent.objects.get(action=CardsAction.ORDER_REVIEW_APPROVED)
    assert (event.actor, event.ip, event.changes) == (
        ops,
        "198.51.100.7",
        {"risk_flags": ["platform_limit"]},
    )


def test_an_operator_rejects_a_reviewed_order_with_a_reason_and_the_hold_is_released(
    company, people, card, ops, settings: Settings
) -> None:
    settings.ORDER_PLATFORM_LIMIT = Decimal("3000.00")
    order = factories.submitted(company, people["purchaser"], card=card, quantity=30)
    with pytest.raises(ValidationError, match="Give a reason"):
        order_review_reject(order=order, operator=ops, reason="")
    order = order_review_reject(order=order, operator=ops, reason="Unusual pattern")
    assert (order.status, order.closing_reason) == (OrderStatus.REJECTED, "Unusual pattern")
    assert CreditReservation.objects.get(reference=order.number).released_at is not None
    assert actions(order)[-1] == CardsAction.ORDER_REVIEW_REJECTED


def test_people_who_are_not_operators_cannot_review(
    company, people, card, settings: Settings
) -> None:
    settings.ORDER_PLATFORM_LIMIT = Decimal("3000.00")
    order = factories.submitted(company, people["purchaser"], card=card, quantity=30)
    inactive_ops = factories.operator()
    inactive_ops.is_active = False
    for user in (people["owner"], people["approver"], inactive_ops):
        with pytest.raises(PermissionDenied, match="Only an operator can review orders"):
            order_review_approve(order=order, operator=user)
        with pytest.raises(PermissionDenied):
            order_review_reject(order=order, operator=user, reason="no")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW


def test_reviewing_an_order_that_is_not_in_review_is_refused(company, people, card, ops) -> None:
    order = factories.submitted(company, people["purchaser"], card=card)
    with pytest.raises(OrderStateError, match="is not in risk review"):
        order_review_approve(order=order, operator=ops)


# --- Prepay --------------------------------------------------------------------------------------


def test_a_bank_transfer_order_gets_a_proforma_and_waits(company, people, card) -> None:
    order = factories.submitted(
        company, people["purchaser"], card=card, payment_method="bank_transfer"
    )
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert order.proforma.kind == Invoice.Kind.PROFORMA
    assert order.proforma.payment_reference.startswith("EC")
    assert order.invoice is None
    assert actions(order)[-1] == CardsAction.ORDER_AWAITING_PAYMENT


def test_paying_the_proforma_funds_the_order_exactly_once(company, people, card) -> None:
    order = factories.submitted(
        company, people["purchaser"], card=card, payment_method="bank_transfer"
    )
    first = proforma_mark_paid(proforma=order.proforma, actor=None)
    second = proforma_mark_paid(proforma=order.proforma, actor=None)
    assert first == second
    # The follow-up queued on commit funds the order; run twice, it funds it once.
    factories.run_funding_follow_ups()
    order_fund_from_proforma(proforma_id=order.proforma_id, invoice_id=first.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert order.invoice == first
    assert Invoice.objects.filter(kind=Invoice.Kind.INVOICE).count() == 1
    assert AuditEvent.objects.filter(action=CardsAction.ORDER_FUNDED).count() == 1


def test_a_prepay_order_needs_no_credit_line(people, card) -> None:
    company = factories.company()
    purchaser = factories.member(company, Role.PURCHASER)
    order = factories.submitted(company, purchaser, card=card, payment_method="bank_transfer")
    assert order.status == OrderStatus.AWAITING_PAYMENT


# --- Cancelling ----------------------------------------------------------------------------------


def test_cancelling_a_funded_credit_order_voids_its_invoice_with_a_credit_note(
    company, people, card
) -> None:
    order = factories.submitted(company, people["purchaser"], card=card)
    order = order_cancel(order=order, actor=people["purchaser"], reason="Wrong quantity")
    assert order.status == OrderStatus.CANCELLED
    invoice = Invoice.objects.get(kind=Invoice.Kind.INVOICE)
    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    assert invoice.status == Invoice.Status.VOID
    assert (note.credited_invoice, note.total) == (invoice, invoice.total)
    event = AuditEvent.objects.get(action=CardsAction.ORDER_CANCELLED)
    assert event.changes == {"reason": "Wrong quantity", "credit_note": note.number}


def test_cancelling_an_order_awaiting_payment_withdraws_the_proforma(company, people, card) -> None:
    order = factories.submitted(
        company, people["purchaser"], card=card, payment_method="bank_transfer"
    )
    order_cancel(order=order, actor=people["purchaser"], reason="Paid by mistake twice")
    order.proforma.refresh_from_db()
    assert order.proforma.status == Invoice.Status.VOID
    assert not Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).exists()


def test_cancelling_an_order_in_review_releases_its_held_credit(
    company, people, card, settings: Settings
) -> None:
    settings.ORDER_PLATFORM_LIMIT = Decimal("3000.00")
    order = factories.submitted(company, people["purchaser"], card=card, quantity=30)
    order_cancel(order=order, actor=people["owner"], reason="No longer needed")
    assert CreditReservation.objects.get(reference=order.number).released_at is not None


def test_cancelling_needs_a_reason(company, people, card) -> None:
    order = draft(company, people["purchaser"], card)
    with pytest.raises(ValidationError, match="Give a reason"):
        order_cancel(order=order, actor=people["purchaser"], reason=" ")


def test_once_cards_are_being_generated_the_order_cannot_be_cancelled(
    company, people, card
) -> None:
    order = factories.submitted(company, people["purchaser"], card=card)
    order_begin_fulfilment(order_id=order.pk)
    with pytest.raises(OrderStateError, match="can no longer be cancelled"):
        order_cancel(order=order, actor=people["owner"], reason="too late")
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLING
    assert Invoice.objects.get(kind=Invoice.Kind.INVOICE).status == Invoice.Status.OPEN


def test_a_purchaser_cannot_cancel_someone_elses_order_but_an_operator_can(
    company, people, card, ops
) -> None:
    order = draft(company, people["owner"], card)
    with pytest.raises(PermissionDenied, match="creator or an owner"):
        order_cancel(order=order, actor=people["purchaser"], reason="not mine")
    assert order_cancel(order=order, actor=ops, reason="duplicate").status == "cancelled"


def test_a_cancelled_order_cannot_be_cancelled_again(company, people, card) -> None:
    order = draft(company, people["purchaser"], card)
    order_cancel(order=order, actor=people["purchaser"], reason="dup")
    with pytest.raises(OrderStateError):
        order_cancel(order=order, actor=people["purchaser"], reason="dup")


# --- Hand-off to issuance ------------------------------------------------------------------------


def test_fulfilment_begins_once_for_a_funded_order(company, people, card) -> None:
    order = factories.submitted(company, people["purchaser"], card=card)
    assert order_begin_fulfilment(order_id=order.pk).status == OrderStatus.FULFILLING
    assert order_begin_fulfilment(order_id=order.pk).status == OrderStatus.FULFILLING
    assert AuditEvent.objects.filter(action=CardsAction.ORDER_FULFILMENT_STARTED).count() == 1
    assert order_begin_fulfilment(order_id=0) is None


def test_an_order_not_yet_funded_does_not_begin_fulfilment(company, people, card) -> None:
    order = draft(company, people["purchaser"], card)
    assert order_begin_fulfilment(order_id=order.pk).status == OrderStatus.DRAFT
