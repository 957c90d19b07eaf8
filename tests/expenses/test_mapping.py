"""The voucher account mapping: the most specific rule wins, bad input is refused whole, each
change is audited with before and after; finance and owners edit it, viewers only read it."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError

from expenses.audit import ExpenseAction
from expenses.models import AccountMapping, AccountRule
from expenses.services.mapping import AccountResolver, RuleInput, mapping_of, mapping_save
from portal.models import AuditEvent, Role
from tests.expenses.voucher_helpers import Buyer, buyer, mapping

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

MAPPING_URL = "/expenses/mapping/"
RULES = [
    RuleInput("Travel", "", "6602.01", "差旅费"),
    RuleInput("", "CC-SALES", "6601", "销售费用"),
    RuleInput("Travel", "CC-SALES", "6601.02", "销售费用-差旅费"),
]


@pytest.fixture
def acme() -> Buyer:
    return buyer()


def resolver(who: Buyer) -> AccountResolver:
    found = mapping_of(who.company)
    assert found is not None
    return AccountResolver.of(found)


@pytest.mark.parametrize(
    ("category", "cost_center", "account"),
    [
        ("Travel", "CC-SALES", "6601.02"),  # both named: the most specific
        (" travel ", "cc-sales", "6601.02"),  # case and spaces aside
        ("Travel", "CC-OPS", "6602.01"),  # category beats cost center
        ("Meals", "CC-SALES", "6601"),  # cost center only
        ("Meals", "CC-OPS", "6602"),  # no rule: the default
        ("", "", "6602"),
    ],
)
def test_the_most_specific_rule_wins(
    acme: Buyer, category: str, cost_center: str, account: str
) -> None:
    mapping(acme.company, acme.people[Role.FINANCE], rules=RULES)

    found = resolver(acme).expense_account(category=category, cost_center=cost_center)

    assert found.code == account


def test_a_change_is_audited_with_the_mapping_before_and_after(acme: Buyer) -> None:
    mapping(acme.company, acme.people[Role.FINANCE], rules=RULES[:1])
    mapping(acme.company, acme.people[Role.OWNER], rules=RULES[1:2], subledger=True)

    events = list(
        AuditEvent.objects.filter(action=ExpenseAction.MAPPING_CHANGED).order_by("created_at")
    )
    assert len(events) == 2
    assert events[0].changes["before"] == {}
    first_after = events[0].changes["after"]
    assert first_after["rules"] == [
        {"category": "Travel", "cost_center": "", "account": "6602.01", "account_name": "差旅费"}
    ]
    assert events[1].changes["before"] == first_after
    assert events[1].changes["after"]["employee_subledger"] is True
    assert events[1].changes["after"]["rules"][0]["cost_center"] == "CC-SALES"
    assert events[1].actor == acme.people[Role.OWNER]
    assert list(AccountRule.objects.values_list("account", flat=True)) == ["6601"]


def test_saving_the_same_mapping_again_writes_no_audit_row(acme: Buyer) -> None:
    mapping(acme.company, acme.people[Role.FINANCE], rules=RULES)
    mapping(acme.company, acme.people[Role.FINANCE], rules=list(reversed(RULES)))

    assert AuditEvent.objects.filter(action=ExpenseAction.MAPPING_CHANGED).count() == 1


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([RuleInput("Travel", "", "66 02", "x")], "Rule 1: “66 02” is not an account code"),
        ([RuleInput("Travel", "", "=1+1", "x")], "Rule 1: “=1+1” is not an account code"),
        ([RuleInput("", "", "6602", "x")], "Rule 1: give a category, a cost center or both"),
        (
            [RuleInput("Travel", "", "6602", "x"), RuleInput("TRAVEL", " ", "6603", "y")],
            "Rule 2 repeats rule 1",
        ),
        ([RuleInput("Travel", "", "6602", "")], "Rule 1: enter the account's name."),
    ],
)
def test_a_bad_rule_is_refused_by_its_row_and_nothing_is_written(
    acme: Buyer, rules: list[RuleInput], message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        mapping(acme.company, acme.people[Role.FINANCE], rules=rules)

    assert any(message in text for text in refused.value.message_dict["rules"])
    assert not AccountMapping.objects.exists()
    assert not AuditEvent.objects.filter(action=ExpenseAction.MAPPING_CHANGED).exists()


def test_a_leading_zero_account_code_is_kept_as_written(acme: Buyer) -> None:
    mapping_save(
        company=acme.company,
        actor=acme.people[Role.FINANCE],
        prepaid_account="0101",
        prepaid_account_name="预付卡",
        default_expense_account="006602",
        default_expense_account_name="管理费用",
        employee_subledger=False,
        rules=[],
    )

    assert resolver(acme).prepaid.code == "0101"
    assert resolver(acme).default.code == "006602"


def _post(who: Buyer, role: str, **extra: str) -> object:
    data = {
        "prepaid_account": "1123",
        "prepaid_account_name": "预付账款",
        "default_expense_account": "6602",
        "default_expense_account_name": "管理费用",
        "rules-TOTAL_FORMS": "3",
        "rules-INITIAL_FORMS": "0",
        "rules-0-category": "Travel",
        "rules-0-cost_center": "",
        "rules-0-account": "6602.01",
        "rules-0-account_name": "差旅费",
        **extra,
    }
    return who.client(role).post(MAPPING_URL, data)


@pytest.mark.parametrize("role", [Role.FINANCE, Role.OWNER])
def test_finance_and_owners_set_the_mapping_on_its_page(acme: Buyer, role: str) -> None:
    response = _post(acme, role)

    assert response.status_code == HTTPStatus.FOUND  # type: ignore[attr-defined]
    assert resolver(acme).expense_account(category="travel", cost_center="").code == "6602.01"
    page = acme.client(role).get(MAPPING_URL)
    assert 'data-testid="mapping-form"' in page.content.decode()
    assert 'value="6602.01"' in page.content.decode()


def test_a_bad_account_on_the_page_names_the_row_and_saves_nothing(acme: Buyer) -> None:
    response = _post(acme, Role.FINANCE, **{"rules-1-category": "Meals", "rules-1-account": "6 6"})

    assert response.status_code == HTTPStatus.BAD_REQUEST  # type: ignore[attr-defined]
    assert "Rule 2: “6 6” is not an account code" in response.content.decode()  # type: ignore[attr-defined]
    assert not AccountMapping.objects.exists()


def test_a_viewer_reads_the_mapping_but_cannot_change_it(acme: Buyer) -> None:
    mapping(acme.company, acme.people[Role.FINANCE], rules=RULES)

    page = acme.client(Role.VIEWER).get(MAPPING_URL)
    refused = _post(acme, Role.VIEWER, prepaid_account="9999")

    body = page.content.decode()
    assert page.status_code == HTTPStatus.OK
    assert 'data-testid="mapping-readonly"' in body
    assert "6601.02" in body
    assert 'data-testid="mapping-form"' not in body
    assert refused.status_code == HTTPStatus.FORBIDDEN  # type: ignore[attr-defined]
    assert resolver(acme).prepaid.code == "1123"


@pytest.mark.parametrize("role", [Role.PURCHASER, Role.APPROVER])
def test_roles_outside_expenses_cannot_open_the_mapping(acme: Buyer, role: str) -> None:
    assert acme.client(role).get(MAPPING_URL).status_code == HTTPStatus.FORBIDDEN


def test_each_company_sees_only_its_own_mapping(acme: Buyer) -> None:
    mapping(acme.company, acme.people[Role.FINANCE], prepaid="1123001")
    other = buyer()

    body = other.client(Role.VIEWER).get(MAPPING_URL).content.decode()

    assert "1123001" not in body
    assert 'data-testid="empty-state"' in body
