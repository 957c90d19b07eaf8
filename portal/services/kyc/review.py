"""Operators' KYC decisions on a company, each with a reason, each audited.

- **Approve**: recorded as waiting; the company becomes active only when a second, different
  operator confirms (``kyc_approval_confirm``, which moves the status through
  ``company_set_status`` with the approval; the database also refuses a confirmation by the
  approver). Any operator may decline a waiting approval instead, with a reason (the approver
  withdrawing it included).
- **Reject** (a company not active) and **ask for more information**: recorded at once; the
  status stays (a pending company cannot order).
- **Suspend** (an active company): the status moves at once.

One approval waits per company; other decisions wait until it is confirmed or declined. Locks:
the company row first, then the review row.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.errors import DomainError, StateConflict
from portal.models import Company, CompanyReview, User
from portal.services.audit import audit_record
from portal.services.companies import IllegalTransition, company_set_status
from portal.services.kyc.base import KycAction, require_operator, require_reason

Decision = CompanyReview.Decision
Status = CompanyReview.Status


def _lock_company(company: Company) -> Company:
    return Company.objects.select_for_update().get(pk=company.pk)


def _waiting(company: Company) -> CompanyReview | None:
    return (
        CompanyReview.objects.select_for_update(of=("self",))
        .select_related("decided_by")
        .filter(company=company, status=Status.WAITING)
        .first()
    )


def _refuse_state(company: Company, decision: str) -> None:
    status = company.status
    if decision == Decision.APPROVE and status == Company.Status.ACTIVE:
        message = _("%(company)s is already active.")
    elif decision == Decision.REJECT and status == Company.Status.ACTIVE:
        message = _("%(company)s is active: suspend it instead of rejecting it.")
    elif decision == Decision.SUSPEND and status != Company.Status.ACTIVE:
        message = _("%(company)s is not active; only an active company is suspended.")
    else:
        return
    raise IllegalTransition(message % {"company": company.legal_name})


@transaction.atomic
def kyc_decide(
    *, company: Company, decision: str, reason: str, actor: User, ip: str | None = None
) -> CompanyReview:
    """Record one operator's decision (an approval then waits for a second operator)."""
    require_operator(actor)
    if decision not in Decision.values:
        raise DomainError({"decision": _("Choose a decision.")}, code="decision")
    reason = require_reason(reason)
    locked = _lock_company(company)
    _refuse_state(locked, decision)
    waiting = _waiting(locked)
    if waiting is not None:
        raise StateConflict(
            _(
                "An approval of %(company)s by %(who)s waits for a second operator; confirm or "
                "decline it first."
            )
            % {"company": locked.legal_name, "who": waiting.decided_by.email},
            code="approval_waiting",
        )
    review = CompanyReview.objects.create(
        company=locked,
        decision=decision,
        reason=reason,
        decided_by=actor,
        status=Status.WAITING if decision == Decision.APPROVE else Status.RECORDED,
    )
    audit_record(
        action=KycAction.DECISION_RECORDED,
        actor=actor,
        company=locked,
        obj=review,
        ip=ip,
        changes={"decision": decision, "reason": reason, "status": locked.status},
    )
    if decision == Decision.SUSPEND:
        company_set_status(
            company=locked, status=Company.Status.SUSPENDED, actor=actor, reason=reason, ip=ip
        )
    return review


def _lock_waiting(review: CompanyReview) -> tuple[Company, CompanyReview]:
    company = _lock_company(review.company)
    locked = (
        CompanyReview.objects.select_for_update(of=("self",))
        .select_related("decided_by", "checked_by")
        .get(pk=review.pk)
    )
    if locked.status != Status.WAITING:
        raise StateConflict(
            _("This approval was already %(status)s by %(who)s.")
            % {
                "status": locked.get_status_display().lower(),
                "who": locked.checked_by.email if locked.checked_by else "-",
            },
            code="review_decided",
        )
    return company, locked


@transaction.atomic
def kyc_approval_confirm(*, review: CompanyReview, actor: User, ip: str | None = None) -> Company:
    """A second operator confirms an approval: the company becomes active now."""
    require_operator(actor)
    company, locked = _lock_waiting(review)
    if locked.decided_by_id == actor.pk:
        raise DomainError(
            _("Another operator must confirm an approval you made."), code="same_operator"
        )
    locked.status = Status.CONFIRMED
    locked.checked_by = actor
    locked.checked_at = timezone.now()
    locked.save(update_fields=["status", "checked_by", "checked_at"])
    audit_record(
        action=KycAction.APPROVAL_CONFIRMED,
        actor=actor,
        company=company,
        obj=locked,
        ip=ip,
        changes={"approved_by": locked.decided_by.email, "reason": locked.reason},
    )
    return company_set_status(
        company=company,
        status=Company.Status.ACTIVE,
        actor=actor,
        reason=locked.reason,
        approval=locked,
        ip=ip,
    )


@transaction.atomic
def kyc_approval_decline(
    *, review: CompanyReview, actor: User, reason: str, ip: str | None = None
) -> CompanyReview:
    """Decline a waiting approval (or withdraw one's own); the status stays."""
    require_operator(actor)
    reason = require_reason(reason)
    company, locked = _lock_waiting(review)
    locked.status = Status.DECLINED
    locked.checked_by = actor
    locked.checked_at = timezone.now()
    locked.check_note = reason
    locked.save(update_fields=["status", "checked_by", "checked_at", "check_note"])
    audit_record(
        action=KycAction.APPROVAL_DECLINED,
        actor=actor,
        company=company,
        obj=locked,
        ip=ip,
        changes={"approved_by": locked.decided_by.email, "reason": reason},
    )
    return locked
