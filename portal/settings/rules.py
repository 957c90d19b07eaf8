"""Business rules operators tune: ordering, order files, card issuance and delivery, and the
platform's identity on invoices."""

from __future__ import annotations

from decimal import Decimal

from .base import IS_TEST, env

# --- Ordering rules (operators tune these; the prepaid-card regime's caps are fixed in code) ----

# Orders at or above this total go to an operator's risk review, whatever the company approved.
ORDER_PLATFORM_LIMIT = Decimal(env.str("ORDER_PLATFORM_LIMIT", default="500000.00"))
# Velocity: a company's submitted orders per local day, by count and by value.
ORDER_VELOCITY_MAX_COUNT = env.int("ORDER_VELOCITY_MAX_COUNT", default=20)
ORDER_VELOCITY_MAX_VALUE = Decimal(env.str("ORDER_VELOCITY_MAX_VALUE", default="1000000.00"))
# Structuring: this many orders on one day each within this fraction below a threshold.
ORDER_STRUCTURING_COUNT = env.int("ORDER_STRUCTURING_COUNT", default=3)
ORDER_STRUCTURING_MARGIN = Decimal(env.str("ORDER_STRUCTURING_MARGIN", default="0.10"))
# The split-purchase report (compliance/reports/structuring.py): orders from this amount up to
# just under the 10,000 CNY registration threshold count as "just under" it.
COMPLIANCE_STRUCTURING_BAND_FLOOR = Decimal(
    env.str("COMPLIANCE_STRUCTURING_BAND_FLOOR", default="9000.00")
)
ORDER_MAX_LINES = env.int("ORDER_MAX_LINES", default=200_000)
ORDER_MAX_QUANTITY = env.int("ORDER_MAX_QUANTITY", default=1_000_000)
# Order files (cards/services/uploads/, portal/tabular/): refused from their size before
# reading, and at the first row over the limit; files over the inline size are checked by a worker.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
UPLOAD_MAX_ROWS = env.int("UPLOAD_MAX_ROWS", default=200_000)
UPLOAD_INLINE_MAX_BYTES = env.int("UPLOAD_INLINE_MAX_BYTES", default=256 * 1024)
# XLSX zip bombs: total unpacked size, and unpacked / packed size of any member over 1 MB.
UPLOAD_XLSX_MAX_UNCOMPRESSED = env.int("UPLOAD_XLSX_MAX_UNCOMPRESSED", default=200 * 1024 * 1024)
UPLOAD_XLSX_MAX_RATIO = env.int("UPLOAD_XLSX_MAX_RATIO", default=100)
PROFORMA_PAY_DAYS = env.int("PROFORMA_PAY_DAYS", default=14)

# --- Card issuance -------------------------------------------------------------------------------

# Cards per chunk: one task and one transaction each. A worker holds one COPY block (2,000
# cards) at a time, so its memory does not grow with this; larger chunks mean fewer tasks, and
# Celery opens a database connection per task: 20,000 measured about 20% faster than 10,000
# per million cards (docs/benchmarks.md), and a crash loses at most one chunk's work per worker.
ISSUANCE_CHUNK_SIZE = env.int("ISSUANCE_CHUNK_SIZE", default=20_000)
# A chunk waiting longer than this, with no live transaction on it, is sent again.
ISSUANCE_STALE_SECONDS = env.int("ISSUANCE_STALE_SECONDS", default=120)
ISSUANCE_SWEEP_SECONDS = env.int("ISSUANCE_SWEEP_SECONDS", default=60)
ISSUANCE_MAX_ATTEMPTS = env.int("ISSUANCE_MAX_ATTEMPTS", default=5)
# Canary cards per batch (0: none; at most 100). Made when the batch is finalised, never delivered
# or shown to a buyer (docs/codes.md): a look-up of one at the merchant API freezes the key at once.
ISSUANCE_CANARIES_PER_BATCH = env.int("ISSUANCE_CANARIES_PER_BATCH", default=0)
# Delivery by file: how many times an order's codes can be downloaded, and how long a fresh
# two-factor check before a download counts as fresh.
CODE_DOWNLOAD_LIMIT = env.int("CODE_DOWNLOAD_LIMIT", default=3)
CODE_REVEAL_2FA_MINUTES = env.int("CODE_REVEAL_2FA_MINUTES", default=5)
# Delivery to recipients: days a one-time link stays valid, links sent per card (the first one
# and resends; a change of recipient sends one more), and changes of recipient per card.
RECIPIENT_LINK_DAYS = env.int("RECIPIENT_LINK_DAYS", default=30)
RECIPIENT_MAX_SENDS = env.int("RECIPIENT_MAX_SENDS", default=3)
RECIPIENT_MAX_CHANGES = env.int("RECIPIENT_MAX_CHANGES", default=2)
# Text messages (portal/sms.py): the console backend logs only the masked number; tests collect
# messages in memory.
SMS_BACKEND = env.str(
    "SMS_BACKEND",
    default="portal.sms.LocmemSmsBackend" if IS_TEST else "portal.sms.ConsoleSmsBackend",
)

# A funded order whose fulfilment has not started after this long is started by the issuance
# sweep (its message was lost), and reported by the nightly ledger check.
ORDER_FUNDED_STALE_SECONDS = env.int("ORDER_FUNDED_STALE_SECONDS", default=300)
# The seller on every invoice, and the account a pro-forma invoice asks buyers to pay into.
PLATFORM_LEGAL_NAME = env.str("PLATFORM_LEGAL_NAME", default="上海易卡预付卡服务有限公司")
PLATFORM_CREDIT_CODE = env.str("PLATFORM_CREDIT_CODE", default="91310000MA1K4ECP06")
PLATFORM_BANK_NAME = env.str("PLATFORM_BANK_NAME", default="招商银行上海分行营业部")
PLATFORM_BANK_ACCOUNT_NAME = env.str("PLATFORM_BANK_ACCOUNT_NAME", default=PLATFORM_LEGAL_NAME)
PLATFORM_BANK_ACCOUNT = env.str("PLATFORM_BANK_ACCOUNT", default="1219 0000 0000 0000 0001")

# --- Card service and merchant settlement (cards/services/card_service/, .../settlement.py) ---
# A void, a reissue or an exchange of a card holding more than this waits for a second operator.
CARD_SERVICE_SECOND_OPERATOR_ABOVE = Decimal(
    env.str("CARD_SERVICE_SECOND_OPERATOR_ABOVE", default="1000.00")
)
# The nightly settlement run computes the days up to yesterday this far back (a missed run is
# caught up; a paid settlement is never recomputed).
MERCHANT_SETTLEMENT_CATCH_UP_DAYS = env.int("MERCHANT_SETTLEMENT_CATCH_UP_DAYS", default=3)

# --- The cardholder's balance page (issue 15, buyer15) --------------------------------------------

# Once its code was shown, a recipient's link keeps opening the card's balance page (never the
# code again) for this many days after that: by default the shortest validity of a bearer card.
RECIPIENT_BALANCE_DAYS = env.int("RECIPIENT_BALANCE_DAYS", default=3 * 365 + 1)
# Requests to the balance page per window, per link and per client address (then 429).
CARDHOLDER_BALANCE_PER_LINK = env.int("CARDHOLDER_BALANCE_PER_LINK", default=30)
CARDHOLDER_BALANCE_PER_IP = env.int("CARDHOLDER_BALANCE_PER_IP", default=120)
CARDHOLDER_BALANCE_WINDOW_SECONDS = env.int("CARDHOLDER_BALANCE_WINDOW_SECONDS", default=15 * 60)

# --- Expense reports (expenses/services/intake/) --------------------------------------------------

# Reports larger than this (the file, or the JSON lines as sent) are checked and matched by a
# worker with live progress; smaller ones while the buyer waits. Files are read through the same
# reader and limits as order files (UPLOAD_MAX_BYTES, UPLOAD_MAX_ROWS).
EXPENSE_REPORT_INLINE_MAX_BYTES = env.int(
    "EXPENSE_REPORT_INLINE_MAX_BYTES", default=UPLOAD_INLINE_MAX_BYTES
)
