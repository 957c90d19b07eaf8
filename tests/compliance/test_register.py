"""The real-name register (issue 17, report 3): what it lists, the retention clock, legal holds
and the purge, judged by the services and by the database's own refusals."""

from __future__ import annotations

import datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from cards.audit import RegisterAction
from cards.models import LegalHold, Order, PaymentMethod, PurchaseRegistration
from cards.register import add_years, registration_retention
from cards.services.register import (
    legal_hold_place,
    legal_hold_release,
    register_purge,
    registration_delete,
)
from compliance.content import Period
from compliance.kinds import REPORT_KINDS
from portal import days
from portal.errors import DomainError, StateConflict
from portal.models import AuditEvent, User
from tests import factories
from tests.cards.expiry.helpers import bearer_product, registered_product

from .helpers import backdated, buyer, line, ordered, paid_by_transfer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

SIX_YEARS_AGO = datetime.timedelta(days=6 * 366)


@pytest.fixture
def ops() -> User:
    return User.objects.create_user(
        "register-ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )


def content_for(start: datetime.date, end: datetime.date):
    return REPORT_KINDS["register"].compute(Period(start=start, end=end))


def figures(content) -> dict:
    return {figure.key: figure.value for figure in content.figures}


def test_the_register_lists_registered_and_large_purchases_with_masked_ids_and_the_payer() -> None:
    registered, large, small = buyer("实名企业"), buyer("大额企业"), buyer("小额企业")
    id_a = factories.resident_id("11010519491231002")
    id_b = factories.resident_id("31010419800101123")
    # Registered cards on credit, a bearer order of 10,000 paid by transfer, a small bearer one.
    first = ordered(
        registered, [line(registered_product(), "1000", 2)], registered=True, id_number=id_a
    )
    second = ordered(
        large,
        [line(bearer_product(), "1000", 10)],
        registered=True,
        id_number=id_b,
        payment_method=PaymentMethod.BANK_TRANSFER,
    )
    paid_by_transfer(second, payer_account="6222 0000 1111 2222", reference="B-REG-1")
    ordered(small, [line(bearer_product(), "500", 1)])

    today = days.today()
    content = content_for(today, today)

    numbers = figures(content)
    assert numbers["entries"] == 2
    assert numbers["registered_card_purchases"] == 1
    assert numbers["large_purchases"] == 1
    assert numbers["companies"] == 2
    assert numbers["missing_registrations"] == 0
    (table,) = content.tables
    rows = {row[1]: row for row in table.rows}
    assert set(rows) == {first.number, second.number}
    reg_b = PurchaseRegistration.objects.get(orders=second)
    row = rows[second.number]
    assert row[5] == "大额企业"
    assert row[6] == large.company.credit_code
    assert row[7] == "王小明"
    assert row[9] == reg_b.id_number_masked
    assert row[10] == "13800138000"
    assert "6222000011112222" in row[11]
    assert row[12] == add_years(today, 5)
    assert rows[first.number][11] == ""  # on credit, not paid yet
    text = repr(content)
    assert id_a not in text
    assert id_b not in text


def test_a_registration_is_kept_five_years_after_its_purchase_and_the_database_agrees(
    ops,
) -> None:
    who = buyer()
    order = ordered(who, [line(registered_product(), "1000", 1)], registered=True)
    registration = PurchaseRegistration.objects.get(orders=order)
    kept_until, held = registration_retention(registration)
    today = days.today()
    assert kept_until == add_years(today, 5)
    assert held is False

    with pytest.raises(StateConflict) as refused:
        registration_delete(registration=registration, operator=ops, reason="tidy up")
    assert refused.value.code == "retention"

    # Even straight in the database: the trigger refuses the delete and the unlinking.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM cards_purchaseregistration WHERE id = %s", [registration.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(registration=None)
    with pytest.raises(DatabaseError), transaction.atomic():
        PurchaseRegistration.objects.filter(pk=registration.pk).update(agent_name="X")
    assert PurchaseRegistration.objects.filter(pk=registration.pk).exists()
    assert register_purge(operator=ops, reason="yearly purge") == 0


def test_the_purge_deletes_only_what_is_past_retention_and_not_held(ops) -> None:
    long_ago = timezone.now() - SIX_YEARS_AGO
    old, held_company, recent = buyer("旧企业"), buyer("冻结企业"), buyer("新企业")
    with backdated(long_ago):
        old_order = ordered(old, [line(registered_product(), "1000", 1)], registered=True)
        held_order = ordered(held_company, [line(registered_product(), "1000", 1)], registered=True)
    # Recorded six years ago, but bought with today: kept five years from today.
    with backdated(long_ago):
        from cards.services.orders import order_create

        draft = order_create(
            company=recent.company,
            actor=recent.people["purchaser"],
            lines=[line(registered_product(), "1000", 1)],
            registration=factories.registration(),
        )
    from cards.services.workflow import order_submit

    recent_order = order_submit(order=draft, actor=recent.people["purchaser"])
    assert recent_order.registration is not None
    assert recent_order.registration.created_at < timezone.now() - SIX_YEARS_AGO / 2

    hold = legal_hold_place(operator=ops, company=held_company.company, reason="Court inquiry 17")
    held_registration = PurchaseRegistration.objects.get(orders=held_order)
    with pytest.raises(StateConflict) as refused:
        registration_delete(registration=held_registration, operator=ops, reason="past retention")
    assert refused.value.code == "legal_hold"
    with pytest.raises(DatabaseError), transaction.atomic():
        Order.objects.filter(pk=held_order.pk).update(registration=None)

    assert register_purge(operator=ops, reason="yearly purge") == 1

    old_order.refresh_from_db()
    assert old_order.registration_id is None
    assert not PurchaseRegistration.objects.filter(company=old.company).exists()
    assert PurchaseRegistration.objects.filter(pk=held_registration.pk).exists()
    assert PurchaseRegistration.objects.filter(orders=recent_order).exists()
    purged = AuditEvent.objects.get(action=RegisterAction.PURGED)
    assert purged.changes["orders"] == [old_order.number]
    assert purged.actor == ops

    # Released (audited), the held registration goes at the next purge.
    legal_hold_release(hold=hold, operator=ops, reason="Inquiry closed")
    with pytest.raises(StateConflict):
        legal_hold_release(hold=hold, operator=ops, reason="again")
    assert register_purge(operator=ops, reason="yearly purge") == 1
    assert not PurchaseRegistration.objects.filter(pk=held_registration.pk).exists()
    hold.refresh_from_db()
    assert hold.registration is None
    assert hold.released_by == ops
    actions = list(
        AuditEvent.objects.filter(action__startswith="registration.hold").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == [RegisterAction.HOLD_PLACED, RegisterAction.HOLD_RELEASED]


def test_a_hold_on_one_registration_keeps_it_and_a_hold_needs_a_reason(ops) -> None:
    long_ago = timezone.now() - SIX_YEARS_AGO
    who = buyer()
    with backdated(long_ago):
        order = ordered(who, [line(registered_product(), "1000", 1)], registered=True)
    registration = PurchaseRegistration.objects.get(orders=order)
    with pytest.raises(DomainError):
        legal_hold_place(operator=ops, registration=registration, reason="  ")
    legal_hold_place(operator=ops, registration=registration, reason="Tax audit")
    assert LegalHold.objects.filter(registration=registration, released_at=None).count() == 1
    assert register_purge(operator=ops, reason="yearly purge") == 0
    with pytest.raises(DatabaseError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(registration=None)
    assert registration_retention(registration)[1] is True


def test_buyers_cannot_delete_or_reveal(ops) -> None:
    from django.core.exceptions import PermissionDenied

    from cards.services.register import registration_reveal_id

    who = buyer()
    order = ordered(who, [line(registered_product(), "1000", 1)], registered=True)
    registration = PurchaseRegistration.objects.get(orders=order)
    owner = who.people["owner"]
    with pytest.raises(PermissionDenied):
        registration_reveal_id(registration=registration, operator=owner, reason="curious")
    with pytest.raises(PermissionDenied):
        register_purge(operator=owner, reason="purge")
    assert (
        registration_reveal_id(registration=registration, operator=ops, reason="Police inquiry 42")
        == factories.resident_id()
    )
    event = AuditEvent.objects.get(action=RegisterAction.ID_NUMBER_SHOWN)
    assert event.changes == {
        "id_number": registration.id_number_masked,
        "reason": "Police inquiry 42",
    }


def test_the_application_role_may_delete_registrations_and_the_trigger_decides() -> None:
    """Registrations are not an append-only table for the role grants (portal.db_roles): the
    application role holds DELETE, so the purge works in production, and the retention trigger,
    which binds a role that owns nothing, refuses what is kept."""
    from portal.db_roles import role_grants_apply

    granted = role_grants_apply()
    assert granted is not None
    assert "cards_purchaseregistration" not in granted.append_only
    assert "cards_cardtransaction" in granted.append_only
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT has_table_privilege(%s, 'cards_purchaseregistration', 'DELETE'), "
            "has_table_privilege(%s, 'cards_legalhold', 'INSERT')",
            [granted.role, granted.role],
        )
        assert cursor.fetchone() == (True, True)
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'cards_purchaseregistration'::regclass "
            "AND NOT tgisinternal"
        )
        assert [row[0] for row in cursor.fetchall()] == ["cards_purchaseregistration_retention"]
