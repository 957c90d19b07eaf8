"""POST /api/v1/orders/{number}/codes: the encrypted archive of an order's codes, for a key with
the codes:export scope of an owner or finance member, under the password the client chose."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import pyzipper
from django.core.exceptions import ValidationError

from cards import codes
from cards.models import Card, CodeDownload, Order
from cards.services.code_export import CodeExportAction
from portal import policy
from portal.models import ApiKey, AuditEvent, Membership, Role
from tests import factories
from tests.api.helpers import Api, Buyer, buyer, key_for
from tests.cards.test_code_download import fulfilled_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

PASSWORD = "correct-Horse-battery-7"
EXPORT = ApiKey.Scope.CODES_EXPORT


@pytest.fixture
def shop(settings: Any) -> tuple[Buyer, Order]:
    settings.ISSUANCE_CHUNK_SIZE = 4
    seller = buyer(approval_threshold="100000.00")
    order = fulfilled_order(seller.company, seller.people[Role.PURCHASER])
    return seller, order


def url(order: Order) -> str:
    return f"/api/v1/orders/{order.number}/codes"


def finance_api(seller: Buyer, scopes: list[str] | None = None) -> Api:
    return Api(key_for(seller.company, seller.people[Role.FINANCE], scopes))


def test_a_finance_key_with_the_scope_gets_the_archive_under_its_own_password(shop):
    seller, order = shop

    response = finance_api(seller, [EXPORT]).post(url(order), {"password": PASSWORD})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "no-store" in response["Cache-Control"]
    assert PASSWORD not in str(response.headers)
    with pyzipper.AESZipFile(io.BytesIO(response.getvalue())) as zf:
        zf.setpassword(PASSWORD.encode())
        data = zf.read(f"{order.number}-codes.csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))[1:]
    expected = {
        card.serial_display: codes.reveal(
            serial=card.serial_display, key_id=card.key_id, ciphertext=bytes(card.ciphertext)
        )
        for card in Card.objects.filter(batch__order=order)
    }
    assert all(row[0].endswith("\t") for row in rows)  # digit-only serials stay text
    assert {row[0].removesuffix("\t"): row[1] for row in rows} == expected

    download = CodeDownload.objects.get()
    assert download.via_api is True
    assert download.user == seller.people[Role.FINANCE]
    assert download.card_count == len(expected) == 5
    event = AuditEvent.objects.get(action=CodeExportAction.CODES_DOWNLOADED)
    assert event.changes["via_api"] is True
    assert PASSWORD not in repr(list(AuditEvent.objects.values()))
    assert PASSWORD not in repr(list(CodeDownload.objects.values()))


def test_a_wrong_password_does_not_open_it(shop):
    seller, order = shop
    response = finance_api(seller, [EXPORT]).post(url(order), {"password": PASSWORD})

    with pyzipper.AESZipFile(io.BytesIO(response.getvalue())) as zf:
        zf.setpassword(b"another-password-1")
        with pytest.raises(RuntimeError, match=r"(?i)password"):
            zf.read(f"{order.number}-codes.csv")


def test_a_key_without_the_scope_is_refused(shop):
    seller, order = shop
    finance = seller.company.memberships.get(user=seller.people[Role.FINANCE])
    scopes = [s for s in policy.scopes_for(finance) if s != EXPORT]

    response = finance_api(seller, scopes).post(url(order), {"password": PASSWORD})

    assert response.status_code == 403
    assert "codes:export" in response.json()["detail"]
    assert not CodeDownload.objects.exists()


@pytest.mark.parametrize("role", [Role.PURCHASER, Role.APPROVER, Role.VIEWER])
def test_only_owners_and_finance_get_a_key_that_exports(shop, role):
    seller, _order = shop
    with pytest.raises(ValidationError):
        key_for(seller.company, seller.people[role], [EXPORT])


def test_a_sole_owner_exports_the_codes_with_their_own_key(shop):
    """Issue 11, defect 13, through the API: an owner may do everything in their company."""
    seller, order = shop
    api = Api(key_for(seller.company, seller.people[Role.OWNER], [EXPORT]))

    response = api.post(url(order), {"password": PASSWORD})

    assert response.status_code == 200
    assert CodeDownload.objects.get().user == seller.people[Role.OWNER]


def test_an_export_key_stops_when_its_holder_loses_the_role(shop):
    seller, order = shop
    api = finance_api(seller, [EXPORT])
    Membership.objects.filter(user=seller.people[Role.FINANCE], company=seller.company).update(
        role=Role.PURCHASER
    )

    response = api.post(url(order), {"password": PASSWORD})

    assert response.status_code == 403
    assert "Only owners and finance members" in response.json()["detail"]
    assert not CodeDownload.objects.exists()


@pytest.mark.parametrize(
    "password", [None, "", "short-pw", "has spaces in it", "x" * 129, "密码密码密码密码密码密码"]
)
def test_the_client_must_choose_a_proper_password(shop, password):
    seller, order = shop
    body = {} if password is None else {"password": password}

    response = finance_api(seller, [EXPORT]).post(url(order), body)

    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    assert not CodeDownload.objects.exists()


def test_another_companys_order_is_not_found(shop):
    _seller, order = shop
    other = buyer()

    response = finance_api(other, [EXPORT]).post(url(order), {"password": PASSWORD})

    assert response.status_code == 404
    assert not CodeDownload.objects.exists()


def test_exports_count_against_the_download_limit(shop, settings):
    settings.CODE_DOWNLOAD_LIMIT = 1
    seller, order = shop
    api = finance_api(seller, [EXPORT])
    assert api.post(url(order), {"password": PASSWORD}).status_code == 200

    response = api.post(url(order), {"password": PASSWORD})

    assert response.status_code == 400
    assert "the most allowed (1)" in response.json()["detail"]
    assert seller.people[Role.FINANCE].email in response.json()["detail"]
    assert CodeDownload.objects.count() == 1


def test_an_order_whose_cards_are_not_ready_cannot_be_exported(shop):
    seller, _order = shop
    draft = factories.draft(seller.company, seller.people[Role.PURCHASER])

    response = finance_api(seller, [EXPORT]).post(url(draft), {"password": PASSWORD})

    assert response.status_code == 400
    assert "once all its cards are ready" in response.json()["detail"]


def test_the_schema_documents_the_export():
    schema = finance_api(buyer(), [EXPORT]).get("/api/schema/", format="json").json()
    operation = schema["paths"]["/api/v1/orders/{number}/codes"]["post"]
    assert "application/zip" in operation["responses"]["200"]["content"]
    assert operation["security"] == [{"ApiKey": []}]
