"""Portal pages of cards, by feature: the lists (catalog, orders, approvals), the order form, the
order page with its actions, issued cards and progress, delivery by file, delivery to recipients
and order files. ``cards/urls.py`` routes to the names re-exported here."""

from cards.views.cardholder import recipient_balance
from cards.views.cards import card_detail, card_list, order_cards, order_progress
from cards.views.delivery import code_archive, code_download
from cards.views.lists import approvals, catalog, order_export, order_list
from cards.views.order_form import order_create_view, order_edit
from cards.views.order_live import order_face_value, order_preview
from cards.views.order_page import (
    order_approve_view,
    order_cancel_view,
    order_detail,
    order_reject_view,
    order_submit_view,
)
from cards.views.recipient import (
    recipient_card,
    recipient_change,
    recipient_link,
    recipient_resend,
)
from cards.views.uploads import (
    upload_confirm_view,
    upload_detail,
    upload_discard_view,
    upload_errors_view,
    upload_list,
    upload_new,
    upload_progress_view,
    upload_template_view,
)

__all__ = [
    "approvals",
    "card_detail",
    "card_list",
    "catalog",
    "code_archive",
    "code_download",
    "order_approve_view",
    "order_cancel_view",
    "order_cards",
    "order_create_view",
    "order_detail",
    "order_edit",
    "order_export",
    "order_face_value",
    "order_list",
    "order_preview",
    "order_progress",
    "order_reject_view",
    "order_submit_view",
    "recipient_balance",
    "recipient_card",
    "recipient_change",
    "recipient_link",
    "recipient_resend",
    "upload_confirm_view",
    "upload_detail",
    "upload_discard_view",
    "upload_errors_view",
    "upload_list",
    "upload_new",
    "upload_progress_view",
    "upload_template_view",
]
