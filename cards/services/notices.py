"""The order notices: approval needed, rejected, cards ready. Each is sent once per order, with
no row locked while the mail goes out (``portal.notices.notice_send``; who is told is listed
in ``portal.notices``)."""

from __future__ import annotations

from cards.models import Order, OrderStatus
from portal.models import Role
from portal.notices import (
    Notice,
    NoticeMarker,
    notice_compose,
    notice_link,
    notice_recipients,
    notice_send,
)


def _order(order_id: int, status: str, marker: NoticeMarker) -> Order | str:
    order = Order.objects.select_related("company", "created_by").filter(pk=order_id).first()
    if order is None or order.status != status:
        return "skipped"
    if marker.is_set(order):
        return "already-sent"
    return order


def _notice(template: str, order: Order, to: list[str]) -> Notice:
    link = notice_link("cards:order_detail", number=order.number)
    subject, body = notice_compose(f"emails/{template}", {"order": order, "link": link})
    return Notice(to=to, subject=subject, body=body)


def order_approvers_notify(*, order_id: int) -> str:
    """Tell the approvers (without any, the owners) that an order waits for one of them; never
    its creator."""
    marker = NoticeMarker(Order, order_id, "approvers_notified_at")

    def prepare() -> Notice | str:
        order = _order(order_id, OrderStatus.PENDING_APPROVAL, marker)
        if isinstance(order, str):
            return order
        to = notice_recipients(
            order.company,
            roles=[Role.APPROVER],
            fallback_roles=[Role.OWNER],
            exclude_users=[order.created_by],
        )
        return _notice("order_approval_needed", order, to)

    return notice_send(prepare=prepare, marker=marker)


def order_rejection_notify(*, order_id: int) -> str:
    """Tell the order's creator that it was rejected, and why."""
    marker = NoticeMarker(Order, order_id, "creator_notified_at")

    def prepare() -> Notice | str:
        order = _order(order_id, OrderStatus.REJECTED, marker)
        if isinstance(order, str):
            return order
        to = notice_recipients(order.company, users=[order.created_by])
        return _notice("order_rejected", order, to)

    return notice_send(prepare=prepare, marker=marker)


def order_ready_notify(*, order_id: int) -> str:
    """Tell the order's creator and the finance members that the cards are ready."""
    marker = NoticeMarker(Order, order_id, "ready_notified_at")

    def prepare() -> Notice | str:
        order = _order(order_id, OrderStatus.FULFILLED, marker)
        if isinstance(order, str):
            return order
        to = notice_recipients(order.company, roles=[Role.FINANCE], users=[order.created_by])
        return _notice("order_ready", order, to)

    return notice_send(prepare=prepare, marker=marker)
