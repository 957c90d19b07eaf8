"""Sign-in events and the second factor (TOTP)."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import TWO_FACTOR_ROLES, AuditAction, Membership, User
from portal.services.audit import audit_record, client_ip

TOTP_DEVICE_NAME = "authenticator"


def user_needs_two_factor(user: User) -> bool:
    """Staff, and anyone holding a role that moves money or reveals codes, must use TOTP."""
    if user.is_staff:
        return True
    return Membership.objects.filter(user=user, role__in=TWO_FACTOR_ROLES).exists()


def confirmed_totp_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


@transaction.atomic
def auth_login_succeeded(*, user: User, request: HttpRequest) -> None:
    audit_record(action=AuditAction.LOGIN, actor=user, ip=client_ip(request))


@transaction.atomic
def auth_login_failed(*, email: str, request: HttpRequest) -> None:
    user = User.objects.filter(email__iexact=email).first() if email else None
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        actor=user,
        actor_label=email[:254],
        ip=client_ip(request),
    )


@transaction.atomic
def auth_logout_recorded(*, user: User, request: HttpRequest) -> None:
    audit_record(action=AuditAction.LOGOUT, actor=user, ip=client_ip(request))


@transaction.atomic
def totp_device_start(*, user: User) -> TOTPDevice:
    """A fresh, unconfirmed device whose secret the user scans; replaces an unfinished one."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def pending_totp_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


@transaction.atomic
def totp_device_confirm(*, user: User, token: str, request: HttpRequest) -> bool:
    """Confirm the pending device with a code from the app; the session counts as verified."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None or not device.verify_token(token.strip()):
        return False
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit_record(action=AuditAction.TWO_FACTOR_ENABLED, actor=user, ip=client_ip(request))
    otp_login(request, device)
    request.session.cycle_key()
    return True


@transaction.atomic
def two_factor_verify(*, user: User, token: str, request: HttpRequest) -> bool:
    """Check a sign-in code. A code is accepted once: django-otp refuses a replayed one."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    if device is None:
        return False
    ok = device.verify_token(token.strip())
    if not ok:
        # Recorded after the failed check, whose throttling state must also persist.
        audit_record(action=AuditAction.TWO_FACTOR_FAILED, actor=user, ip=client_ip(request))
        return False
    otp_login(request, device)
    # A new session id once the second factor passes: a fixated id is worth nothing.
    request.session.cycle_key()
    audit_record(action=AuditAction.TWO_FACTOR_VERIFIED, actor=user, ip=client_ip(request))
    return True


@transaction.atomic
def totp_device_remove(*, user: User, request: HttpRequest) -> None:
    deleted, _ = TOTPDevice.objects.filter(user=user).delete()
    if deleted:
        audit_record(action=AuditAction.TWO_FACTOR_DISABLED, actor=user, ip=client_ip(request))
