"""How often, and when, an order's codes may be downloaded as a file: the one home of the
download allowance (``CODE_DOWNLOAD_LIMIT``) and of the refusals' wording, read by the order
page, the download page, the API and ``code_export_start`` (under the order's row lock)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from cards.models import Card, CodeDownload, DeliveryMethod, Order, OrderStatus

DOWNLOADABLE_STATUSES = (OrderStatus.FULFILLED, OrderStatus.DELIVERED)


def code_download_refusal(order: Order) -> str:
    """Why the order's codes cannot be downloaded as a file now ("" when they can, the limit
    aside)."""
    if order.delivery_method != DeliveryMethod.FILE:
        return _(
            "The codes of order %(number)s are sent to each recipient, not delivered as a file."
        ) % {"number": order.number}
    if order.status not in DOWNLOADABLE_STATUSES:
        return _(
            "Order %(number)s is %(status)s: its codes can be downloaded once all its cards are "
            "ready."
        ) % {"number": order.number, "status": order.get_status_display()}
    return ""


@dataclass(frozen=True)
class DownloadAllowance:
    """The one rule of how many times an order's codes may be downloaded as a file
    (``CODE_DOWNLOAD_LIMIT``), read the same way by the order page, the download page, the API
    and ``code_export_start`` (which reads it again under the order's row lock)."""

    limit: int
    downloads: list[CodeDownload]  # earliest first

    @property
    def used(self) -> int:
        return len(self.downloads)

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit

    @property
    def newest_first(self) -> list[CodeDownload]:
        return self.downloads[::-1]


def code_download_allowance(order: Order) -> DownloadAllowance:
    downloads = list(
        CodeDownload.objects.filter(order=order).select_related("user").order_by("created_at", "id")
    )
    # Each card reissued or exchanged in the order (a new code in the file) allows one more.
    reissued = Card.objects.filter(batch__order=order, reissued_from__isnull=False).count()
    return DownloadAllowance(limit=settings.CODE_DOWNLOAD_LIMIT + reissued, downloads=downloads)


def code_download_exhausted_message(order: Order, allowance: DownloadAllowance) -> str:
    """Why no download is left: how many, the most allowed, and who downloaded when."""
    return _limit_message(order, allowance.downloads, allowance.limit)


def _limit_message(order: Order, earlier: list[CodeDownload], limit: int) -> str:
    who = "; ".join(
        _("%(who)s on %(when)s")
        % {
            "who": download.user.email,
            "when": formats.date_format(timezone.localtime(download.created_at), "Y-m-d H:i"),
        }
        for download in earlier
    )
    return _(
        "The codes of order %(number)s have already been downloaded %(count)s times, the most "
        "allowed (%(limit)s): by %(who)s. Ask whoever downloaded them for the file, or contact "
        "the issuer's support."
    ) % {
        "number": order.number,
        "count": len(earlier),
        "limit": limit,
        "who": who,
    }
