"""Operators' KYC decisions: approve (a second, different operator confirms before the company
is active), reject, ask for more information, suspend; each with a reason, audited, and every
status move kept in the company's status history, shown on its admin page."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from portal.models import (
    AuditAction,
    AuditEvent,
    Company,
    CompanyReview,
    CompanyStatusChange,
    Role,
    User,
)
from portal.services.companies import company_create, company_set_status
from portal.services.kyc import KycAction, kyc_approval_confirm, kyc_approval_decline, kyc_decide
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


def _operator(name: str) -> User:
    return User.objects.create_user(
        f"{name}@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )


@pytest.fixture
def maker() -> User:
    return _operator("maker")


@pytest.fixture
def checker() -> User:
    return _operator("checker")


@pytest.fixture
def company(maker: User) -> Company:
    return company_create(
        legal_name="Fujian Trading Co.",
        credit_code=factories.credit_code(),
        owner=None,
        created_by=maker,
    )


def _client(user: User) -> Client:
    client = Client()
    sign_in(client, user, second_factor=True)
    return client


def _history(company: Company) -> list[tuple[str, str, str, str | None, str | None]]:
    return [
        (
            change.from_status,
            change.to_status,
            change.reason,
            change.changed_by.email if change.changed_by else None,
            change.approved_by.email if change.approved_by else None,
        )
        for change in CompanyStatusChange.objects.filter(company=company).order_by("id")
    ]


def test_an_approval_activates_the_company_only_when_a_second_operator_confirms(
    company: Company, maker: User, checker: User
) -> None:
    review = kyc_decide(company=company, decision="approve", reason="Licence checked", actor=maker)
    company.refresh_from_db()
    assert company.status == Company.Status.PENDING
    assert review.status == CompanyReview.Status.WAITING

    kyc_approval_confirm(review=review, actor=checker, ip="192.0.2.5")

    company.refresh_from_db()
    review.refresh_from_db()
    assert company.status == Company.Status.ACTIVE
    assert (review.status, review.checked_by) == (CompanyReview.Status.CONFIRMED, checker)
    assert _history(company) == [
        ("", "pending", "", maker.email, None),
        ("pending", "active", "Licence checked", checker.email, maker.email),
    ]
    actions = list(
        AuditEvent.objects.filter(company=company).order_by("id").values_list("action", flat=True)
    )
    assert actions[-3:] == [
        KycAction.DECISION_RECORDED,
        KycAction.APPROVAL_CONFIRMED,
        AuditAction.COMPANY_STATUS_CHANGED,
    ]
    status_event = AuditEvent.objects.get(
        company=company, action=AuditAction.COMPANY_STATUS_CHANGED
    )
    assert (status_event.actor, status_event.ip) == (checker, "192.0.2.5")
    assert status_event.changes["approved_by"] == maker.email


def test_the_operator_who_approved_can_never_confirm_their_own_approval(
    company: Company, maker: User
) -> None:
    review = kyc_decide(company=company, decision="approve", reason="Looks fine", actor=maker)

    with pytest.raises(ValidationError, match="Another operator must confirm an approval you made"):
        kyc_approval_confirm(review=review, actor=maker)

    company.refresh_from_db()
    review.refresh_from_db()
    assert company.status == Company.Status.PENDING
    assert review.status == CompanyReview.Status.WAITING
    # And the database refuses it too
    review.status = CompanyReview.Status.CONFIRMED
    review.checked_by = maker
    with pytest.raises(IntegrityError), transaction.atomic():
        review.save()


def test_no_one_activates_a_company_without_a_confirmed_approval(
    company: Company, maker: User
) -> None:
    with pytest.raises(ValidationError, match="second operator confirms"):
        company_set_status(company=company, status=Company.Status.ACTIVE, actor=maker)
    company.refresh_from_db()
    assert company.status == Company.Status.PENDING
    assert len(_history(company)) == 1


def test_a_declined_approval_leaves_the_status_and_a_new_decision_can_follow(
    company: Company, maker: User, checker: User
) -> None:
    review = kyc_decide(company=company, decision="approve", reason="ok", actor=maker)
    with pytest.raises(ValidationError, match="waits for a second operator"):
        kyc_decide(company=company, decision="reject", reason="no", actor=checker)

    kyc_approval_decline(review=review, actor=checker, reason="Licence is expired")

    review.refresh_from_db()
    company.refresh_from_db()
    assert (review.status, review.check_note) == ("declined", "Licence is expired")
    assert company.status == Company.Status.PENDING
    more = kyc_decide(
        company=company, decision="more_information", reason="Send the 2026 licence", actor=checker
    )
    assert more.status == CompanyReview.Status.RECORDED
    assert AuditEvent.objects.filter(action=KycAction.APPROVAL_DECLINED).count() == 1


@pytest.mark.parametrize("decision", ["approve", "reject", "more_information"])
def test_every_decision_needs_a_reason(company: Company, maker: User, decision: str) -> None:
    with pytest.raises(ValidationError, match="Give a reason"):
        kyc_decide(company=company, decision=decision, reason="  ", actor=maker)
    assert not CompanyReview.objects.exists()


def test_a_buyer_cannot_decide(company: Company) -> None:
    owner = factories.member(company, Role.OWNER)
    with pytest.raises(Exception, match="Only the issuer's operators"):
        kyc_decide(company=company, decision="approve", reason="me", actor=owner)


def test_suspending_an_active_company_is_kept_in_its_history_with_the_reason(
    maker: User,
) -> None:
    company = factories.company("Active Co.")

    kyc_decide(company=company, decision="suspend", reason="Licence revoked", actor=maker)

    company.refresh_from_db()
    assert company.status == Company.Status.SUSPENDED
    assert _history(company) == [("active", "suspended", "Licence revoked", maker.email, None)]
    # Rejecting an active company is refused: it is suspended instead
    other = factories.company("Other Active Co.")
    with pytest.raises(ValidationError, match="suspend it instead"):
        kyc_decide(company=other, decision="reject", reason="x", actor=maker)


def test_the_admin_walks_approve_then_confirm_by_another_operator_and_shows_the_history(
    company: Company, maker: User, checker: User
) -> None:
    decide_url = f"/ops/portal/company/{company.pk}/kyc/decide/"
    confirm_url = f"/ops/portal/company/{company.pk}/kyc/confirm/"
    maker_client = _client(maker)
    refused = maker_client.post(decide_url, {"decision": "approve", "reason": ""})
    assert refused.status_code == HTTPStatus.OK
    assert not CompanyReview.objects.exists()

    response = maker_client.post(decide_url, {"decision": "approve", "reason": "Licence OK"})
    assert response.status_code == HTTPStatus.FOUND
    # The approver is offered no confirmation of their own approval
    change_url = f"/ops/portal/company/{company.pk}/change/"
    assert confirm_url not in maker_client.get(change_url).content.decode()
    # The approver's own confirmation is refused, on the page
    own = maker_client.post(confirm_url)
    assert "Another operator must confirm an approval you made." in own.content.decode()
    company.refresh_from_db()
    assert company.status == Company.Status.PENDING

    checker_client = _client(checker)
    assert confirm_url in checker_client.get(change_url).content.decode()
    assert checker_client.post(confirm_url).status_code == HTTPStatus.FOUND
    company.refresh_from_db()
    assert company.status == Company.Status.ACTIVE

    page = checker_client.get(f"/ops/portal/company/{company.pk}/change/").content.decode()
    assert "Status history" in page or "status history" in page
    assert "Licence OK" in page
    assert "Verified: the check character" in page


def test_a_buyer_gets_the_admin_sign_in_page_for_the_decision_page(company: Company) -> None:
    owner = factories.member(company, Role.OWNER)
    response = _client(owner).get(f"/ops/portal/company/{company.pk}/kyc/decide/")
    assert response.status_code == HTTPStatus.FOUND
    assert "/login/" in response["Location"]


def test_the_admin_company_page_and_decision_page_read_in_chinese(
    company: Company, maker: User
) -> None:
    client = _client(maker)
    kyc_decide(company=company, decision="approve", reason="执照已核", actor=maker)

    page = client.get(
        f"/ops/portal/company/{company.pk}/change/", headers={"accept-language": "zh-hans"}
    )
    decide = client.get(
        f"/ops/portal/company/{company.pk}/kyc/confirm/", headers={"accept-language": "zh-hans"}
    )

    assert page.status_code == decide.status_code == HTTPStatus.OK
    assert 'lang="zh-hans"' in page.content.decode()
    assert "执照已核" in page.content.decode()
    assert "执照已核" in decide.content.decode()


def test_the_admin_form_refuses_a_credit_code_with_a_wrong_check_character(maker: User) -> None:
    client = _client(maker)

    response = client.post(
        "/ops/portal/company/add/",
        {
            "legal_name": "Typo Co.",
            "credit_code": "91350100M000100Y44",
            "approval_threshold": "20000.00",
            "language": "en",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "documents-TOTAL_FORMS": "0",
            "documents-INITIAL_FORMS": "0",
            "reviews-TOTAL_FORMS": "0",
            "reviews-INITIAL_FORMS": "0",
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == HTTPStatus.OK
    assert "the last character should be 3" in response.content.decode()
    assert not Company.objects.filter(legal_name="Typo Co.").exists()


def test_the_kyc_queue_lists_pending_companies_and_waiting_approvals(
    company: Company, maker: User
) -> None:
    active = factories.company("Already Active Co.")
    page = _client(maker).get("/ops/portal/company/?kyc=waiting").content.decode()

    assert company.legal_name in page
    assert active.legal_name not in page


def test_the_owner_reads_why_more_information_is_asked_for(company: Company, maker: User) -> None:
    owner = factories.member(company, Role.OWNER)
    kyc_decide(
        company=company,
        decision="more_information",
        reason="The licence scan is cut off at the bottom",
        actor=maker,
    )

    page = _client(owner).get("/settings/company-documents/").content.decode()

    assert "Our operators ask for more information:" in page
    assert "The licence scan is cut off at the bottom" in page
    assert "Pending review" in page
