"""A company's negotiated pricing, its credit line and credit held for approved orders."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Company


class CompanyPricing(models.Model):
    """The negotiated price of a company's cards: a discount off face value or a service fee."""

    class Mode(models.TextChoices):
        DISCOUNT = "discount", _("Discount off face value")
        FEE = "fee", _("Service fee on face value")

    company = models.OneToOneField(
        Company, on_delete=models.CASCADE, related_name="pricing", verbose_name=_("company")
    )
    mode = models.CharField(_("pricing"), max_length=16, choices=Mode.choices)
    rate = models.DecimalField(
        _("rate (%)"),
        max_digits=5,
        decimal_places=2,
        help_text=_("Percent of face value, for example 2.50 for 2.5%."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("company pricing")
        verbose_name_plural = _("company pricing")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rate__gte=0, rate__lt=100), name="pricing_rate_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.company}: {self.get_mode_display()} {self.rate}%"


class CreditLine(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    company = models.OneToOneField(
        Company, on_delete=models.PROTECT, related_name="credit_line", verbose_name=_("company")
    )
    limit = models.DecimalField(_("credit limit"), max_digits=14, decimal_places=2)
    net_days = models.PositiveSmallIntegerField(_("net days"), default=30)
    grace_days = models.PositiveSmallIntegerField(_("grace days"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("credit line")
        verbose_name_plural = _("credit lines")
        constraints = [
            models.CheckConstraint(condition=models.Q(limit__gte=0), name="credit_limit_gte_0"),
            models.CheckConstraint(
                condition=models.Q(net_days__gte=1, net_days__lte=180),
                name="credit_net_days_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company}: {self.limit}"


class CreditReservation(models.Model):
    """Credit held for an order that is approved but not yet invoiced (it waits for a further
    approval step). Released when the invoice is issued or the order stops."""

    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company")
    )
    reference = models.CharField(_("reference"), max_length=64)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    released_at = models.DateTimeField(null=True, blank=True, verbose_name=_("released at"))

    class Meta:
        verbose_name = _("credit reservation")
        verbose_name_plural = _("credit reservations")
        constraints = [
            models.UniqueConstraint(
                fields=["company", "reference"],
                condition=models.Q(released_at__isnull=True),
                name="credit_reservation_one_open",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="reservation_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.amount}"
