"""A company's sandbox: where its test API keys act (docs/api.md, "Test mode").

The sandbox is a Company row linked to the real one (``Company.sandbox_of``), made the first time
an owner or member creates a test key. It is active for as long as the real company is (API key
authentication asks the real company's status), has no members of its own (the real company's
members act in it with their roles there: ``portal.policy.membership_of``), never appears in the
portal, and is left out of every report (``portal.live_data``).

Its unified social credit code is the real one's first 17 characters after an ``S``: ``S`` never
appears in a real code (GB 32100-2015), so the sandbox's can neither be a real company's nor
another sandbox's, and it reads as the real company's at a glance.
"""

from __future__ import annotations

from django.db import transaction

from portal.models import AuditAction, Company, User
from portal.services.audit import audit_record

SANDBOX_CODE_MARK = "S"


def sandbox_credit_code(company: Company) -> str:
    return SANDBOX_CODE_MARK + company.credit_code[:17]


@transaction.atomic
def company_sandbox_get(
    *, company: Company, actor: User | None = None, ip: str | None = None
) -> Company:
    """The sandbox of this real company, made now when it has none (the unique link decides
    between two requests making it at once). A sandbox is its own sandbox."""
    if company.is_sandbox:
        return company
    sandbox, created = Company.objects.get_or_create(
        sandbox_of=company,
        defaults={
            # Stored, so in no one reader's language.
            "legal_name": f"{company.legal_name[:190]} [TEST]",
            "credit_code": sandbox_credit_code(company),
            "status": Company.Status.ACTIVE,
            "approval_threshold": company.approval_threshold,
            "language": company.language,
        },
    )
    if created:
        audit_record(
            action=AuditAction.COMPANY_SANDBOX_CREATED,
            actor=actor,
            company=company,
            obj=sandbox,
            ip=ip,
            changes={"sandbox": str(sandbox.public_id)},
        )
    return sandbox
