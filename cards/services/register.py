"""The real-name register's acts (operators only, each audited): showing one full ID number,
placing and releasing a legal hold, and deleting registrations past their retention.

A registration is kept at least five years from its last purchase (``cards.register``); the
database refuses an earlier delete too (cards/register_retention_sql.py). A legal hold in force
on a registration or on its company keeps it whatever its age.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cards.audit import RegisterAction
from cards.models import LegalHold, Order, PurchaseRegistration
from cards.register import purgeable, registration_retention
from cards.services.orders.registration import registration_id_number
from portal import days
from portal.errors import DomainError, StateConflict
from portal.models import Company, User
from portal.services.audit import audit_record

REVEAL_PERMISSION = "cards.view_full_id_number"
HOLD_PERMISSION = "cards.add_legalhold"


def _require_operator(actor: User, permission: str) -> None:
    if not (actor.is_active and actor.is_staff and actor.has_perm(permission)):
        raise PermissionDenied(_("Only an operator with the right permission can do this."))


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            {"reason": _("Give a reason; it is kept in the audit trail.")}, code="reason_required"
        )
    return reason[:500]


@transaction.atomic
def registration_reveal_id(
    *, registration: PurchaseRegistration, operator: User, reason: str, ip: str | None = None
) -> str:
    """The full ID number of one registration, for an operator who says why. Every call is an
    audit row (the masked number and the reason, never the number itself)."""
    _require_operator(operator, REVEAL_PERMISSION)
    reason = _require_reason(reason)
    number = registration_id_number(registration)
    audit_record(
        action=RegisterAction.ID_NUMBER_SHOWN,
        actor=operator,
        company=registration.company,
        obj=registration,
        ip=ip,
        changes={"id_number": registration.id_number_masked, "reason": reason},
    )
    return number


@transaction.atomic
def legal_hold_place(
    *,
    operator: User,
    reason: str,
    company: Company | None = None,
    registration: PurchaseRegistration | None = None,
    ip: str | None = None,
) -> LegalHold:
    """Keep a company's registrations, or one registration, until the hold is released."""
    _require_operator(operator, HOLD_PERMISSION)
    reason = _require_reason(reason)
    if (company is None) == (registration is None):
        raise DomainError(
            _("A legal hold is placed on one company or on one registration."),
            code="hold_subject",
        )
    if registration is not None:
        subject = _("Registration %(id)s (%(company)s, agent %(agent)s)") % {
            "id": registration.public_id,
            "company": registration.company_name,
            "agent": registration.agent_name,
        }
        holder = registration.company
    else:
        assert company is not None
        subject = _("Every registration of %(company)s (%(code)s)") % {
            "company": company.legal_name,
            "code": company.credit_code,
        }
        holder = company
    hold = LegalHold.objects.create(
        company=company,
        registration=registration,
        subject=subject[:300],
        reason=reason,
        placed_by=operator,
    )
    audit_record(
        action=RegisterAction.HOLD_PLACED,
        actor=operator,
        company=holder,
        obj=hold,
        ip=ip,
        changes={"held": hold.subject, "reason": reason},
    )
    return hold


@transaction.atomic
def legal_hold_release(
    *, hold: LegalHold, operator: User, reason: str, ip: str | None = None
) -> LegalHold:
    _require_operator(operator, HOLD_PERMISSION)
    reason = _require_reason(reason)
    locked = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if locked.released_at is not None:
        raise StateConflict(
            _("This legal hold was already released on %(date)s.")
            % {"date": days.local(locked.released_at).date()},
            code="hold_released",
        )
    locked.released_by = operator
    locked.released_at = timezone.now()
    locked.release_reason = reason
    locked.save(update_fields=["released_by", "released_at", "release_reason"])
    audit_record(
        action=RegisterAction.HOLD_RELEASED,
        actor=operator,
        company=locked.company
        or (locked.registration.company if locked.registration is not None else None),
        obj=locked,
        ip=ip,
        changes={"held": locked.subject, "reason": reason},
    )
    return locked


def _delete(registration: PurchaseRegistration, *, operator: User, reason: str) -> None:
    """Take the registration off its orders (the database allows it only past the retention and
    without a hold) and delete it; the audit row keeps no personal data."""
    orders = list(
        Order.objects.filter(registration=registration).order_by("pk").values_list("number")
    )
    Order.objects.filter(registration=registration).update(registration=None)
    audit_record(
        action=RegisterAction.PURGED,
        actor=operator,
        company=registration.company,
        obj=registration,
        changes={"orders": [number for (number,) in orders], "reason": reason},
    )
    registration.delete()


@transaction.atomic
def registration_delete(
    *,
    registration: PurchaseRegistration,
    operator: User,
    reason: str,
    today: datetime.date | None = None,
) -> None:
    """Delete one registration; refused before its retention ends and while a hold covers it."""
    _require_operator(operator, "cards.delete_purchaseregistration")
    reason = _require_reason(reason)
    locked = PurchaseRegistration.objects.select_for_update().get(pk=registration.pk)
    kept_until, held = registration_retention(locked)
    if held:
        raise StateConflict(
            _(
                "The registration of %(company)s is under a legal hold; it is kept until the hold "
                "is released."
            )
            % {"company": locked.company_name},
            code="legal_hold",
        )
    if (today or days.today()) <= kept_until:
        raise StateConflict(
            _(
                "The registration of %(company)s is kept until %(date)s (five years after its last "
                "purchase); it cannot be deleted before."
            )
            % {"company": locked.company_name, "date": kept_until},
            code="retention",
        )
    _delete(locked, operator=operator, reason=reason)


@transaction.atomic
def register_purge(
    *, operator: User, reason: str, today: datetime.date | None = None, limit: int = 1000
) -> int:
    """Delete registrations past their retention that no hold covers (at most ``limit``).
    Returns how many were deleted."""
    _require_operator(operator, "cards.delete_purchaseregistration")
    reason = _require_reason(reason)
    ids = list(purgeable(today).order_by("pk").values_list("pk", flat=True)[:limit])
    # Locked, then read again: a purchase or a hold may have come in since.
    list(PurchaseRegistration.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    still = purgeable(today).filter(pk__in=ids).values_list("pk", flat=True)
    registrations = PurchaseRegistration.objects.filter(pk__in=list(still))
    count = 0
    for registration in registrations.order_by("pk"):
        _delete(registration, operator=operator, reason=reason)
        count += 1
    return count
