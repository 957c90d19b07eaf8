"""Breakage: never automatic; proposed by one operator for balances expired longer than the
holding period, reviewed by a second (never the proposer), posted as expired-balance liability
to breakage income, reversible by a reversing entry; a card that comes back has its own breakage
reversed; each decision has its report."""

# mypy: disable-error-code="union-attr, index, misc, attr-defined"

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from billing.models import JournalEntry
from billing.services.receivables import ledger_check_run
from cards.models import BreakageCard, BreakageDecision, BreakageStatus, Card, CardStatus
from cards.services.expiry import (
    breakage_preview,
    breakage_propose,
    breakage_reverse,
    breakage_review,
    card_reactivate,
    cards_expire,
)
from cards.services.expiry.report import breakage_report_write
from cards.services.issuance import add_months
from portal.errors import StateConflict
from portal.models import AuditEvent, User
from tests import factories
from tests.conftest import sign_in

from . import helpers
from .helpers import (
    BREAKAGE_INCOME,
    CARD_LIABILITY,
    EXPIRED_LIABILITY,
    bearer_product,
    buyer,
    expiry_of,
    fresh,
    issued,
    line,
    owed,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]


@pytest.fixture
def old(settings) -> dict:
    """Four bearer cards: three expired long ago (100, 100 and one used up), one expired lately
    (200); "now" is past the holding period for the first three only."""
    settings.BREAKAGE_HOLDING_MONTHS = 36
    cards = issued(buyer("Acme"), [line(bearer_product(), "100", 3), line(bearer_product(), "200")])
    helpers.spend(cards[2], "100.00", helpers.merchant())
    expired_at = expiry_of(cards[0])
    Card.objects.filter(pk=cards[3].pk).update(expires_at=add_months(expired_at, 12))
    cards_expire(now=add_months(expired_at, 13))
    now = add_months(expired_at, 37)
    return {
        "cards": [fresh(card) for card in cards],
        "now": now,
        "alice": factories.operator("alice@issuer.example"),
        "bob": factories.operator("bob@issuer.example"),
    }


def propose(old: dict) -> BreakageDecision:
    return breakage_propose(operator=old["alice"], reason="Quarter-end review", now=old["now"])


def test_a_proposal_covers_old_expired_balances_only_and_posts_nothing(old) -> None:
    preview = breakage_preview(old["now"])
    assert (preview.count, preview.total) == (2, Decimal("200.00"))

    decision = propose(old)

    assert decision.status == BreakageStatus.PROPOSED
    assert (decision.card_count, decision.total) == (2, Decimal("200.00"))
    covered = set(decision.covered.values_list("card_id", flat=True))
    assert covered == {old["cards"][0].pk, old["cards"][1].pk}
    assert not JournalEntry.objects.filter(kind="breakage").exists()
    assert owed(BREAKAGE_INCOME) == Decimal("0.00")
    assert AuditEvent.objects.filter(action="breakage.proposed", actor=old["alice"]).exists()


def test_nothing_to_propose_is_refused(old) -> None:
    propose(old)
    with pytest.raises(ValidationError) as refused:
        propose(old)  # every candidate is in the first, live proposal
    assert refused.value.code == "breakage_nothing"
    assert BreakageDecision.objects.count() == 1


def test_the_proposer_cannot_review_their_own_proposal(old) -> None:
    decision = propose(old)
    with pytest.raises(ValidationError) as refused:
        breakage_review(decision_id=decision.pk, reviewer=old["alice"], approve=True)
    assert refused.value.code == "second_operator_required"
    assert fresh_decision(decision).status == BreakageStatus.PROPOSED
    # The database keeps the rule too.
    with pytest.raises(IntegrityError), transaction.atomic():
        BreakageDecision.objects.filter(pk=decision.pk).update(reviewed_by=old["alice"])


def fresh_decision(decision: BreakageDecision) -> BreakageDecision:
    return BreakageDecision.objects.get(pk=decision.pk)


def test_a_second_operator_posts_it_and_the_cards_keep_their_balances(old) -> None:
    decision = propose(old)
    expired_before = owed(EXPIRED_LIABILITY)

    posted = breakage_review(decision_id=decision.pk, reviewer=old["bob"], approve=True)

    assert posted.status == BreakageStatus.POSTED
    assert posted.reviewed_by == old["bob"]
    assert owed(BREAKAGE_INCOME) == Decimal("200.00")
    assert owed(EXPIRED_LIABILITY) == expired_before - Decimal("200.00")
    postings = sorted(p.amount for p in posted.entry.postings.all())
    assert postings == [Decimal("-200.00"), Decimal("200.00")]
    for card in old["cards"][:2]:
        assert (fresh(card).status, fresh(card).balance) == (CardStatus.EXPIRED, Decimal("100.00"))
    run = ledger_check_run()
    assert run.ok, run.results
    assert run.results["card_and_expired_liability_match_cards"]["breakage_outstanding"] == "200.00"
    with pytest.raises(StateConflict):
        breakage_review(decision_id=decision.pk, reviewer=old["bob"], approve=True)


def test_a_covered_card_that_comes_back_has_its_breakage_reversed(old) -> None:
    decision = propose(old)
    breakage_review(decision_id=decision.pk, reviewer=old["bob"], approve=True)
    card = old["cards"][0]

    card_reactivate(
        card_id=card.pk, operator=old["alice"], reason="Holder came back", now=old["now"]
    )

    row = BreakageCard.objects.get(decision=decision, card=card)
    assert row.live is False
    assert row.reversal_entry is not None
    assert owed(BREAKAGE_INCOME) == Decimal("100.00")
    assert owed(CARD_LIABILITY) == Decimal("100.00")
    assert fresh_decision(decision).status == BreakageStatus.POSTED
    assert ledger_check_run().ok


def test_a_covered_card_exchanged_or_voided_has_its_breakage_reversed_too(old) -> None:
    from cards.services.card_service import card_exchange, card_void

    decision = propose(old)
    breakage_review(decision_id=decision.pk, reviewer=old["bob"], approve=True)
    exchanged, voided = old["cards"][0], old["cards"][1]

    new = card_exchange(card=exchanged, reason="Holder asked for a new card", actor=old["alice"])
    card_void(card=voided, reason="Holder asked for a refund", actor=old["alice"])

    assert not BreakageCard.objects.filter(decision=decision, live=True).exists()
    assert owed(BREAKAGE_INCOME) == Decimal("0.00")
    assert fresh(new).balance == Decimal("100.00")
    run = ledger_check_run()
    assert run.ok, run.results


def test_a_posted_decision_is_reversed_by_a_reversing_entry_for_what_remains(old) -> None:
    decision = propose(old)
    posted = breakage_review(decision_id=decision.pk, reviewer=old["bob"], approve=True)
    card_reactivate(
        card_id=old["cards"][0].pk, operator=old["alice"], reason="Holder", now=old["now"]
    )

    reversed_ = breakage_reverse(decision_id=decision.pk, operator=old["alice"], reason="Audit")

    assert reversed_.status == BreakageStatus.REVERSED
    assert sorted(p.amount for p in reversed_.reversal_entry.postings.all()) == [
        Decimal("-100.00"),
        Decimal("100.00"),
    ]
    assert JournalEntry.objects.filter(pk=posted.entry_id).exists()  # never edited
    assert owed(BREAKAGE_INCOME) == Decimal("0.00")
    assert not BreakageCard.objects.filter(decision=decision, live=True).exists()
    assert ledger_check_run().ok
    with pytest.raises(StateConflict):
        breakage_reverse(decision_id=decision.pk, operator=old["alice"], reason="Again")


def test_a_rejection_needs_a_note_posts_nothing_and_frees_the_cards(old) -> None:
    decision = propose(old)
    with pytest.raises(ValidationError):
        breakage_review(decision_id=decision.pk, reviewer=old["bob"], approve=False)

    rejected = breakage_review(
        decision_id=decision.pk, reviewer=old["bob"], approve=False, note="Too early"
    )

    assert rejected.status == BreakageStatus.REJECTED
    assert rejected.entry is None
    assert propose(old).card_count == 2


def test_approval_is_refused_when_a_card_came_back_after_the_proposal(old) -> None:
    decision = propose(old)
    card_reactivate(
        card_id=old["cards"][1].pk, operator=old["bob"], reason="Holder", now=old["now"]
    )
    with pytest.raises(StateConflict) as conflict:
        breakage_review(decision_id=decision.pk, reviewer=old["bob"], approve=True)
    assert conflict.value.code == "breakage_cards_changed"
    assert owed(BREAKAGE_INCOME) == Decimal("0.00")


def test_the_report_lists_the_cards_and_the_totals(old) -> None:
    decision = propose(old)
    breakage_review(decision_id=decision.pk, reviewer=old["bob"], approve=True)
    card_reactivate(
        card_id=old["cards"][0].pk, operator=old["alice"], reason="Holder", now=old["now"]
    )

    decision = fresh_decision(decision)
    csv_file = io.BytesIO()
    breakage_report_write(decision, "csv", csv_file)
    text = csv_file.getvalue().decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith('"Serial","Company","Product"')
    assert f'"{old["cards"][0].serial_display}\t"' in lines[1]
    assert "Reversed: the card came back" in lines[1]
    assert "Recognised as income" in lines[2]
    assert lines[3].startswith('"Total: 2 cards",')
    assert ",200.00," in lines[3]
    assert lines[4].startswith('"Still recognised as income",')
    assert ",100.00," in lines[4]

    xlsx_file = io.BytesIO()
    breakage_report_write(decision, "xlsx", xlsx_file)
    sheet = openpyxl.load_workbook(xlsx_file).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Serial"
    assert rows[2][0] == old["cards"][1].serial_display
    assert rows[2][5] == 100
    assert rows[-1][5] == 100


# --- The operators' admin -----------------------------------------------------------------------


def breakage_client(user: User) -> Client:
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="cards",
            codename__in=[
                "view_breakagedecision",
                "add_breakagedecision",
                "change_breakagedecision",
            ],
        )
    )
    client = Client()
    sign_in(client, user, second_factor=True)
    return client


def test_the_admin_walks_a_decision_from_proposal_to_report(old, monkeypatch) -> None:
    from cards.services.expiry import breakage as breakage_module

    # The admin proposes as of today; the cards of the fixture expire years from now.
    monkeypatch.setattr(
        breakage_module, "breakage_cutoff", lambda now=None: add_months(old["now"], -36)
    )
    alice, bob = breakage_client(old["alice"]), breakage_client(old["bob"])
    listing = alice.get(reverse("admin:cards_breakagedecision_changelist"))
    assert reverse("admin:cards_breakagedecision_propose") in listing.content.decode()

    page = alice.get(reverse("admin:cards_breakagedecision_propose"))
    assert page.status_code == 200
    done = alice.post(reverse("admin:cards_breakagedecision_propose"), {"reason": "Year end"})
    assert done.status_code == 302
    decision = BreakageDecision.objects.get()
    review = reverse("admin:cards_breakagedecision_review", args=[decision.pk])

    own = alice.post(review, {"decision": "approve", "note": ""})
    assert own.status_code == 200
    assert "A second operator must review this decision" in own.content.decode()

    assert bob.post(review, {"decision": "approve", "note": "Checked"}).status_code == 302
    assert fresh_decision(decision).status == BreakageStatus.POSTED
    change = bob.get(reverse("admin:cards_breakagedecision_change", args=[decision.pk]))
    assert reverse("admin:cards_breakagedecision_reverse", args=[decision.pk]) in (
        change.content.decode()
    )
    report = bob.get(reverse("admin:cards_breakagedecision_report", args=[decision.pk, "csv"]))
    assert report.status_code == 200
    assert report["Content-Disposition"].startswith("attachment")
    body = b"".join(report.streaming_content).decode("utf-8-sig")
    assert "Total: 2 cards" in body

    reverse_url = reverse("admin:cards_breakagedecision_reverse", args=[decision.pk])
    assert bob.post(reverse_url, {"reason": "Auditor's note"}).status_code == 302
    assert fresh_decision(decision).status == BreakageStatus.REVERSED
