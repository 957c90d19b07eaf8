"""Maker-checker for credit lines (docs/kyc.md): a line set or raised above
``KYC_CREDIT_LINE_DUAL_CONTROL_ABOVE`` is recorded as a proposal, and takes effect when another
operator approves it, in the same transaction as the approval. Anyone (the proposer
withdrawing it included) may reject it, with a reason. The pattern of card service requests
(``cards.services.card_service.requests``); locks: the credit line first, then the proposal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import locks
from billing.models import CreditLine, CreditLineProposal
from billing.services.credit import (
    SecondOperatorRequired,
    credit_line_set,
    credit_line_validate,
)
from portal.errors import DomainError, StateConflict
from portal.models import Company, User, register_audit_actions
from portal.services.audit import audit_record

Status = CreditLineProposal.Status


class CreditProposalAction(models.TextChoices):
    PROPOSED = (
        "billing.credit_line_proposed",
        gettext_lazy("Asked a second operator to approve a credit line"),
    )
    APPROVED = "billing.credit_line_approved", gettext_lazy("Approved a proposed credit line")
    REJECTED = "billing.credit_line_rejected", gettext_lazy("Rejected a proposed credit line")


register_audit_actions(CreditProposalAction)


@dataclass(frozen=True)
class CreditLineOutcome:
    """The line as it is now (None: the company still has none), and the proposal that waits
    for a second operator, if the change needs one."""

    line: CreditLine | None
    proposal: CreditLineProposal | None = None


def _require_operator(actor: User) -> None:
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied(_("Only the issuer's operators set credit lines."))


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError({"reason": _("Give a reason; it is kept with the decision.")})
    return reason[:500]


def credit_line_change(
    *,
    company: Company,
    limit: Decimal,
    net_days: int,
    grace_days: int,
    status: str,
    actor: User,
    reason: str = "",
    ip: str | None = None,
) -> CreditLineOutcome:
    """What the admin calls: set the line now when one operator may, otherwise record a
    proposal for a second operator."""
    try:
        line = credit_line_set(
            company=company,
            limit=limit,
            net_days=net_days,
            grace_days=grace_days,
            status=status,
            actor=actor,
            ip=ip,
        )
    except SecondOperatorRequired:
        proposal = credit_line_propose(
            company=company,
            limit=limit,
            net_days=net_days,
            grace_days=grace_days,
            status=status,
            actor=actor,
            reason=reason,
            ip=ip,
        )
        return CreditLineOutcome(
            line=CreditLine.objects.filter(company=company).first(), proposal=proposal
        )
    return CreditLineOutcome(line=line)


@transaction.atomic
def credit_line_propose(
    *,
    company: Company,
    limit: Decimal,
    net_days: int,
    grace_days: int,
    status: str,
    actor: User,
    reason: str = "",
    ip: str | None = None,
) -> CreditLineProposal:
    """Record terms for a second operator to approve. One proposal per company waits at a time."""
    _require_operator(actor)
    credit_line_validate(limit=limit, net_days=net_days, grace_days=grace_days, status=status)
    before = locks.lock_credit_line(company)
    waiting = (
        CreditLineProposal.objects.filter(company=company, status=Status.PENDING)
        .select_related("requested_by")
        .first()
    )
    if waiting is not None:
        raise StateConflict(
            _(
                "A credit line for %(company)s proposed by %(who)s already waits for a second "
                "operator; approve or reject that one first."
            )
            % {"company": company.legal_name, "who": waiting.requested_by.email},
            code="proposal_pending",
        )
    proposal = CreditLineProposal.objects.create(
        company=company,
        previous_limit=before.limit if before else None,
        limit=limit,
        net_days=net_days,
        grace_days=grace_days,
        line_status=status,
        reason=(reason or "").strip()[:500],
        requested_by=actor,
    )
    audit_record(
        action=CreditProposalAction.PROPOSED,
        actor=actor,
        company=company,
        obj=proposal,
        ip=ip,
        changes={
            "limit": [str(before.limit) if before else None, str(limit)],
            "net_days": net_days,
            "grace_days": grace_days,
            "status": status,
        },
    )
    return proposal


def _lock_pending(proposal: CreditLineProposal) -> CreditLineProposal:
    locked = (
        CreditLineProposal.objects.select_for_update(of=("self",))
        .select_related("requested_by", "decided_by", "company")
        .get(pk=proposal.pk)
    )
    if locked.status != Status.PENDING:
        raise StateConflict(
            _("This proposal was already %(status)s by %(who)s.")
            % {
                "status": locked.get_status_display().lower(),
                "who": locked.decided_by.email if locked.decided_by else "-",
            },
            code="proposal_decided",
        )
    return locked


@transaction.atomic
def credit_line_proposal_approve(
    *, proposal: CreditLineProposal, actor: User, ip: str | None = None
) -> CreditLine:
    """A second operator approves: the line takes the proposed terms now. The proposer never
    approves their own proposal (the database refuses it too)."""
    _require_operator(actor)
    locks.lock_credit_line(proposal.company)
    locked = _lock_pending(proposal)
    if locked.requested_by_id == actor.pk:
        raise DomainError(
            _("Another operator must approve a credit line you proposed."), code="same_operator"
        )
    locked.status = Status.APPROVED
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    line = credit_line_set(
        company=locked.company,
        limit=locked.limit,
        net_days=locked.net_days,
        grace_days=locked.grace_days,
        status=locked.line_status,
        actor=actor,
        ip=ip,
        approval=locked,
    )
    audit_record(
        action=CreditProposalAction.APPROVED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"limit": str(locked.limit), "proposed_by": locked.requested_by.email},
    )
    return line


@transaction.atomic
def credit_line_proposal_reject(
    *, proposal: CreditLineProposal, actor: User, reason: str, ip: str | None = None
) -> CreditLineProposal:
    """Reject a waiting proposal (or withdraw one's own); the line stays as it is."""
    _require_operator(actor)
    reason = _require_reason(reason)
    locks.lock_credit_line(proposal.company)
    locked = _lock_pending(proposal)
    locked.status = Status.REJECTED
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.decision_note = reason
    locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_record(
        action=CreditProposalAction.REJECTED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={
            "limit": str(locked.limit),
            "proposed_by": locked.requested_by.email,
            "reason": reason,
        },
    )
    return locked
