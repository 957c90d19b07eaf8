"""Validators for identifiers people type into the portal."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# GB 32100-2015: 18 characters from this 31-symbol alphabet (no I, O, S, V, Z); the last is a
# check character computed with weights 3^i mod 31.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_character(first17: str) -> str:
    total = sum(
        CREDIT_CODE_ALPHABET.index(ch) * weight
        for ch, weight in zip(first17, _CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def normalize_credit_code(value: str) -> str:
    return "".join(value.split()).upper()


def validate_credit_code(value: str) -> None:
    """Refuse anything but a well-formed unified social credit code with a correct check char."""
    code = normalize_credit_code(value)
    if len(code) != 18:
        raise ValidationError(
            _("A unified social credit code has 18 characters; “%(value)s” has %(length)d."),
            code="credit_code_length",
            params={"value": value, "length": len(code)},
        )
    bad = sorted({ch for ch in code if ch not in CREDIT_CODE_ALPHABET})
    if bad:
        raise ValidationError(
            _(
                "“%(value)s” contains %(chars)s, which never appear in a unified social credit "
                "code (the letters I, O, S, V and Z are not used)."
            ),
            code="credit_code_characters",
            params={"value": value, "chars": ", ".join(bad)},
        )
    expected = credit_code_check_character(code[:17])
    if code[17] != expected:
        raise ValidationError(
            _(
                "“%(value)s” fails the GB 32100-2015 check: the last character should be "
                "%(expected)s. Check the code for a typing mistake."
            ),
            code="credit_code_check",
            params={"value": value, "expected": expected},
        )


# GB 11643-1999: 17 digits, then an ISO 7064 MOD 11-2 check character (0-9 or X).
_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"


def resident_id_check_character(first17: str) -> str:
    total = sum(int(ch) * w for ch, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK[total % 11]


def validate_resident_id(value: str) -> None:
    number = "".join(value.split()).upper()
    if len(number) != 18 or not number[:17].isdigit():
        raise ValidationError(
            _("A resident identity card number has 17 digits and a check character."),
            code="resident_id_format",
        )
    expected = resident_id_check_character(number[:17])
    if number[17] != expected:
        raise ValidationError(
            _("The resident identity card number does not check out; please re-type it."),
            code="resident_id_check",
        )
