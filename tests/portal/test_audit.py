"""The audit trail: written by one service, refused any edit by the database, shown read-only."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.test import Client

from portal.models import AuditAction, AuditEvent, Company, Membership, Role, User
from portal.services.audit import audit_record
from portal.services.companies import company_create
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

CODE_A = "91350100M000100Y43"
CODE_B = "91110000100000000R"
ADMIN = "/" + settings.ADMIN_PATH


@pytest.fixture
def owner() -> User:
    return User.objects.create_user("owner@a.example", "Correct-Horse-42")


@pytest.fixture
def company_a(owner: User) -> Company:
    return company_create(legal_name="Alpha Trading Co., Ltd.", credit_code=CODE_A, owner=owner)


@pytest.fixture
def company_b() -> Company:
    other_owner = User.objects.create_user("owner@b.example", "Correct-Horse-42")
    return company_create(
        legal_name="Beta Supplies Co., Ltd.", credit_code=CODE_B, owner=other_owner
    )


@pytest.fixture
def event(owner: User, company_a: Company) -> AuditEvent:
    return audit_record(
        action=AuditAction.COMPANY_SWITCHED,
        actor=owner,
        company=company_a,
        obj=company_a,
        ip="203.0.113.9",
        changes={"note": "original"},
    )


def _as_stored(event: AuditEvent) -> tuple[object, ...]:
    row = AuditEvent.objects.get(pk=event.pk)
    return (row.action, row.actor_label, row.ip, row.changes, row.created_at, row.company_id)


# --- The writer ----------------------------------------------------------------------------------


def test_audit_record_appends_one_row_with_who_what_where(owner: User, company_a: Company) -> None:
    before = AuditEvent.objects.count()

    event = audit_record(
        action=AuditAction.COMPANY_SWITCHED,
        actor=owner,
        company=company_a,
        obj=company_a,
        ip="203.0.113.9",
        changes={"from": "x"},
    )

    assert AuditEvent.objects.count() == before + 1
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.action == "company.switched"
    assert stored.actor == owner
    assert stored.actor_label == "owner@a.example"
    assert stored.company == company_a
    assert stored.object_type == "portal.company"
    assert stored.object_id == str(company_a.public_id)
    assert stored.ip == "203.0.113.9"
    assert stored.changes == {"from": "x"}


def test_creating_a_company_leaves_a_trace_of_the_company_and_its_first_owner(
    owner: User, company_a: Company
) -> None:
    actions = set(AuditEvent.objects.filter(company=company_a).values_list("action", flat=True))
    assert actions == {"company.created", "membership.added"}


# --- The database refuses edits ------------------------------------------------------------------


def test_the_database_runs_postgresql_so_the_trigger_is_the_real_one() -> None:
    assert connection.vendor == "postgresql"


def test_saving_a_changed_event_is_refused_by_the_database(event: AuditEvent) -> None:
    original = _as_stored(event)
    event.action = "auth.login"
    event.changes = {"note": "forged"}

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.save()

    assert _as_stored(event) == original


def test_a_queryset_update_of_events_is_refused_by_the_database(event: AuditEvent) -> None:
    original = _as_stored(event)

    with pytest.raises(DatabaseError, match="UPDATE refused"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_label="someone-else@example.com")

    assert _as_stored(event) == original


def test_a_raw_sql_update_of_an_event_is_refused_by_the_database(event: AuditEvent) -> None:
    original = _as_stored(event)

    with (
        pytest.raises(DatabaseError, match="UPDATE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE portal_auditevent SET action = %s, ip = NULL WHERE id = %s",
            ["auth.login", event.pk],
        )

    assert _as_stored(event) == original


def test_deleting_an_event_through_the_orm_is_refused_by_the_database(event: AuditEvent) -> None:
    original = _as_stored(event)

    with pytest.raises(DatabaseError, match="DELETE refused"), transaction.atomic():
        event.delete()
    with pytest.raises(DatabaseError, match="DELETE refused"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert _as_stored(event) == original


def test_a_raw_sql_delete_of_events_is_refused_by_the_database(event: AuditEvent) -> None:
    count = AuditEvent.objects.count()

    with (
        pytest.raises(DatabaseError, match="DELETE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM portal_auditevent")

    assert AuditEvent.objects.count() == count
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_new_events_can_still_be_appended_after_a_refused_edit(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="x")

    audit_record(action=AuditAction.LOGOUT, actor_label="someone@example.com")

    assert AuditEvent.objects.filter(action="auth.logout").count() == 1


# --- The operations admin ------------------------------------------------------------------------


@pytest.fixture
def operator_client(client: Client) -> Client:
    operator = User.objects.create_superuser("ops@portal.example", "Correct-Horse-42")
    sign_in(client, operator, second_factor=True)
    return client


def test_operators_see_the_audit_list_in_the_admin(
    operator_client: Client, event: AuditEvent
) -> None:
    response = operator_client.get(f"{ADMIN}portal/auditevent/")

    assert response.status_code == 200
    assert "owner@a.example" in response.text
    assert "Alpha Trading Co., Ltd." in response.text


def test_operators_without_a_second_factor_get_the_admin_sign_in_instead(
    client: Client, event: AuditEvent
) -> None:
    operator = User.objects.create_superuser("ops@portal.example", "Correct-Horse-42")
    client.force_login(operator)

    response = client.get(f"{ADMIN}portal/auditevent/")

    assert response.status_code == 302
    assert response["Location"].startswith(f"{ADMIN}login/")


def test_the_admin_offers_no_way_to_add_change_or_delete_events(
    operator_client: Client, event: AuditEvent
) -> None:
    listing = operator_client.get(f"{ADMIN}portal/auditevent/")
    assert f"{ADMIN}portal/auditevent/add/" not in listing.text
    assert 'name="action"' not in listing.text  # no bulk "delete selected" action form

    change_page = operator_client.get(f"{ADMIN}portal/auditevent/{event.pk}/change/")
    assert change_page.status_code == 200
    assert "203.0.113.9" in change_page.text
    assert 'name="_save"' not in change_page.text
    assert f"{ADMIN}portal/auditevent/{event.pk}/delete/" not in change_page.text

    assert operator_client.get(f"{ADMIN}portal/auditevent/add/").status_code == 403
    assert operator_client.get(f"{ADMIN}portal/auditevent/{event.pk}/delete/").status_code == 403


def test_posting_to_the_admin_change_or_delete_page_changes_nothing(
    operator_client: Client, event: AuditEvent
) -> None:
    original = _as_stored(event)

    edit = operator_client.post(
        f"{ADMIN}portal/auditevent/{event.pk}/change/",
        {"action": "auth.login", "actor_label": "forged", "_save": "Save"},
    )
    delete = operator_client.post(f"{ADMIN}portal/auditevent/{event.pk}/delete/", {"post": "yes"})

    assert edit.status_code == 403
    assert delete.status_code == 403
    assert _as_stored(event) == original


# --- The portal's audit trail --------------------------------------------------------------------


def test_an_owner_sees_the_audit_trail_of_the_active_company_only(
    client: Client, owner: User, company_a: Company, company_b: Company, event: AuditEvent
) -> None:
    sign_in(client, owner, second_factor=True)

    response = client.get("/audit/")

    assert response.status_code == 200
    for own in AuditEvent.objects.filter(company=company_a):
        assert f"/audit/{own.public_id}/" in response.text
    other_events = AuditEvent.objects.filter(company=company_b)
    assert other_events.exists()
    for foreign in other_events:
        assert str(foreign.public_id) not in response.text
    assert "owner@b.example" not in response.text


def test_an_owner_opens_one_of_their_companys_events(
    client: Client, owner: User, event: AuditEvent
) -> None:
    sign_in(client, owner, second_factor=True)

    response = client.get(f"/audit/{event.public_id}/")

    assert response.status_code == 200
    assert "203.0.113.9" in response.text


def test_another_companys_event_is_not_found_even_for_an_owner(
    client: Client, owner: User, company_a: Company, company_b: Company
) -> None:
    sign_in(client, owner, second_factor=True)
    foreign = AuditEvent.objects.filter(company=company_b).first()
    assert foreign is not None

    response = client.get(f"/audit/{foreign.public_id}/")

    assert response.status_code == 404


def test_an_owner_who_has_not_passed_a_second_factor_is_sent_to_set_one_up(
    client: Client, owner: User, company_a: Company
) -> None:
    client.force_login(owner)

    response = client.get("/audit/")

    assert response.status_code == 302
    assert response["Location"].startswith("/2fa/setup/")


def test_a_purchaser_may_not_read_the_audit_trail(
    client: Client, company_a: Company, event: AuditEvent
) -> None:
    purchaser = User.objects.create_user("buyer@a.example", "Correct-Horse-42")
    Membership.objects.create(user=purchaser, company=company_a, role=Role.PURCHASER)
    client.force_login(purchaser)

    assert client.get("/audit/").status_code == 403
    assert client.get(f"/audit/{event.public_id}/").status_code == 403


def test_the_purchasers_dashboard_has_no_link_to_the_audit_trail(
    client: Client, company_a: Company
) -> None:
    purchaser = User.objects.create_user("buyer@a.example", "Correct-Horse-42")
    Membership.objects.create(user=purchaser, company=company_a, role=Role.PURCHASER)
    client.force_login(purchaser)

    response = client.get("/")

    assert response.status_code == 200
    assert 'href="/audit/"' not in response.text
