"""The catalog, and orders and their lines (purchase registrations: ``registration``)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language, gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from billing.models import Invoice
from billing.money import ZERO, format_cny, parse_amount
from cards.models.registration import PurchaseRegistration
from portal.models import ApiKey, Company

# The single-purpose prepaid card regime (DESIGN.md section 7).
BEARER_FACE_VALUE_CAP = Decimal("1000.00")
REGISTERED_FACE_VALUE_CAP = Decimal("5000.00")
BEARER_MIN_VALIDITY_MONTHS = 36
REGISTRATION_ORDER_THRESHOLD = Decimal("10000.00")


class CardType(models.TextChoices):
    BEARER = "bearer", _("Bearer (unregistered)")
    REGISTERED = "registered", _("Registered")


FACE_VALUE_CAPS = {
    CardType.BEARER: BEARER_FACE_VALUE_CAP,
    CardType.REGISTERED: REGISTERED_FACE_VALUE_CAP,
}


# The prepaid card rules' messages: one wording for the product form, the product import and
# every order line (form, file, API).


def face_value_cap_rule(card_type: str) -> str:
    """'Prepaid card rule: bearer cards have a face value of at most ¥1,000.00.'"""
    cap = FACE_VALUE_CAPS[CardType(card_type)]
    rule = (
        gettext("Prepaid card rule: bearer cards have a face value of at most %(cap)s.")
        if card_type == CardType.BEARER
        else gettext("Prepaid card rule: registered cards have a face value of at most %(cap)s.")
    )
    return rule % {"cap": format_cny(cap)}


def bearer_validity_rule() -> str:
    return gettext(
        "Prepaid card rule: bearer cards must be valid at least %(months)s months (3 years)."
    ) % {"months": BEARER_MIN_VALIDITY_MONTHS}


class CardProduct(models.Model):
    public_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, verbose_name=_("public ID")
    )
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)
    description_en = models.TextField(_("English description"), blank=True)
    card_type = models.CharField(_("card type"), max_length=16, choices=CardType.choices)
    # Either a fixed list of face values, or a range (min, max, step).
    face_values = models.JSONField(
        _("face values"),
        default=list,
        blank=True,
        help_text=_('A list such as ["100", "200", "500"]; leave empty to use a range.'),
    )
    face_min = models.DecimalField(
        _("lowest face value"), null=True, blank=True, max_digits=14, decimal_places=2
    )
    face_max = models.DecimalField(
        _("highest face value"), null=True, blank=True, max_digits=14, decimal_places=2
    )
    face_step = models.DecimalField(
        _("face value step"), null=True, blank=True, max_digits=14, decimal_places=2
    )
    validity_months = models.PositiveSmallIntegerField(
        _("validity (months)"),
        null=True,
        blank=True,
        help_text=_("Bearer cards: at least 36. Registered cards do not expire: leave empty."),
    )
    active = models.BooleanField(_("on sale"), default=True)
    # Empty: in every company's catalog. Set: a product made for one company only, which no
    # other company can order (the portal, the API and file uploads all refuse it).
    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exclusive_products",
        verbose_name=_("only for company"),
        help_text=_("Leave empty to offer the product to every company."),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("card product")
        verbose_name_plural = _("card products")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(card_type=CardType.REGISTERED)
                | models.Q(validity_months__gte=BEARER_MIN_VALIDITY_MONTHS),
                name="product_bearer_validity_3_years",
            ),
            models.CheckConstraint(
                condition=models.Q(card_type=CardType.BEARER, face_max__lte=BEARER_FACE_VALUE_CAP)
                | models.Q(card_type=CardType.REGISTERED, face_max__lte=REGISTERED_FACE_VALUE_CAP)
                | models.Q(face_max__isnull=True),
                name="product_face_max_within_cap",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        """The prepaid card rules, named, before the database's CHECK constraints would refuse
        the row with a bare constraint name."""
        errors: dict[str, list[str]] = {}

        def add(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        cap = FACE_VALUE_CAPS.get(self.card_type)  # type: ignore[call-overload]
        if self.card_type == CardType.BEARER:
            if self.validity_months is None or self.validity_months < BEARER_MIN_VALIDITY_MONTHS:
                add("validity_months", bearer_validity_rule())
        elif self.card_type == CardType.REGISTERED and self.validity_months is not None:
            add(
                "validity_months",
                gettext(
                    "Prepaid card rule: registered cards do not expire; leave the validity empty."
                ),
            )
        if self.face_values:
            if not isinstance(self.face_values, list):
                add(
                    "face_values", gettext("Give the face values as a list, such as 100, 200, 500.")
                )
            else:
                parsed = set()
                for raw in self.face_values:
                    try:
                        value = parse_amount(str(raw), field=gettext("face value"))
                    except ValidationError as exc:
                        add("face_values", exc.messages[0])
                        continue
                    if value <= 0:
                        add("face_values", gettext("Face values must be above zero."))
                    elif cap is not None and value > cap:
                        add("face_values", face_value_cap_rule(self.card_type))
                    parsed.add(value)
                if "face_values" not in errors:
                    # Stored in one canonical form: sorted, without repeats, two decimals.
                    self.face_values = [str(value) for value in sorted(parsed)]
            if self.face_min is not None or self.face_max is not None:
                add("face_min", gettext("Give either a list of face values or a range, not both."))
        elif self.face_min is None or self.face_max is None:
            add(
                "face_values",
                gettext("Give a list of face values, or the lowest and highest value."),
            )
        else:
            if self.face_min <= 0:
                add("face_min", gettext("Face values must be above zero."))
            if self.face_max < self.face_min:
                add("face_max", gettext("The highest face value is below the lowest."))
            elif cap is not None and self.face_max > cap:
                add("face_max", face_value_cap_rule(self.card_type))
            if self.face_step is not None and self.face_step <= 0:
                add("face_step", gettext("The step must be above zero."))
        if errors:
            raise ValidationError(errors)

    @property
    def display_name(self) -> str:
        if self.name_en and (get_language() or "").startswith("en"):
            return self.name_en
        return self.name

    @property
    def display_description(self) -> str:
        """The description in the reader's language, else the one there is."""
        if (get_language() or "").startswith("en"):
            return self.description_en or self.description
        return self.description or self.description_en

    def offered_to(self, company: Company) -> bool:
        """In this company's catalog: offered to every company, or made for this one."""
        return self.company_id is None or self.company_id == company.live_id

    @property
    def face_value_cap(self) -> Decimal:
        return FACE_VALUE_CAPS[CardType(self.card_type)]

    def listed_face_values(self) -> list[Decimal]:
        return sorted(Decimal(str(v)) for v in self.face_values)

    def allows_face_value(self, value: Decimal) -> bool:
        if self.face_values:
            return value in self.listed_face_values()
        if self.face_min is None or self.face_max is None:
            return False
        if not self.face_min <= value <= self.face_max:
            return False
        step = self.face_step or Decimal("0.01")
        return (value - self.face_min) % step == 0

    @property
    def face_values_label(self) -> str:
        if self.face_values:
            return " / ".join(
                f"{v:,.2f}".rstrip("0").rstrip(".") for v in self.listed_face_values()
            )
        step = self.face_step or Decimal("0.01")
        return f"{self.face_min:,.2f} - {self.face_max:,.2f} (+{step:,.2f})"


class OrderStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING_APPROVAL = "pending_approval", _("Waiting for approval")
    PENDING_REVIEW = "pending_review", _("In risk review")
    AWAITING_PAYMENT = "awaiting_payment", _("Waiting for payment")
    FUNDED = "funded", _("Funded")
    FULFILLING = "fulfilling", _("Generating cards")
    FULFILLED = "fulfilled", _("Cards ready")
    DELIVERED = "delivered", _("Delivered")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class PaymentMethod(models.TextChoices):
    CREDIT = "credit", _("Credit terms")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer (prepay)")


class DeliveryMethod(models.TextChoices):
    FILE = "file", _("Encrypted file")
    RECIPIENTS = "recipients", _("To each recipient")


class Order(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(_("order number"), max_length=20, unique=True)
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="orders", verbose_name=_("company")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_via_key = models.ForeignKey(
        ApiKey, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=20, choices=OrderStatus.choices, default=OrderStatus.DRAFT
    )
    payment_method = models.CharField(
        pgettext_lazy("payment method", "payment"),
        max_length=16,
        choices=PaymentMethod.choices,
        default=PaymentMethod.CREDIT,
    )
    delivery_method = models.CharField(
        _("delivery"), max_length=16, choices=DeliveryMethod.choices, default=DeliveryMethod.FILE
    )
    # The buyer's own reference, unique per company (the API's Idempotency-Key lands here too).
    # NULL means "none given", which must not collide with another order's missing reference.
    client_reference = models.CharField(_("your reference"), max_length=128, null=True, blank=True)  # noqa: DJ001
    # The one-time token of the portal form this order was created from, unique per company: a
    # second post of the same form (a double click, a resend) finds this order instead of
    # making another one.
    form_token = models.UUIDField(null=True, blank=True, editable=False)
    note = models.CharField(_("note"), max_length=300, blank=True)
    registration = models.ForeignKey(
        PurchaseRegistration,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("purchase registration"),
    )
    face_total = models.DecimalField(
        _("face value total"), default=ZERO, max_digits=14, decimal_places=2
    )
    total = models.DecimalField(_("price"), default=ZERO, max_digits=14, decimal_places=2)
    card_count = models.PositiveIntegerField(_("cards"), default=0)
    line_count = models.PositiveIntegerField(_("lines"), default=0)
    needs_approval = models.BooleanField(default=False, verbose_name=_("needs approval"))
    risk_flags = models.JSONField(_("risk flags"), default=list, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    funded_at = models.DateTimeField(_("funded at"), null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))
    approvers_notified_at = models.DateTimeField(null=True, blank=True)
    creator_notified_at = models.DateTimeField(null=True, blank=True)
    ready_notified_at = models.DateTimeField(null=True, blank=True)
    closing_reason = models.CharField(_("reason"), max_length=500, blank=True)
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("invoice"),
    )
    proforma = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("pro-forma invoice"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "client_reference"], name="order_client_reference_per_company"
            ),
            models.UniqueConstraint(
                fields=["company", "form_token"], name="order_form_token_per_company"
            ),
        ]
        indexes = [
            models.Index(fields=["company", "-created_at"], name="order_company_created"),
            models.Index(fields=["company", "status"], name="order_company_status"),
            models.Index(fields=["status", "submitted_at"], name="order_status_submitted"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_editable(self) -> bool:
        return self.status == OrderStatus.DRAFT

    @property
    def is_open(self) -> bool:
        return self.status not in (OrderStatus.REJECTED, OrderStatus.CANCELLED)


class OrderLine(models.Model):
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order")
    )
    position = models.PositiveIntegerField(verbose_name=_("position"))
    product = models.ForeignKey(
        CardProduct, on_delete=models.PROTECT, related_name="+", verbose_name=_("card product")
    )
    face_value = models.DecimalField(_("face value"), max_digits=14, decimal_places=2)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=16, decimal_places=4)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    recipient_name = models.CharField(_("recipient"), max_length=100, blank=True)
    recipient_mobile = models.CharField(_("mobile"), max_length=20, blank=True)
    recipient_email = models.EmailField(_("email"), blank=True)
    employee_id = models.CharField(_("employee ID"), max_length=64, blank=True)
    cost_center = models.CharField(_("cost center"), max_length=64, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="order_line_position"),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="line_quantity_gte_1"),
            models.CheckConstraint(condition=models.Q(face_value__gt=0), name="line_face_gt_0"),
        ]
        indexes = [
            # Expense matching finds the cards given to the employees a report names.
            models.Index(
                fields=["employee_id"],
                condition=~models.Q(employee_id=""),
                name="orderline_employee",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order.number} #{self.position}"

    @property
    def face_total(self) -> Decimal:
        return self.face_value * self.quantity


class RiskReviewOrder(Order):
    """The operators' risk review queue in the admin: orders in ``pending_review``."""

    class Meta:
        proxy = True
        verbose_name = _("Risk review queue")
        verbose_name_plural = _("Risk review queue")
        default_permissions = ("view",)
        permissions = [("review_order", _("Can clear or reject orders in risk review"))]
