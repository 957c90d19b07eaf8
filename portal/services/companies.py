"""Company life cycle."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from portal.errors import StateConflict
from portal.models import AuditAction, Company, Membership, Role, User
from portal.services.audit import audit_record
from portal.validators import normalize_credit_code


@transaction.atomic
def company_create(
    *,
    legal_name: str,
    credit_code: str,
    owner: User,
    created_by: User | None = None,
    status: str = Company.Status.PENDING,
    contact_name: str = "",
    contact_email: str = "",
    contact_phone: str = "",
    ip: str | None = None,
) -> Company:
    company = Company(
        legal_name=legal_name.strip(),
        credit_code=normalize_credit_code(credit_code),
        status=status,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
    )
    company.full_clean()
    company.save()
    membership = Membership.objects.create(user=owner, company=company, role=Role.OWNER)
    actor = created_by or owner
    audit_record(
        action=AuditAction.COMPANY_CREATED,
        actor=actor,
        company=company,
        obj=company,
        ip=ip,
        changes={"legal_name": company.legal_name, "credit_code": company.credit_code},
    )
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


@transaction.atomic
def company_set_status(
    *, company: Company, status: str, actor: User, ip: str | None = None
) -> Company:
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
    before = locked.status
    locked.status = status
    locked.save(update_fields=["status"])
    audit_record(
        action=AuditAction.COMPANY_STATUS_CHANGED,
        actor=actor,
        company=locked,
        obj=locked,
        ip=ip,
        changes={"status": [before, status]},
    )
    return locked
