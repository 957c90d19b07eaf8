"""What the order-file services share: the audit actions, the columns of an order file and the
limits of what a check stores."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy

from portal.models import register_audit_actions


class UploadAction(models.TextChoices):
    RECEIVED = "order_upload.received", gettext_lazy("Uploaded an order file")
    CONFIRMED = "order_upload.confirmed", gettext_lazy("Created an order from an order file")
    DISCARDED = "order_upload.discarded", gettext_lazy("Discarded an order file")


register_audit_actions(UploadAction)

# Field -> header aliases. The first two (Chinese, English) name a missing column in messages
# and head the template's columns.
ORDER_COLUMNS: dict[str, tuple[str, ...]] = {
    "product": (
        "产品",
        "Product",
        "商品",
        "卡种",
        "产品名称",
        "商品名称",
        "卡类型",
        "card",
        "card type",
    ),
    "face_value": ("面值", "Face value", "面额", "金额", "value", "amount", "denomination"),
    "quantity": ("数量", "Quantity", "张数", "卡数", "qty", "count", "cards"),
    "recipient_name": ("姓名", "Name", "收卡人", "收件人", "员工姓名", "recipient", "full name"),
    "mobile": ("手机", "Mobile", "手机号", "手机号码", "电话", "phone", "mobile number"),
    "email": ("邮箱", "Email", "电子邮箱", "邮件", "e-mail", "email address"),
    "employee_id": ("工号", "Employee ID", "员工编号", "员工号", "staff id", "employee number"),
    "cost_center": ("成本中心", "Cost center", "部门", "cost centre", "department"),
    "note": ("备注", "Note", "说明", "notes", "remark", "remarks", "comment"),
}
REQUIRED_COLUMNS = {"product", "face_value"}
TEMPLATE_HEADERS = {
    "zh-hans": [aliases[0] for aliases in ORDER_COLUMNS.values()],
    "en": [aliases[1] for aliases in ORDER_COLUMNS.values()],
}
MAX_STORED_ERRORS = 1000
MAX_STORED_NOTES = 200
PROGRESS_EVERY = 5000
