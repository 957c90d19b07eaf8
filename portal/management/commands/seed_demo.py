"""Create a demo company with one user per role and a staff operator, once, and print how to
sign in as each (password and TOTP secret). Safe to run again: it only prints the second time."""

from __future__ import annotations

import base64
import secrets
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


class Command(BaseCommand):
    help = "Create demo users and companies (development only) and print their credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError("Demo data is never created with PORTAL_ENV=production.")
        credentials_file = settings.VAR_DIR / "demo-users.txt"
        if Company.objects.filter(credit_code=DEMO_COMPANY[1]).exists():
            if credentials_file.exists():
                self.stdout.write(credentials_file.read_text())
            else:
                self.stdout.write("Demo data exists; its credentials file is gone.")
            return
        rows = self._create()
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
        return rows

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
