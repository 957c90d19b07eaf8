"""The operators' register pages: searchable, filtered by dates, masked in lists; a full ID
number only on its own page, for a reason, each view audited; no delete; legal holds."""

from __future__ import annotations

import datetime
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from cards.audit import RegisterAction
from cards.models import LegalHold, PurchaseRegistration
from portal import days
from portal.models import AuditEvent, User
from tests import factories
from tests.cards.expiry.helpers import registered_product
from tests.conftest import sign_in

from .helpers import buyer, line, ordered

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

LIST = "/ops/cards/purchaseregistration/"
EN = {"Accept-Language": "en"}
FULL_ID = factories.resident_id("44030519900307281")


@pytest.fixture
def ops() -> User:
    return User.objects.create_user(
        "register-admin@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )


@pytest.fixture
def admin_client(client: Client, ops: User) -> Client:
    sign_in(client, ops, second_factor=True)
    return client


@pytest.fixture
def registrations() -> dict[str, PurchaseRegistration]:
    found = {}
    for name, id_number in (("深圳甲企业", FULL_ID), ("北京乙企业", factories.resident_id())):
        who = buyer(name)
        order = ordered(
            who, [line(registered_product(), "1000", 1)], registered=True, id_number=id_number
        )
        found[name] = PurchaseRegistration.objects.get(orders=order)
    return found


def text(response) -> str:
    assert response.status_code == HTTPStatus.OK, response.status_code
    return response.content.decode()


def test_the_list_is_searchable_and_shows_only_masked_ids(admin_client, registrations) -> None:
    target = registrations["深圳甲企业"]
    page = text(admin_client.get(LIST, headers=EN))
    assert target.id_number_masked in page
    assert FULL_ID not in page
    assert "北京乙企业" in page

    by_code = text(admin_client.get(LIST, {"q": target.credit_code}, headers=EN))
    assert "深圳甲企业" in by_code
    assert "北京乙企业" not in by_code
    by_agent = text(admin_client.get(LIST, {"q": "王小明"}, headers=EN))
    assert "深圳甲企业" in by_agent
    order_number = target.orders.get().number
    by_order = text(admin_client.get(LIST, {"q": order_number}, headers=EN))
    assert "深圳甲企业" in by_order
    assert "北京乙企业" not in by_order

    today = days.today()
    in_range = text(
        admin_client.get(
            LIST, {"recorded_from": today.isoformat(), "recorded_to": today.isoformat()}
        )
    )
    assert "深圳甲企业" in in_range
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    later = text(admin_client.get(LIST, {"recorded_from": tomorrow}))
    assert "深圳甲企业" not in later

    detail = text(admin_client.get(f"{LIST}{target.pk}/change/", headers=EN))
    assert FULL_ID not in detail
    assert "Show the full ID number" in detail


def test_the_full_id_number_asks_for_a_reason_and_every_view_is_audited(
    admin_client, ops, registrations
) -> None:
    target = registrations["深圳甲企业"]
    url = f"{LIST}{target.pk}/id-number/"
    form = text(admin_client.get(url, headers=EN))
    assert FULL_ID not in form
    assert "audit" in form

    refused = text(admin_client.post(url, {"reason": ""}, headers=EN))
    assert FULL_ID not in refused
    assert not AuditEvent.objects.filter(action=RegisterAction.ID_NUMBER_SHOWN).exists()

    for reason in ("Police inquiry 2026-118", "Regulator sample check"):
        response = admin_client.post(url, {"reason": reason}, headers=EN)
        assert FULL_ID in text(response)
        assert "no-store" in response["Cache-Control"]
    events = list(AuditEvent.objects.filter(action=RegisterAction.ID_NUMBER_SHOWN).order_by("id"))
    assert [event.changes["reason"] for event in events] == [
        "Police inquiry 2026-118",
        "Regulator sample check",
    ]
    assert all(event.actor == ops for event in events)
    assert all(event.object_id == str(target.public_id) for event in events)
    assert all(FULL_ID not in str(event.changes) for event in events)


def test_an_operator_without_the_permission_sees_no_full_id(client, registrations) -> None:
    clerk = User.objects.create_user("clerk@issuer.example", "Correct-Horse-42", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_purchaseregistration"))
    sign_in(client, clerk, second_factor=True)
    target = registrations["深圳甲企业"]
    assert client.get(f"{LIST}{target.pk}/change/").status_code == HTTPStatus.OK
    response = client.post(f"{LIST}{target.pk}/id-number/", {"reason": "curious"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not AuditEvent.objects.filter(action=RegisterAction.ID_NUMBER_SHOWN).exists()


def test_nothing_is_deleted_from_the_admin(admin_client, registrations) -> None:
    target = registrations["深圳甲企业"]
    response = admin_client.post(f"{LIST}{target.pk}/delete/", {"post": "yes"})
    assert response.status_code in (HTTPStatus.FORBIDDEN, HTTPStatus.FOUND)
    assert PurchaseRegistration.objects.filter(pk=target.pk).exists()
    page = text(admin_client.get(LIST, headers=EN))
    assert "delete_selected" not in page

    # The purge page deletes only what is past retention: nothing here.
    text(admin_client.get(f"{LIST}purge/", headers=EN))
    admin_client.post(f"{LIST}purge/", {"reason": "Yearly purge"}, headers=EN)
    assert PurchaseRegistration.objects.count() == 2


def test_a_hold_is_placed_and_released_with_reasons(admin_client, ops, registrations) -> None:
    target = registrations["北京乙企业"]
    response = admin_client.post(
        f"{LIST}{target.pk}/hold/", {"reason": "Court order 7"}, headers=EN
    )
    assert response.status_code == HTTPStatus.FOUND
    hold = LegalHold.objects.get(registration=target)
    assert hold.reason == "Court order 7"
    assert hold.placed_by == ops

    company_hold = admin_client.post(
        "/ops/cards/legalhold/add/",
        {"company": target.company_id, "reason": "Litigation"},
        headers=EN,
    )
    assert company_hold.status_code == HTTPStatus.FOUND
    assert LegalHold.objects.filter(company=target.company, released_at=None).count() == 1

    page = text(admin_client.get(f"/ops/cards/legalhold/{hold.pk}/change/", headers=EN))
    assert "Release the hold" in page
    released = admin_client.post(
        f"/ops/cards/legalhold/{hold.pk}/release/", {"reason": "Order lifted"}, headers=EN
    )
    assert released.status_code == HTTPStatus.FOUND
    hold.refresh_from_db()
    assert hold.released_by == ops
    assert hold.release_reason == "Order lifted"
    assert AuditEvent.objects.filter(action=RegisterAction.HOLD_PLACED).count() == 2
    assert AuditEvent.objects.filter(action=RegisterAction.HOLD_RELEASED).count() == 1
