"""Maker-checker for credit lines: a line set or raised above KYC_CREDIT_LINE_DUAL_CONTROL_ABOVE
takes effect only when a second, different operator approves it; at or below it, and when a line
is lowered, one operator is enough."""

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from pytest_django.fixtures import Settings

from billing.audit import BillingAction
from billing.models import CreditLine, CreditLineProposal
from billing.services.credit_proposals import (
    CreditLineOutcome,
    CreditProposalAction,
    credit_line_change,
    credit_line_proposal_approve,
    credit_line_proposal_reject,
)
from portal.models import AuditEvent, Company, User
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def _operator(name: str) -> User:
    return User.objects.create_user(
        f"{name}@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )


@pytest.fixture
def maker() -> User:
    return _operator("credit-maker")


@pytest.fixture
def checker() -> User:
    return _operator("credit-checker")


@pytest.fixture
def company() -> Company:
    return factories.company("Credit Co.")


def _change(company: Company, limit: str, actor: User) -> CreditLineOutcome:
    return credit_line_change(
        company=company,
        limit=Decimal(limit),
        net_days=30,
        grace_days=5,
        status="active",
        actor=actor,
        reason="Annual review",
    )


def _proposed(company: Company, limit: str, actor: User) -> CreditLineProposal:
    proposal = _change(company, limit, actor).proposal
    assert proposal is not None, "the change should wait for a second operator"
    return proposal


def _limit(company: Company) -> Decimal | None:
    line = CreditLine.objects.filter(company=company).first()
    return line.limit if line else None


def test_a_line_at_the_threshold_takes_effect_at_once(company: Company, maker: User) -> None:
    outcome = _change(company, "100000.00", maker)

    assert outcome.proposal is None
    assert _limit(company) == Decimal("100000.00")
    assert not CreditLineProposal.objects.exists()


def test_a_new_line_above_the_threshold_waits_for_a_second_operator(
    company: Company, maker: User, checker: User
) -> None:
    outcome = _change(company, "100000.01", maker)

    proposal = outcome.proposal
    assert proposal is not None
    assert _limit(company) is None
    assert not AuditEvent.objects.filter(action=BillingAction.CREDIT_LINE_SET).exists()
    assert AuditEvent.objects.filter(action=CreditProposalAction.PROPOSED).count() == 1

    line = credit_line_proposal_approve(proposal=proposal, actor=checker, ip="192.0.2.9")

    assert line.limit == Decimal("100000.01")
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by) == ("approved", checker)
    event = AuditEvent.objects.get(action=BillingAction.CREDIT_LINE_SET)
    assert (event.actor, event.ip) == (checker, "192.0.2.9")
    assert event.changes["proposed_by"] == maker.email


def test_the_proposer_can_never_approve_their_own_credit_line(
    company: Company, maker: User
) -> None:
    proposal = _proposed(company, "250000.00", maker)

    with pytest.raises(ValidationError, match="Another operator must approve"):
        credit_line_proposal_approve(proposal=proposal, actor=maker)

    proposal.refresh_from_db()
    assert proposal.status == "pending"
    assert _limit(company) is None


def test_raising_a_line_above_the_threshold_waits_but_lowering_it_does_not(
    company: Company, maker: User, checker: User
) -> None:
    factories.credit_line(company, "80000.00")

    raised = _change(company, "150000.00", maker)
    assert raised.proposal is not None
    assert _limit(company) == Decimal("80000.00")
    credit_line_proposal_approve(proposal=raised.proposal, actor=checker)
    assert _limit(company) == Decimal("150000.00")

    lowered = _change(company, "120000.00", maker)
    assert lowered.proposal is None
    assert _limit(company) == Decimal("120000.00")


def test_a_rejected_proposal_leaves_the_line_and_needs_a_reason(
    company: Company, maker: User, checker: User
) -> None:
    factories.credit_line(company, "50000.00")
    proposal = _proposed(company, "300000.00", maker)

    with pytest.raises(ValidationError, match="Give a reason"):
        credit_line_proposal_reject(proposal=proposal, actor=checker, reason="")
    credit_line_proposal_reject(proposal=proposal, actor=checker, reason="No audited accounts")

    proposal.refresh_from_db()
    assert (proposal.status, proposal.decision_note) == ("rejected", "No audited accounts")
    assert _limit(company) == Decimal("50000.00")
    with pytest.raises(ValidationError, match="already rejected"):
        credit_line_proposal_approve(proposal=proposal, actor=checker)


def test_the_threshold_is_a_setting(company: Company, maker: User, settings: Settings) -> None:
    settings.KYC_CREDIT_LINE_DUAL_CONTROL_ABOVE = Decimal("10000.00")

    assert _change(company, "20000.00", maker).proposal is not None
    assert _limit(company) is None


def test_the_admin_records_a_proposal_and_another_operator_approves_it(
    company: Company, maker: User, checker: User
) -> None:
    maker_client = Client()
    sign_in(maker_client, maker, second_factor=True)
    response = maker_client.post(
        "/ops/billing/creditline/add/",
        {
            "company": company.pk,
            "limit": "500000.00",
            "net_days": "30",
            "grace_days": "5",
            "status": "active",
            "reason": "Group guarantee received",
        },
    )
    proposal = CreditLineProposal.objects.get(company=company)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].endswith(f"/creditlineproposal/{proposal.pk}/change/")
    assert proposal.reason == "Group guarantee received"
    assert not CreditLine.objects.filter(company=company).exists()

    approve_url = f"/ops/billing/creditlineproposal/{proposal.pk}/approve/"
    own = maker_client.post(approve_url)
    assert "Another operator must approve a credit line you proposed." in own.content.decode()
    assert not CreditLine.objects.filter(company=company).exists()

    checker_client = Client()
    sign_in(checker_client, checker, second_factor=True)
    assert checker_client.post(approve_url).status_code == HTTPStatus.FOUND
    assert _limit(company) == Decimal("500000.00")


def test_raising_a_line_in_the_admin_leaves_it_unchanged_and_shows_the_waiting_proposal(
    company: Company, maker: User
) -> None:
    line = factories.credit_line(company, "50000.00")
    client = Client()
    sign_in(client, maker, second_factor=True)
    url = f"/ops/billing/creditline/{line.pk}/change/"

    response = client.post(
        url, {"limit": "200000.00", "net_days": "30", "grace_days": "5", "status": "active"}
    )

    assert response.status_code == HTTPStatus.FOUND
    line.refresh_from_db()
    assert line.limit == Decimal("50000.00")
    proposal = CreditLineProposal.objects.get(company=company)
    assert proposal.previous_limit == Decimal("50000.00")
    page = client.get(url).content.decode()
    assert f"/creditlineproposal/{proposal.pk}/change/" in page
    assert "¥200,000.00" in page
