"""The company's voucher account mapping: which accounts of its own chart the vouchers book to.

Finance sets it (``Action.EXPENSES_MAPPING``) and every change is audited with the mapping
before and after. Expense accounts come from rules by category and/or cost center; the most
specific rule wins (``AccountResolver``): category and cost center, then category alone, then
cost center alone, then the default expense account. Categories and cost centers compare
without regard to case or surrounding spaces, as the expense systems write them loosely.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from expenses.audit import ExpenseAction
from expenses.models import AccountMapping, AccountRule
from portal.models import Company, User
from portal.services.audit import audit_record

# An account code as charts of accounts write it: digits, letters, dots, dashes and
# underscores ("1123", "6602.01", "0101", "6602-03"), not starting with a dash. Kept as text.
ACCOUNT_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$")
MAX_RULES = 500


@dataclass(frozen=True)
class RuleInput:
    category: str
    cost_center: str
    account: str
    account_name: str


@dataclass(frozen=True)
class Account:
    code: str
    name: str


def _key(value: str) -> str:
    return value.strip().casefold()


class AccountResolver:
    """The expense account of a claim line by its category and cost center."""

    def __init__(self, mapping: AccountMapping, rules: Iterable[AccountRule]) -> None:
        self.prepaid = Account(mapping.prepaid_account, mapping.prepaid_account_name)
        self.default = Account(
            mapping.default_expense_account, mapping.default_expense_account_name
        )
        self.employee_subledger = mapping.employee_subledger
        self._rules: dict[tuple[str, str], Account] = {
            (_key(rule.category), _key(rule.cost_center)): Account(rule.account, rule.account_name)
            for rule in rules
        }

    @classmethod
    def of(cls, mapping: AccountMapping) -> AccountResolver:
        return cls(mapping, mapping.rules.all())

    def expense_account(self, *, category: str, cost_center: str) -> Account:
        category, cost_center = _key(category), _key(cost_center)
        wanted: list[tuple[str, str]] = []
        if category and cost_center:
            wanted.append((category, cost_center))
        if category:
            wanted.append((category, ""))
        if cost_center:
            wanted.append(("", cost_center))
        for key in wanted:
            account = self._rules.get(key)
            if account is not None:
                return account
        return self.default


def mapping_of(company: Company) -> AccountMapping | None:
    return (
        AccountMapping.objects.filter(company=company)
        .prefetch_related("rules")
        .select_related("company")
        .first()
    )


def mapping_snapshot(mapping: AccountMapping | None) -> dict[str, Any]:
    """The mapping as the audit trail records it (rules in a stable order)."""
    if mapping is None:
        return {}
    rules = sorted(
        (
            {
                "category": rule.category,
                "cost_center": rule.cost_center,
                "account": rule.account,
                "account_name": rule.account_name,
            }
            for rule in mapping.rules.all()
        ),
        key=lambda rule: (_key(rule["category"]), _key(rule["cost_center"])),
    )
    return {
        "prepaid_account": mapping.prepaid_account,
        "prepaid_account_name": mapping.prepaid_account_name,
        "default_expense_account": mapping.default_expense_account,
        "default_expense_account_name": mapping.default_expense_account_name,
        "employee_subledger": mapping.employee_subledger,
        "rules": rules,
    }


def _check_account(code: str, field: str, where: str, errors: dict[str, list[str]]) -> None:
    if not code:
        errors.setdefault(field, []).append(
            _("%(where)s: enter an account code.") % {"where": where}
        )
    elif not ACCOUNT_CODE.match(code):
        errors.setdefault(field, []).append(
            _(
                "%(where)s: “%(value)s” is not an account code; use digits, letters, dots or "
                "dashes as your chart of accounts writes it (e.g. 6602.01), at most 32 characters."
            )
            % {"where": where, "value": code[:40]}
        )


def _clean_rules(rules: Sequence[RuleInput], errors: dict[str, list[str]]) -> list[RuleInput]:
    cleaned: list[RuleInput] = []
    seen: dict[tuple[str, str], int] = {}
    if len(rules) > MAX_RULES:
        errors.setdefault("rules", []).append(
            _("At most %(max)d rules; merge some of them.") % {"max": MAX_RULES}
        )
        return cleaned
    for number, rule in enumerate(rules, start=1):
        where = _("Rule %(number)d") % {"number": number}
        category, cost_center = rule.category.strip(), rule.cost_center.strip()
        account, name = rule.account.strip(), rule.account_name.strip()
        if not category and not cost_center:
            errors.setdefault("rules", []).append(
                _(
                    "%(where)s: give a category, a cost center or both (the default expense "
                    "account covers the rest)."
                )
                % {"where": where}
            )
            continue
        _check_account(account, "rules", where, errors)
        if not name:
            errors.setdefault("rules", []).append(
                _("%(where)s: enter the account's name.") % {"where": where}
            )
        key = (_key(category), _key(cost_center))
        if key in seen:
            errors.setdefault("rules", []).append(
                _(
                    "%(where)s repeats rule %(first)d (category “%(category)s”, cost center "
                    "“%(cost_center)s”)."
                )
                % {
                    "where": where,
                    "first": seen[key],
                    "category": category,
                    "cost_center": cost_center,
                }
            )
            continue
        seen[key] = number
        cleaned.append(RuleInput(category, cost_center, account, name))
    return cleaned


def mapping_save(
    *,
    company: Company,
    actor: User,
    prepaid_account: str,
    prepaid_account_name: str,
    default_expense_account: str,
    default_expense_account_name: str,
    employee_subledger: bool,
    rules: Sequence[RuleInput],
    ip: str | None = None,
) -> AccountMapping:
    """Set the company's mapping (its rules replaced by ``rules``) and audit the change with
    the mapping before and after; nothing is written when nothing changed. ValidationError
    (by field) when an account code or a rule is wrong: then nothing is written."""
    errors: dict[str, list[str]] = {}
    fields = {
        "prepaid_account": prepaid_account.strip(),
        "prepaid_account_name": prepaid_account_name.strip(),
        "default_expense_account": default_expense_account.strip(),
        "default_expense_account_name": default_expense_account_name.strip(),
    }
    _check_account(fields["prepaid_account"], "prepaid_account", _("Prepaid card account"), errors)
    _check_account(
        fields["default_expense_account"],
        "default_expense_account",
        _("Default expense account"),
        errors,
    )
    for field in ("prepaid_account_name", "default_expense_account_name"):
        if not fields[field]:
            errors.setdefault(field, []).append(_("Enter the account's name."))
    cleaned = _clean_rules(rules, errors)
    if errors:
        raise ValidationError(errors, code="invalid")

    with transaction.atomic():
        mapping, existed = _locked_mapping(company)
        before = mapping_snapshot(mapping) if existed else {}
        for name, value in fields.items():
            setattr(mapping, name, value)
        mapping.employee_subledger = employee_subledger
        after = {
            **fields,
            "employee_subledger": employee_subledger,
            "rules": sorted(
                (
                    {
                        "category": rule.category,
                        "cost_center": rule.cost_center,
                        "account": rule.account,
                        "account_name": rule.account_name,
                    }
                    for rule in cleaned
                ),
                key=lambda rule: (_key(rule["category"]), _key(rule["cost_center"])),
            ),
        }
        if before == after:
            return mapping
        mapping.updated_at = timezone.now()
        mapping.updated_by = actor
        mapping.save()
        mapping.rules.all().delete()
        AccountRule.objects.bulk_create(
            AccountRule(
                mapping=mapping,
                category=rule.category,
                cost_center=rule.cost_center,
                account=rule.account,
                account_name=rule.account_name,
            )
            for rule in cleaned
        )
        audit_record(
            action=ExpenseAction.MAPPING_CHANGED,
            actor=actor,
            company=company,
            obj=mapping,
            ip=ip,
            changes={"before": before, "after": after},
        )
    return mapping


def _locked_mapping(company: Company) -> tuple[AccountMapping, bool]:
    """The company's mapping under its row lock, and whether it was set before (two editors
    save one after the other, each audited against what the other left). The first save makes
    the row, and one that loses that race to another finds the winner's row."""
    mapping = AccountMapping.objects.select_for_update().filter(company=company).first()
    if mapping is not None:
        return mapping, bool(mapping.prepaid_account)
    try:
        with transaction.atomic():
            AccountMapping.objects.create(
                company=company,
                prepaid_account="",
                prepaid_account_name="",
                default_expense_account="",
                default_expense_account_name="",
            )
    except IntegrityError:
        pass
    mapping = AccountMapping.objects.select_for_update().get(company=company)
    return mapping, bool(mapping.prepaid_account)
