"""What the intake shares: the columns of an expense report, the fields of its JSON lines, and
the limits of what a check stores."""

from __future__ import annotations

# Field -> header aliases. The first two (Chinese, English) name a column in messages and head
# the template's columns; the field name itself (``amount``) is an alias too, and is the key of a
# JSON line.
EXPENSE_COLUMNS: dict[str, tuple[str, ...]] = {
    "report_number": (
        "报销单号",
        "Report number",
        "报销单编号",
        "单据编号",
        "单据号",
        "报销单",
        "report no",
        "expense report number",
        "claim number",
    ),
    "line_number": ("行号", "Line number", "明细行号", "序号", "line no", "line"),
    "employee_id": ("工号", "Employee ID", "员工编号", "员工号", "staff id", "employee number"),
    "employee_name": ("姓名", "Employee name", "员工姓名", "报销人", "name", "employee"),
    "expense_date": (
        "费用日期",
        "Expense date",
        "日期",
        "消费日期",
        "发生日期",
        "交易日期",
        "date",
        "transaction date",
    ),
    "amount": ("金额", "Amount", "报销金额", "费用金额", "claim amount"),
    "merchant_name": ("商户", "Merchant", "商户名称", "商家", "merchant name"),
    "merchant_reference": (
        "商户订单号",
        "Merchant order reference",
        "订单号",
        "交易单号",
        "merchant reference",
        "order reference",
        "merchant order number",
    ),
    "card_serial": (
        "卡号",
        "Card serial",
        "卡序列号",
        "card number",
        "serial",
        "card serial number",
    ),
    "card_last4": (
        "尾号",
        "Card last 4",
        "卡号后四位",
        "卡尾号",
        "后四位",
        "last 4",
        "card last four",
    ),
    "cost_center": ("成本中心", "Cost center", "部门", "cost centre", "department"),
    "category": ("费用类别", "Category", "费用类型", "类别", "expense category", "expense type"),
    "fapiao_number": ("发票号码", "Fapiao number", "发票号", "fapiao", "fapiao no"),
    "description": ("说明", "Description", "摘要", "事由", "备注", "note", "remark"),
}
# Columns a file must have (a JSON line must have these keys' values, see REQUIRED_VALUES).
REQUIRED_COLUMNS = {
    "report_number",
    "line_number",
    "employee_id",
    "employee_name",
    "expense_date",
    "amount",
    "cost_center",
    "category",
    "description",
}
# Cells that may not be empty on any line.
REQUIRED_VALUES = ("report_number", "line_number", "employee_id", "expense_date", "amount")
OPTIONAL_COLUMNS = tuple(name for name in EXPENSE_COLUMNS if name not in REQUIRED_COLUMNS)
TEMPLATE_HEADERS = {
    "zh-hans": [aliases[0] for aliases in EXPENSE_COLUMNS.values()],
    "en": [aliases[1] for aliases in EXPENSE_COLUMNS.values()],
}
# The longest text each field keeps (the model's columns).
MAX_LENGTHS = {
    "report_number": 64,
    "line_number": 32,
    "employee_id": 64,
    "employee_name": 100,
    "merchant_name": 200,
    "merchant_reference": 64,
    "cost_center": 64,
    "category": 64,
    "fapiao_number": 32,
    "description": 500,
}
MAX_STORED_ERRORS = 1000
MAX_STORED_NOTES = 200
PROGRESS_EVERY = 2000

# A claim line's own fields, in the order the check keeps them (COPY text) and writes them.
LINE_FIELDS = (
    "report_number",
    "line_number",
    "employee_id",
    "employee_name",
    "expense_date",
    "amount",
    "merchant_name",
    "merchant_reference",
    "card_serial",
    "card_last4",
    "cost_center",
    "category",
    "fapiao_number",
    "description",
)
