"""Real-name purchase registration: when an order needs it, recording it (the ID number
encrypted), reading the ID number back for a compliance report."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from cards.audit import CardsAction
from cards.models import REGISTRATION_ORDER_THRESHOLD, PurchaseRegistration
from portal import crypto
from portal.models import Company, User
from portal.services.audit import audit_record
from portal.validators import validate_resident_id

from .base import RegistrationInput

_ID_PURPOSE = "purchase-registration-id"


def registration_required(*, face_total: Decimal, total: Decimal, has_registered: bool) -> bool:
    """Real-name registration: any registered card, or a purchase of 10,000 CNY or more."""
    return has_registered or max(face_total, total) >= REGISTRATION_ORDER_THRESHOLD


def registration_record(
    *, company: Company, data: RegistrationInput, actor: User | None
) -> PurchaseRegistration:
    errors: dict[str, str] = {}
    agent = data.agent_name.strip()
    number = "".join(data.id_number.split()).upper()
    phone = "".join(data.contact_phone.split())
    if not agent:
        errors["agent_name"] = _("Give the agent's full name.")
    if data.id_type not in PurchaseRegistration.IdType.values:
        errors["id_type"] = _("Choose the kind of ID.")
    elif data.id_type == PurchaseRegistration.IdType.RESIDENT_ID:
        try:
            validate_resident_id(number)
        except ValidationError as exc:
            errors["id_number"] = exc.messages[0]
    elif not 5 <= len(number) <= 32:
        errors["id_number"] = _("Give the ID number as printed on the document.")
    if not 7 <= len(phone.lstrip("+")) <= 20 or not phone.lstrip("+").isdigit():
        errors["contact_phone"] = _("Give a contact phone number.")
    if errors:
        raise ValidationError(errors)
    key_id, blob = crypto.encrypt(number, purpose=_ID_PURPOSE)
    registration = PurchaseRegistration.objects.create(
        company=company,
        company_name=company.legal_name,
        credit_code=company.credit_code,
        agent_name=agent,
        id_type=data.id_type,
        id_number_key_id=key_id,
        id_number_ciphertext=blob,
        id_number_masked=crypto.mask(number),
        contact_phone=phone,
        created_by=actor,
    )
    audit_record(
        action=CardsAction.REGISTRATION_RECORDED,
        actor=actor,
        company=company,
        obj=registration,
        changes={"agent": agent, "id_number": registration.id_number_masked},
    )
    return registration


def registration_id_number(registration: PurchaseRegistration) -> str:
    """The full ID number, for a compliance report only; never shown in the portal."""
    return crypto.decrypt(
        registration.id_number_key_id,
        bytes(registration.id_number_ciphertext),
        purpose=_ID_PURPOSE,
    )
