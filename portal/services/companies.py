"""Company life cycle."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from portal.errors import DomainError, StateConflict
from portal.models import (
    AuditAction,
    Company,
    CompanyReview,
    CompanyStatusChange,
    Membership,
    Role,
    User,
)
from portal.services.audit import audit_record
from portal.validators import normalize_credit_code


@transaction.atomic
def company_create(
    *,
    legal_name: str,
    credit_code: str,
    owner: User | None,
    created_by: User | None = None,
    status: str = Company.Status.PENDING,
    contact_name: str = "",
    contact_email: str = "",
    contact_phone: str = "",
    billing_email: str = "",
    approval_threshold: Decimal | None = None,
    language: str = "",
    ip: str | None = None,
) -> Company:
    """A new company, with its owner as first member when there is one (operators create a
    company in the admin without one)."""
    company = Company(
        legal_name=legal_name.strip(),
        credit_code=normalize_credit_code(credit_code),
        status=status,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
        billing_email=billing_email,
    )
    if approval_threshold is not None:
        company.approval_threshold = approval_threshold
    if language:
        company.language = language
    company.full_clean()
    company.save()
    actor = created_by or owner
    CompanyStatusChange.objects.create(
        company=company, from_status="", to_status=company.status, changed_by=actor
    )
    audit_record(
        action=AuditAction.COMPANY_CREATED,
        actor=actor,
        company=company,
        obj=company,
        ip=ip,
        changes={"legal_name": company.legal_name, "credit_code": company.credit_code},
    )
    if owner is None:
        return company
    membership = Membership.objects.create(user=owner, company=company, role=Role.OWNER)
    audit_record(
        action=AuditAction.MEMBERSHIP_ADDED,
        actor=actor,
        company=company,
        obj=membership,
        ip=ip,
        changes={"email": owner.email, "role": Role.OWNER},
    )
    return company


# Which status moves an operator may make; anything else is refused loudly.
COMPANY_TRANSITIONS: dict[str, frozenset[str]] = {
    Company.Status.PENDING: frozenset({Company.Status.ACTIVE, Company.Status.SUSPENDED}),
    Company.Status.ACTIVE: frozenset({Company.Status.SUSPENDED}),
    Company.Status.SUSPENDED: frozenset({Company.Status.ACTIVE}),
}


class IllegalTransition(StateConflict):
    default_code = "company_state"


class SecondOperatorRequired(DomainError):
    """Activation runs only as another operator's confirmation of an approval (KYC)."""

    default_code = "second_operator_required"


def _require_confirmed_approval(
    company: Company, approval: CompanyReview | None, actor: User
) -> None:
    if approval is None:
        raise SecondOperatorRequired(
            _(
                "%(company)s can be activated only when a second operator confirms an "
                "operator's approval: record the approval as a KYC decision."
            )
            % {"company": company.legal_name}
        )
    if approval.company_id != company.pk or approval.decision != CompanyReview.Decision.APPROVE:
        raise ValueError("the approval is for another company or decision")
    if approval.decided_by_id == actor.pk:
        raise DomainError(
            _("Another operator must confirm an approval you made."), code="same_operator"
        )


@transaction.atomic
def company_set_status(
    *,
    company: Company,
    status: str,
    actor: User,
    reason: str = "",
    approval: CompanyReview | None = None,
    ip: str | None = None,
) -> Company:
    """The one place a company's status moves: checked against ``COMPANY_TRANSITIONS`` under the
    row lock, kept as a ``CompanyStatusChange`` row and audited. A move to active needs
    ``approval``: an operator's approval that ``actor``, another operator, confirms."""
    locked = Company.objects.select_for_update().get(pk=company.pk)
    if status not in COMPANY_TRANSITIONS.get(locked.status, frozenset()):
        raise IllegalTransition(
            _("%(company)s is %(status)s; it cannot move to %(target)s.")
            % {
                "company": locked.legal_name,
                "status": locked.get_status_display(),
                "target": dict(Company.Status.choices).get(status, status),
            }
        )
    if status == Company.Status.ACTIVE:
        _require_confirmed_approval(locked, approval, actor)
    before = locked.status
    locked.status = status
    locked.save(update_fields=["status"])
    CompanyStatusChange.objects.create(
        company=locked,
        from_status=before,
        to_status=status,
        reason=reason[:500],
        changed_by=actor,
        approved_by=approval.decided_by if approval is not None else None,
    )
    changes: dict[str, Any] = {"status": [before, status]}
    if reason:
        changes["reason"] = reason[:500]
    if approval is not None:
        changes["approved_by"] = approval.decided_by.email
    audit_record(
        action=AuditAction.COMPANY_STATUS_CHANGED,
        actor=actor,
        company=locked,
        obj=locked,
        ip=ip,
        changes=changes,
    )
    return locked


# What ``company_update`` changes; the status moves only through ``company_set_status``.
COMPANY_EDITABLE_FIELDS = frozenset(
    {
        "legal_name",
        "credit_code",
        "contact_name",
        "contact_email",
        "contact_phone",
        "billing_email",
        "approval_threshold",
        "language",
    }
)


@transaction.atomic
def company_update(
    *, company: Company, changes: Mapping[str, Any], actor: User, ip: str | None = None
) -> Company:
    """Change a company's details (``COMPANY_EDITABLE_FIELDS``) under its row lock. One audit row
    names each field that changed, before and after; nothing changed writes nothing."""
    unknown = set(changes) - COMPANY_EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"company_update cannot change {sorted(unknown)}")
    locked = Company.objects.select_for_update().get(pk=company.pk)
    values = dict(changes)
    if "legal_name" in values:
        values["legal_name"] = str(values["legal_name"]).strip()
    if "credit_code" in values:
        values["credit_code"] = normalize_credit_code(str(values["credit_code"]))
    changed = {
        name: [str(getattr(locked, name)), str(value)]
        for name, value in values.items()
        if getattr(locked, name) != value
    }
    if not changed:
        return locked
    for name in changed:
        setattr(locked, name, values[name])
    locked.full_clean()
    locked.save(update_fields=sorted(changed))
    audit_record(
        action=AuditAction.COMPANY_EDITED,
        actor=actor,
        company=locked,
        obj=locked,
        ip=ip,
        changes=changed,
    )
    return locked
