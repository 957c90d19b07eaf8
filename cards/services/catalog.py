"""The catalog: card products added and changed by operators (the admin form and its file import
both come here). The prepaid card rules are the model's ``clean``; each write leaves one audit
row with the product's values, or the fields that changed, before and after."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from cards.audit import CardsAction
from cards.models import CardProduct
from portal.models import Company, User
from portal.services.audit import audit_record

PRODUCT_FIELDS = frozenset(
    {
        "name",
        "name_en",
        "description",
        "description_en",
        "card_type",
        "face_values",
        "face_min",
        "face_max",
        "face_step",
        "validity_months",
        "active",
        "company",
    }
)


def _check_fields(values: Mapping[str, Any]) -> None:
    unknown = set(values) - PRODUCT_FIELDS
    if unknown:
        raise ValueError(f"a card product has no editable field {sorted(unknown)}")


def _audit_value(value: Any) -> Any:
    """A value as the audit trail keeps it (JSON): a company by its credit code."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Company):
        return value.credit_code
    if isinstance(value, list):
        return [_audit_value(item) for item in value]
    return str(value)


@transaction.atomic
def product_create(
    *, values: Mapping[str, Any], actor: User | None, ip: str | None = None
) -> CardProduct:
    """A new product from ``values`` (``PRODUCT_FIELDS``), checked against the prepaid card
    rules."""
    _check_fields(values)
    product = CardProduct(**values)
    product.full_clean()
    product.save()
    audit_record(
        action=CardsAction.PRODUCT_CREATED,
        actor=actor,
        company=product.company,
        obj=product,
        ip=ip,
        changes={name: _audit_value(getattr(product, name)) for name in sorted(values)},
    )
    return product


@transaction.atomic
def product_update(
    *,
    product: CardProduct,
    changes: Mapping[str, Any],
    actor: User | None,
    ip: str | None = None,
) -> CardProduct:
    """Change a product under its row lock; one audit row names each field that changed, before
    and after. Values equal to the stored ones write nothing."""
    _check_fields(changes)
    locked = CardProduct.objects.select_for_update().get(pk=product.pk)
    before = {name: getattr(locked, name) for name in changes}
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.full_clean()  # normalises the face values before they are compared
    changed = {
        name: [_audit_value(before[name]), _audit_value(getattr(locked, name))]
        for name in sorted(changes)
        if getattr(locked, name) != before[name]
    }
    if not changed:
        return locked
    locked.save(update_fields=list(changed))
    audit_record(
        action=CardsAction.PRODUCT_UPDATED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes=changed,
    )
    return locked
