"""Order files, confirming: one draft order with every line, in one transaction, or nothing."""

# mypy: disable-error-code="union-attr, arg-type, index, misc"

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from billing.models import CompanyPricing
from cards.audit import CardsAction
from cards.models import CardProduct, Order, OrderLine, OrderStatus, OrderUpload, UploadStatus
from cards.services.uploads import UploadAction, upload_confirm, upload_discard
from portal.models import AuditEvent, Role
from tests import factories
from tests.cards.test_upload_check import ZH, csv_bytes, receive

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def company():
    return factories.company()


@pytest.fixture
def buyer(company):
    return factories.member(company, Role.PURCHASER)


@pytest.fixture
def card():
    return factories.product(name="京东礼品卡", face_values=["100", "200", "500", "1000"])


ROWS = [
    ZH,
    ["京东礼品卡", "100", "2", "张三", "13800138000", "zs@example.com", "E1", "HR", "生日"],
    ["京东礼品卡", "500", "", "=cmd|' /C calc'!A0", "", "", "", "", ""],
    ["", "", "", "", "", "", "", "", ""],
    ["京东礼品卡", "1,000.00", "1", "O\\Brien", "", "", "", "", ""],
]


def test_confirm_creates_one_draft_with_every_line_and_the_checked_totals(company, buyer, card):
    factories.pricing(company, CompanyPricing.Mode.DISCOUNT, "2.50")
    upload = receive(company, buyer, csv_bytes(ROWS))
    assert upload.status == UploadStatus.VALID

    order = upload_confirm(upload=upload, actor=buyer)

    order.refresh_from_db()
    assert order.status == OrderStatus.DRAFT
    assert order.created_by == buyer
    assert (order.line_count, order.card_count) == (3, 4)
    assert order.face_total == Decimal("1700.00")
    assert order.total == Decimal("1657.50") == Decimal(upload.result["total"])
    lines = list(order.lines.order_by("position"))
    assert [(line.position, line.face_value, line.quantity) for line in lines] == [
        (1, Decimal("100.00"), 2),
        (2, Decimal("500.00"), 1),
        (3, Decimal("1000.00"), 1),
    ]
    assert lines[0].unit_price == Decimal("97.5000")
    assert lines[0].amount == Decimal("195.00")
    assert lines[0].recipient_email == "zs@example.com"
    # Formula-looking text is stored as the text it is; a backslash survives COPY.
    assert lines[1].recipient_name == "=cmd|' /C calc'!A0"
    assert lines[2].recipient_name == "O\\Brien"
    upload.refresh_from_db()
    assert upload.status == UploadStatus.CONFIRMED
    assert upload.order == order
    assert AuditEvent.objects.filter(action=CardsAction.ORDER_CREATED, company=company).exists()
    assert AuditEvent.objects.filter(action=UploadAction.CONFIRMED, actor=buyer).exists()


def test_the_same_file_twice_is_refused_naming_the_earlier_order_unless_allowed(
    company, buyer, card
):
    data = csv_bytes(ROWS)
    first = upload_confirm(upload=receive(company, buyer, data), actor=buyer)
    second = receive(company, buyer, data)

    with pytest.raises(ValidationError) as caught:
        upload_confirm(upload=second, actor=buyer)

    assert caught.value.code == "duplicate_upload"
    assert first.number in caught.value.messages[0]
    assert Order.objects.count() == 1
    again = upload_confirm(upload=second, actor=buyer, allow_duplicate=True)
    assert again.pk != first.pk
    assert OrderLine.objects.filter(order=again).count() == 3


def test_a_file_with_errors_cannot_be_confirmed(company, buyer, card):
    upload = receive(company, buyer, csv_bytes([ZH, ["京东礼品卡", "0.001", "1"]]))

    with pytest.raises(ValidationError) as caught:
        upload_confirm(upload=upload, actor=buyer)

    assert caught.value.code == "not_valid"
    assert not Order.objects.exists()


def test_a_product_withdrawn_since_the_check_refuses_the_whole_file(company, buyer, card):
    other = factories.product(name="其他卡")
    upload = receive(
        company, buyer, csv_bytes([ZH, ["京东礼品卡", "100", "1"], ["其他卡", "200", "1"]])
    )
    CardProduct.objects.filter(pk=other.pk).update(active=False)

    with pytest.raises(ValidationError) as caught:
        upload_confirm(upload=upload, actor=buyer)

    assert caught.value.error_list[0].code == "catalog_changed"
    assert caught.value.messages[1] == "Row 3, product “Gift card”: not a product on sale."
    assert not Order.objects.exists()
    assert not OrderLine.objects.exists()
    upload.refresh_from_db()
    assert upload.status == UploadStatus.VALID


def test_a_face_value_no_longer_offered_refuses_the_file(company, buyer, card):
    upload = receive(company, buyer, csv_bytes([ZH, ["京东礼品卡", "500", "1"]]))
    CardProduct.objects.filter(pk=card.pk).update(face_values=["100"])

    with pytest.raises(ValidationError) as caught:
        upload_confirm(upload=upload, actor=buyer)

    assert caught.value.messages[1] == "Row 2, face value “500.00”: Gift card comes in 100."
    assert not Order.objects.exists()


def test_a_price_changed_since_the_check_is_shown_before_anything_is_ordered(company, buyer, card):
    """The buyer confirms the total the preview showed, never another one."""
    data = csv_bytes([ZH, ["京东礼品卡", "100", "10"]])
    upload = receive(company, buyer, data)
    factories.pricing(company, CompanyPricing.Mode.FEE, "1.00")

    with pytest.raises(ValidationError) as refused:
        upload_confirm(upload=upload, actor=buyer)

    assert refused.value.error_list[0].code == "catalog_changed"
    assert "¥1,000.00" in refused.value.messages[0]
    assert "¥1,010.00" in refused.value.messages[0]
    assert not Order.objects.exists()
    assert not OrderLine.objects.exists()
    again = receive(company, buyer, data)
    assert upload_confirm(upload=again, actor=buyer).total == Decimal("1010.00")


def test_an_approver_cannot_confirm_and_nothing_is_written(company, buyer, card):
    approver = factories.member(company, Role.APPROVER)
    upload = receive(company, buyer, csv_bytes(ROWS))

    with pytest.raises(PermissionDenied):
        upload_confirm(upload=upload, actor=approver)

    assert not Order.objects.exists()


def test_support_uploads_on_behalf_of_a_purchaser_who_owns_the_draft(company, buyer, card):
    operator = factories.operator()
    upload = receive(company, operator, csv_bytes(ROWS), on_behalf=True, for_member=buyer)
    assert upload.created_by == buyer
    assert upload.on_behalf

    order = upload_confirm(upload=upload, actor=operator)

    assert order.created_by == buyer
    event = AuditEvent.objects.get(action=UploadAction.CONFIRMED)
    assert event.actor == operator


def test_on_behalf_needs_staff_and_a_purchaser(company, buyer, card):
    with pytest.raises(PermissionDenied):
        receive(company, buyer, csv_bytes(ROWS), on_behalf=True, for_member=buyer)
    approver = factories.member(company, Role.APPROVER)
    with pytest.raises(PermissionDenied):
        receive(company, factories.operator(), csv_bytes(ROWS), on_behalf=True, for_member=approver)
    assert not OrderUpload.objects.exists()


def test_a_discarded_upload_cannot_be_confirmed(company, buyer, card):
    upload = receive(company, buyer, csv_bytes(ROWS))
    upload_discard(upload=upload, actor=buyer)

    with pytest.raises(ValidationError):
        upload_confirm(upload=upload, actor=buyer)
    with pytest.raises(ValidationError):
        upload_discard(upload=upload, actor=buyer)

    assert OrderUpload.objects.get().status == UploadStatus.DISCARDED
    assert not Order.objects.exists()


def test_recipients_delivery_is_kept_on_the_order(company, buyer, card):
    rows = [ZH, ["京东礼品卡", "100", "1", "张三", "13800138000"]]
    upload = receive(company, buyer, csv_bytes(rows), delivery_method="recipients")

    order = upload_confirm(upload=upload, actor=buyer)

    assert order.delivery_method == "recipients"
    assert order.lines.get().recipient_mobile == "13800138000"
