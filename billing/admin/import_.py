"""django-import-export in the admin: safe file formats for every import-export admin, and the
import and export of company pricing.

The formats: CSV is read as UTF-8 (with or without a byte order mark) or GB18030/GBK, the way
Excel on a Chinese Windows machine saves it, and written as RFC 4180 UTF-8 with a byte order mark
so that Excel shows Chinese text; XLSX is written by ``portal.exports.XlsxWriter``. Both writers
neutralise cells that would start a formula (``= + - @``, tab, carriage return). The library's
own ``IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`` only drops a leading ``=`` (and turns every
value into text), so it stays off and these formats do the job.

Pricing rows go through ``billing.services.pricing``: ``pricing_validate`` in the preview (each
bad row shows the service's own message) and the audited ``pricing_set`` on confirm. The
library previews inside a transaction it rolls back, and offers no confirm while a row is
invalid, so a bad file writes nothing.
"""

from __future__ import annotations

import io
from decimal import Decimal, InvalidOperation
from typing import Any

import tablib
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats

from billing.admin.pricing import CompanyPricingAdmin
from billing.models import CompanyPricing
from billing.services.pricing import pricing_set, pricing_validate
from portal.exports import CsvWriter, XlsxWriter
from portal.models import Company, User
from portal.services.audit import client_ip
from portal.tabular import decode_csv

# --- Formats -------------------------------------------------------------------------------------


def decode_text(data: bytes | str) -> str:
    """A CSV's text, decoded as every uploaded table is (``portal.tabular.decode_csv``): UTF-8
    (a byte order mark is dropped), else GB18030 (a superset of GBK)."""
    return decode_csv(data)


def _cells(dataset: tablib.Dataset) -> list[list[Any]]:
    return [list(row) for row in dataset]


class SafeCSV(base_formats.CSV):
    """CSV in, in UTF-8 or GBK; CSV out, neutralised, RFC 4180, UTF-8 with a byte order mark."""

    CONTENT_TYPE = "text/csv; charset=utf-8"

    def is_binary(self) -> bool:
        # Bytes both ways: the admin hands over the file undecoded (decode_text picks the
        # encoding) and sends our bytes (with their byte order mark) as they are.
        return True

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream: Any, **kwargs: Any) -> tablib.Dataset:
        return tablib.import_set(decode_text(in_stream), format="csv", **kwargs)

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> bytes:
        buffer = io.BytesIO()
        writer = CsvWriter(buffer)
        writer.writerow(dataset.headers or [])
        writer.writerows(_cells(dataset))
        writer.close()
        return buffer.getvalue()


class SafeXLSX(base_formats.XLSX):
    """XLSX in (openpyxl, values only, never formulas); XLSX out, neutralised, no formula."""

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> bytes:
        buffer = io.BytesIO()
        writer = XlsxWriter(buffer, dataset.title or "Export", dataset.headers or [])
        writer.writerows(_cells(dataset))
        writer.close()
        return buffer.getvalue()


SAFE_FORMATS: list[type[base_formats.Format]] = [SafeCSV, SafeXLSX]


class SafeFormatsMixin:
    """For an import-export admin: only the safe formats, and the operator's IP for the audit."""

    formats = SAFE_FORMATS

    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("form", None)
        request: HttpRequest | None = kwargs.pop("request", None)
        if request is not None:
            kwargs["ip"] = client_ip(request)
        return kwargs


# --- Widgets -------------------------------------------------------------------------------------


class CompanyByCreditCodeWidget(widgets.ForeignKeyWidget):
    """A company named by its unified social credit code; an unknown code is the row's error."""

    def __init__(self, *, required: bool = True) -> None:
        super().__init__(Company, field="credit_code")
        self.required = required

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Company | None:
        code = str(value or "").strip().upper()
        if not code:
            if self.required:
                raise ValueError(_("Give the company's unified social credit code."))
            return None
        company = Company.objects.live().filter(credit_code=code).first()
        if company is None:
            raise ValueError(
                _("No company has the unified social credit code “%(code)s”.") % {"code": code}
            )
        return company


class PlainDecimalWidget(widgets.Widget):
    """A decimal read from plain text (``2.50``), never a float on the way in; exported as a
    ``Decimal``, so that the safe formats write it as a number (``portal.exports``)."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Decimal | None:
        text = str(value if value is not None else "").strip().replace(",", "").rstrip("%")
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(_("“%(value)s” is not a number.") % {"value": value}) from exc
        if not number.is_finite():
            raise ValueError(_("“%(value)s” is not a number.") % {"value": value})
        return number

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Decimal | str:
        return "" if value is None else Decimal(value)


def invalid_row(resource: resources.Resource, errors: dict[str, Any]) -> Any:
    """A row result the preview lists as invalid (rather than as a crash of the import)."""
    result = resource.get_row_result_class()()
    result.import_type = result.IMPORT_TYPE_INVALID
    result.validation_error = ValidationError(errors)
    return result


# --- Company pricing -----------------------------------------------------------------------------


class CompanyPricingResource(resources.ModelResource):
    """One row per company: credit code, pricing mode (``discount`` or ``fee``), rate in percent."""

    company = fields.Field(
        attribute="company",
        column_name="credit_code",
        widget=CompanyByCreditCodeWidget(),
    )
    company_name = fields.Field(
        attribute="company__legal_name", column_name="company_name", readonly=True
    )
    mode = fields.Field(attribute="mode", column_name="mode")
    rate = fields.Field(attribute="rate", column_name="rate", widget=PlainDecimalWidget())

    class Meta:
        model = CompanyPricing
        fields = ("company", "company_name", "mode", "rate")
        export_order = ("company", "company_name", "mode", "rate")
        import_id_fields = ("company",)
        skip_unchanged = True
        report_skipped = True
        use_transactions = True

    def import_row(self, row: Any, instance_loader: Any, **kwargs: Any) -> Any:
        # The company identifies the row: an unknown credit code is this row's error.
        try:
            self.fields["company"].clean(row)
        except ValueError as exc:
            return invalid_row(self, {"company": [str(exc)]})
        return super().import_row(row, instance_loader, **kwargs)

    def validate_instance(
        self,
        instance: CompanyPricing,
        import_validation_errors: dict[str, Any] | None = None,
        validate_unique: bool = True,
    ) -> None:
        errors = dict(import_validation_errors or {})
        if "mode" not in errors and "rate" not in errors:
            if instance.rate is None:
                errors["rate"] = [_("Give the rate in percent, for example 2.50.")]
            else:
                try:
                    pricing_validate(mode=instance.mode, rate=instance.rate)
                except ValidationError as exc:
                    errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def save_instance(
        self, instance: CompanyPricing, is_create: bool, row: Any, **kwargs: Any
    ) -> None:
        user = kwargs.get("user")
        saved = pricing_set(
            company=instance.company,
            mode=instance.mode,
            rate=instance.rate,
            actor=user if isinstance(user, User) else None,
            ip=kwargs.get("ip"),
        )
        instance.pk = saved.pk
        instance.updated_at = saved.updated_at


admin.site.unregister(CompanyPricing)


@admin.register(CompanyPricing)
class CompanyPricingImportExportAdmin(SafeFormatsMixin, ImportExportMixin, CompanyPricingAdmin):
    """The pricing admin (form, list, no delete) with import and export of the rates."""

    resource_classes = [CompanyPricingResource]
