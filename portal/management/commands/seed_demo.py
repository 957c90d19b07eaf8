"""Create a demo company with one user per role and a staff operator, once, and print how to
sign in as each (password and TOTP secret). Safe to run again: it only prints the second time."""

from __future__ import annotations

import base64
import datetime
import secrets
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import Company, Membership, Role, User
from portal.services.auth import TOTP_DEVICE_NAME, user_needs_two_factor
from portal.services.companies import company_create

DEMO_COMPANY = ("示例科技有限公司", "91350100M000100Y43")
OTHER_COMPANY = ("另一家贸易有限公司", "91110000100000000R")
DEMO_DOMAIN = "demo.example"
# The demo catalog: (name, English name, card type, face values or (min, max, step), months).
DEMO_PRODUCTS: list[dict[str, Any]] = [
    {
        "name": "通用礼品卡",
        "name_en": "Gift card",
        "card_type": "bearer",
        "face_values": ["100.00", "200.00", "500.00", "1000.00"],
        "validity_months": 36,
        "description": "不记名电子卡，有效期 3 年。",  # noqa: RUF001
        "description_en": "Bearer e-card, valid 3 years.",
    },
    {
        "name": "员工福利卡（记名）",  # noqa: RUF001
        "name_en": "Employee benefit card (registered)",
        "card_type": "registered",
        "face_min": Decimal("100.00"),
        "face_max": Decimal("5000.00"),
        "face_step": Decimal("100.00"),
        "description": "记名电子卡，不设有效期。",  # noqa: RUF001
        "description_en": "Registered e-card, does not expire.",
    },
    {
        "name": "节日礼品卡",
        "name_en": "Holiday gift card",
        "card_type": "bearer",
        "face_values": ["50.00", "100.00", "300.00"],
        "validity_months": 48,
        "description": "",
    },
]
DEMO_CREDIT_LIMIT, DEMO_NET_DAYS, DEMO_GRACE_DAYS = Decimal("500000.00"), 30, 5
DEMO_DISCOUNT = Decimal("2.00")

# Expense reconciliation (issue 16): cards handed to three employees (the order lines carry their
# employee ids and cost centers), and what they spent with them at a demo merchant, dated in
# November 2026. The expense report samples of docs/expense-reports.md (docs/samples/,
# make_expense_samples.py) claim exactly this spend; tests/expenses/test_samples_match_demo.py
# proves it.
DEMO_EXPENSE_ORDER = "DEMO-EXPENSE-CARDS"  # the order's client reference
DEMO_EXPENSE_PRODUCT = "通用礼品卡"
DEMO_MERCHANT = "示例超市"
# (employee id, name, cost center, face value of the card)
DEMO_EMPLOYEES: list[tuple[str, str, str, str]] = [
    ("E0001", "张三", "人力资源部", "500.00"),
    ("E0002", "李四", "销售部", "500.00"),
    ("E0003", "王五", "销售部", "1000.00"),
]
# (employee id, day, amount, merchant order reference or "")
DEMO_SPEND: list[tuple[str, datetime.date, Decimal, str]] = [
    ("E0001", datetime.date(2026, 11, 3), Decimal("128.00"), "DEMO-20261103-001"),
    ("E0001", datetime.date(2026, 11, 5), Decimal("56.50"), ""),
    ("E0002", datetime.date(2026, 11, 10), Decimal("299.00"), "DEMO-20261110-007"),
    ("E0002", datetime.date(2026, 11, 12), Decimal("45.00"), ""),
    ("E0003", datetime.date(2026, 11, 18), Decimal("860.00"), "DEMO-20261118-012"),
    ("E0003", datetime.date(2026, 11, 20), Decimal("88.80"), ""),
]


class Command(BaseCommand):
    help = "Create demo users and companies (development only) and print their credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError("Demo data is never created with PORTAL_ENV=production.")
        credentials_file = settings.VAR_DIR / "demo-users.txt"
        if Company.objects.filter(credit_code=DEMO_COMPANY[1]).exists():
            # Demo data made before the catalog (or the expense demo) existed gets it now;
            # nothing is printed.
            company = Company.objects.get(credit_code=DEMO_COMPANY[1])
            self._ordering(company)
            self._expenses(company)
            if credentials_file.exists():
                self.stdout.write(credentials_file.read_text())
            else:
                self.stdout.write("Demo data exists; its credentials file is gone.")
            return
        rows = self._create()
        self._expenses(Company.objects.get(credit_code=DEMO_COMPANY[1]))
        text = self._render(rows)
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(text)
        credentials_file.chmod(0o600)
        self.stdout.write(text)

    @transaction.atomic
    def _create(self) -> list[tuple[str, str, str, str]]:
        rows: list[tuple[str, str, str, str]] = []

        def make_user(email: str, first: str, last: str, *, staff: bool = False) -> User:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(
                email=email,
                password=password,
                first_name=first,
                last_name=last,
                is_staff=staff,
                is_superuser=staff,
            )
            user._demo_password = password  # type: ignore[attr-defined]
            return user

        def finish(user: User, label: str) -> None:
            secret = ""
            if user_needs_two_factor(user):
                device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
                secret = base64.b32encode(device.bin_key).decode().rstrip("=")
            rows.append((label, user.email, user._demo_password, secret))  # type: ignore[attr-defined]

        owner = make_user(f"owner@{DEMO_DOMAIN}", "Wei", "Zhang")
        company = company_create(
            legal_name=DEMO_COMPANY[0],
            credit_code=DEMO_COMPANY[1],
            owner=owner,
            status=Company.Status.ACTIVE,
            contact_name="张伟",
            contact_email=owner.email,
            contact_phone="+86 21 5555 0100",
        )
        finish(owner, "owner")
        for role, first, last in [
            (Role.PURCHASER, "Na", "Li"),
            (Role.APPROVER, "Qiang", "Wang"),
            (Role.FINANCE, "Min", "Chen"),
            (Role.VIEWER, "Jing", "Liu"),
        ]:
            user = make_user(f"{role}@{DEMO_DOMAIN}", first, last)
            Membership.objects.create(user=user, company=company, role=role)
            finish(user, str(role))
        other_owner = make_user(f"owner@other.{DEMO_DOMAIN}", "Lei", "Zhao")
        company_create(
            legal_name=OTHER_COMPANY[0],
            credit_code=OTHER_COMPANY[1],
            owner=other_owner,
            status=Company.Status.ACTIVE,
        )
        finish(other_owner, "owner (other company)")
        operator = make_user(f"operator@{DEMO_DOMAIN}", "Ops", "Staff", staff=True)
        finish(operator, "operator (admin)")
        self._ordering(company, operator=operator)
        return rows

    @transaction.atomic
    def _ordering(self, company: Company, operator: User | None = None) -> None:
        """The catalog, the demo company's credit line and its discount. Each is created once;
        credit and pricing go through their audited services."""
        from billing.models import CompanyPricing, CreditLine
        from billing.services.credit import credit_line_set
        from billing.services.pricing import pricing_set
        from cards.models import CardProduct

        for fields in DEMO_PRODUCTS:
            if not CardProduct.objects.filter(name=fields["name"]).exists():
                product = CardProduct(**fields)
                product.full_clean()
                product.save()
        operator = operator or User.objects.filter(email=f"operator@{DEMO_DOMAIN}").first()
        if not CreditLine.objects.filter(company=company).exists():
            # Set by the seed itself (no operator): an operator's line this large would wait
            # for a second operator (KYC_CREDIT_LINE_DUAL_CONTROL_ABOVE).
            credit_line_set(
                company=company,
                limit=DEMO_CREDIT_LIMIT,
                net_days=DEMO_NET_DAYS,
                grace_days=DEMO_GRACE_DAYS,
                status="active",
                actor=None,
            )
        if not CompanyPricing.objects.filter(company=company).exists():
            pricing_set(company=company, mode="discount", rate=DEMO_DISCOUNT, actor=operator)

    def _expenses(self, company: Company) -> None:
        """The demo employees' cards (one order through the ordering services, its cards
        generated here rather than by a worker) and their spend, each made once."""
        from cards.models import Card, CardProduct, Chunk, Order, OrderStatus
        from cards.services import issuance
        from cards.services.orders import LineInput, order_create
        from cards.services.workflow import order_begin_fulfilment, order_submit

        order = Order.objects.filter(company=company, client_reference=DEMO_EXPENSE_ORDER).first()
        if order is None:
            purchaser = User.objects.get(email=f"purchaser@{DEMO_DOMAIN}")
            product = CardProduct.objects.get(name=DEMO_EXPENSE_PRODUCT)
            order = order_create(
                company=company,
                actor=purchaser,
                lines=[
                    LineInput(
                        product=product,
                        face_value=face,
                        quantity=1,
                        recipient_name=name,
                        employee_id=employee,
                        cost_center=cost_center,
                    )
                    for employee, name, cost_center, face in DEMO_EMPLOYEES
                ],
                client_reference=DEMO_EXPENSE_ORDER,
                note="Demo: employees' cards for expense reconciliation",
            )
            order = order_submit(order=order, actor=purchaser)
        if order.status == OrderStatus.FUNDED:
            order_begin_fulfilment(order_id=order.pk)
        for chunk_id in Chunk.objects.filter(batch__order=order).values_list("pk", flat=True):
            issuance.chunk_generate(chunk_id=chunk_id)
        for batch_id in order.batches.values_list("pk", flat=True):
            issuance.batch_finalise(batch_id=batch_id)
        cards = {
            card.batch.line.employee_id: card
            for card in Card.objects.filter(batch__order=order).select_related("batch__line")
        }
        if len(cards) == len(DEMO_EMPLOYEES):
            self._spend(cards)

    def _spend(self, cards: dict[str, Any]) -> None:
        """The demo spend, written as a redemption is (the card locked, its transaction with the
        day it happened, the ledger entry), each once (by its idempotency key)."""
        from zoneinfo import ZoneInfo

        from cards.models import CardTransaction, Merchant
        from cards.services.card_movements import card_lock, card_transaction_write
        from cards.services.spend.common import ledger_post_spend

        merchant = Merchant.objects.filter(name=DEMO_MERCHANT).first() or Merchant.objects.create(
            name=DEMO_MERCHANT,
            settlement_account_name=f"{DEMO_MERCHANT}有限公司",
            settlement_bank="中国银行上海分行",
            settlement_account_number="6216 6100 0000 0001",
        )
        shanghai = ZoneInfo("Asia/Shanghai")
        for number, (employee, day, amount, reference) in enumerate(DEMO_SPEND, start=1):
            key = f"demo-spend:{number}"
            if CardTransaction.objects.filter(idempotency_key=key).exists():
                continue
            with transaction.atomic():
                card = card_lock(cards[employee].pk)
                status_before = card.status
                written = card_transaction_write(
                    card=card,
                    kind=CardTransaction.Kind.REDEEM,
                    amount=-amount,
                    merchant=merchant,
                    merchant_reference=reference,
                    idempotency_key=key,
                    at=datetime.datetime.combine(day, datetime.time(12, 30), tzinfo=shanghai),
                )
                ledger_post_spend(
                    tx=written, merchant=merchant, to_merchant=amount, card_status=status_before
                )

    def _render(self, rows: list[tuple[str, str, str, str]]) -> str:
        lines = [
            "Demo users (development only). Sign in at /login/; the admin is at "
            f"/{settings.ADMIN_PATH}.",
            "Users with a TOTP secret need a code: add the secret to an authenticator app, or run",
            "  ./dev manage totp_code EMAIL",
            "",
            f"{'role':<24}{'email':<30}{'password':<20}TOTP secret",
        ]
        lines += [f"{r:<24}{e:<30}{p:<20}{s or '-'}" for r, e, p, s in rows]
        return "\n".join(lines) + "\n"
