"""django-import-export for the catalog, and order files uploaded by support for a company.

Card products: every imported row runs through the model's ``full_clean()``, so the prepaid card
rules of ``CardProduct.clean`` (face value caps, bearer validity...) show in the library's
preview, named, per row; the preview runs in a transaction that is rolled back and a file with
an invalid row cannot be confirmed, so a bad file writes nothing.

Order files: an order file becomes one order, not rows of a table, so support uploads it through
``cards.services.uploads`` (the portal's check, preview and confirm) from a page of the order
file admin, never through the import-export machinery.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.admin import ImportExportMixin

from billing.admin import ReadOnlyAdmin
from billing.admin.import_ import (
    CompanyByCreditCodeWidget,
    PlainDecimalWidget,
    SafeFormatsMixin,
    invalid_row,
)
from cards.admin import CardProductAdmin
from cards.forms_uploads import SupportUploadForm
from cards.models import CardProduct, CardType, OrderUpload
from cards.services.uploads import (
    upload_confirm,
    upload_discard,
    upload_progress,
    upload_receive,
    upload_result_for_reader,
)
from portal.models import User
from portal.services.audit import client_ip

# --- Card products -------------------------------------------------------------------------------

_LIST_SEPARATORS = ("\uff0c", "\u3001", ";", "\uff1b", "\n", "|")


class FaceValuesWidget(widgets.Widget):
    """A fixed list of face values written ``100, 200, 500`` (full-width commas too); the model
    checks each value against the prepaid card rules."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> list[str]:
        text = str(value if value is not None else "")
        for separator in _LIST_SEPARATORS:
            text = text.replace(separator, ",")
        return [part.strip() for part in text.split(",") if part.strip()]

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        if obj is not None and isinstance(obj, CardProduct):
            return ", ".join(f"{amount:f}" for amount in obj.listed_face_values())
        return ", ".join(str(item) for item in value or [])


class CardTypeWidget(widgets.Widget):
    """``bearer`` or ``registered`` (the labels in either language are accepted too)."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        text = str(value or "").strip()
        for choice, label in CardType.choices:
            if text.lower() in (choice, str(label).lower()):
                return str(choice)
        raise ValueError(
            _("Card type “%(value)s” is unknown; use bearer or registered.") % {"value": text}
        )

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return str(value or "")


class OptionalIntegerWidget(widgets.Widget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> int | None:
        text = str(value if value is not None else "").strip()
        if not text:
            return None
        try:
            number = PlainDecimalWidget().clean(text)
        except ValueError as exc:
            raise ValueError(_("“%(value)s” is not a whole number.") % {"value": text}) from exc
        if number is None or number != number.to_integral_value():
            raise ValueError(_("“%(value)s” is not a whole number.") % {"value": text})
        return int(number)

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return "" if value is None else str(value)


class CardProductResource(resources.ModelResource):
    """Products by ``public_id``: a row without one is a new product."""

    public_id = fields.Field(attribute="public_id", column_name="public_id", readonly=True)
    name = fields.Field(attribute="name", column_name="name")
    name_en = fields.Field(attribute="name_en", column_name="name_en")
    description = fields.Field(attribute="description", column_name="description")
    card_type = fields.Field(
        attribute="card_type", column_name="card_type", widget=CardTypeWidget()
    )
    face_values = fields.Field(
        attribute="face_values", column_name="face_values", widget=FaceValuesWidget()
    )
    face_min = fields.Field(
        attribute="face_min", column_name="face_min", widget=PlainDecimalWidget()
    )
    face_max = fields.Field(
        attribute="face_max", column_name="face_max", widget=PlainDecimalWidget()
    )
    face_step = fields.Field(
        attribute="face_step", column_name="face_step", widget=PlainDecimalWidget()
    )
    validity_months = fields.Field(
        attribute="validity_months", column_name="validity_months", widget=OptionalIntegerWidget()
    )
    active = fields.Field(attribute="active", column_name="active", widget=widgets.BooleanWidget())
    company = fields.Field(
        attribute="company",
        column_name="only_for_company",
        widget=CompanyByCreditCodeWidget(required=False),
    )

    class Meta:
        model = CardProduct
        fields = (
            "public_id",
            "name",
            "name_en",
            "description",
            "card_type",
            "face_values",
            "face_min",
            "face_max",
            "face_step",
            "validity_months",
            "active",
            "company",
        )
        export_order = fields
        import_id_fields = ("public_id",)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
        use_transactions = True

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        # A file of new products needs no public_id column.
        if dataset.headers and "public_id" not in dataset.headers:
            dataset.append_col([""] * len(dataset), header="public_id")

    def get_instance(self, instance_loader: Any, row: Any) -> CardProduct | None:
        raw = str(row.get("public_id") or "").strip()
        if not raw:
            return None
        try:
            return CardProduct.objects.get(public_id=raw)
        except (CardProduct.DoesNotExist, ValidationError, ValueError) as exc:
            raise ValidationError(
                {
                    "public_id": _(
                        "No product has the id “%(value)s”; leave public_id empty to add a "
                        "new product."
                    )
                    % {"value": raw}
                }
            ) from exc

    def import_row(self, row: Any, instance_loader: Any, **kwargs: Any) -> Any:
        # An unknown public_id is the row's validation error, not a crash of the import.
        try:
            self.get_instance(instance_loader, row)
        except ValidationError as exc:
            return invalid_row(self, exc.message_dict)
        return super().import_row(row, instance_loader, **kwargs)


admin.site.unregister(CardProduct)


@admin.register(CardProduct)
class CardProductImportExportAdmin(SafeFormatsMixin, ImportExportMixin, CardProductAdmin):
    """The catalog admin (form, list, no delete) with import and export of products."""

    resource_classes = [CardProductResource]


# --- Order files (support uploads for a company) -------------------------------------------------

UPLOAD_PERMISSION = "cards.add_orderupload"


@admin.register(OrderUpload)
class OrderUploadAdmin(ReadOnlyAdmin):
    """Every order file, read only (the file's contents are never shown), and a page where
    support uploads a file for a company: the portal's check, preview and confirm."""

    list_display = [
        "created_at",
        "file_name",
        "company",
        "created_by",
        "on_behalf",
        "status",
        "rows_total",
        "error_count",
        "order",
    ]
    list_filter = ["status", "on_behalf", "file_format"]
    search_fields = ["file_name", "company__legal_name", "company__credit_code", "order__number"]
    list_select_related = ["company", "created_by", "order"]
    date_hierarchy = "created_at"
    fields = [
        "public_id",
        "company",
        "created_by",
        "on_behalf",
        "file_name",
        "file_size",
        "file_format",
        "encoding",
        "file_sha256",
        "payment_method",
        "delivery_method",
        "status",
        "rows_total",
        "error_count",
        "failure",
        "order",
        "created_at",
        "checked_at",
        "confirmed_at",
    ]
    change_list_template = "cards/uploads/admin_change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderUpload]:
        return super().get_queryset(request).defer("result")

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "upload/",
                view(self.upload_view),
                name="cards_orderupload_upload",
            ),
            path(
                "<int:upload_id>/preview/",
                view(self.preview_view),
                name="cards_orderupload_preview",
            ),
            *super().get_urls(),
        ]

    def _require_upload_permission(self, request: HttpRequest) -> None:
        if not request.user.has_perm(UPLOAD_PERMISSION):
            raise PermissionDenied

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            **extra,
        }

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        self._require_upload_permission(request)
        form = SupportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                upload = upload_receive(
                    company=data["company"],
                    actor=cast(User, request.user),
                    file=data["file"],
                    payment_method=data["payment_method"],
                    delivery_method=data["delivery_method"],
                    on_behalf=True,
                    for_member=data["purchaser"],
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("file", message)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                return HttpResponseRedirect(
                    reverse("admin:cards_orderupload_preview", args=[upload.pk])
                )
        return TemplateResponse(
            request,
            "cards/uploads/admin_upload.html",
            self._context(request, _("Upload an order file for a company"), form=form),
        )

    def preview_view(self, request: HttpRequest, upload_id: int) -> HttpResponse:
        self._require_upload_permission(request)
        upload = (
            OrderUpload.objects.select_related("company", "created_by", "order")
            .filter(pk=upload_id)
            .first()
        )
        if upload is None:
            raise Http404
        actor = cast(User, request.user)
        duplicate_message = ""
        if request.method == "POST":
            try:
                if "discard" in request.POST:
                    upload_discard(upload=upload, actor=actor)
                    self.message_user(request, _("The order file was discarded."))
                    return HttpResponseRedirect(reverse("admin:cards_orderupload_changelist"))
                order = upload_confirm(
                    upload=upload,
                    actor=actor,
                    allow_duplicate=bool(request.POST.get("allow_duplicate")),
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                if getattr(exc, "code", None) == "duplicate_upload":
                    duplicate_message = " ".join(exc.messages)
                else:
                    self.message_user(request, " ".join(exc.messages), level=messages.ERROR)
                    return HttpResponseRedirect(request.path)
            except PermissionDenied as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                return HttpResponseRedirect(request.path)
            else:
                self.message_user(
                    request,
                    _("Draft order %(number)s was created for %(company)s.")
                    % {"number": order.number, "company": upload.company.legal_name},
                )
                return HttpResponseRedirect(reverse("admin:cards_order_change", args=[order.pk]))
        result = upload_result_for_reader(upload.result or {})
        errors = list(result["errors"])
        return TemplateResponse(
            request,
            "cards/uploads/admin_preview.html",
            self._context(
                request,
                _("Order file %(name)s") % {"name": upload.file_name},
                upload=upload,
                result=result,
                errors=errors[:200],
                errors_hidden=max(upload.error_count - min(len(errors), 200), 0),
                progress=upload_progress(upload),
                duplicate_of=list(result.get("duplicate_of") or []),
                duplicate_message=duplicate_message,
            ),
            status=409 if duplicate_message else 200,
        )
