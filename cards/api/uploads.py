"""API routes for order files: /order-uploads.

``POST /order-uploads`` takes the file (multipart) and checks it: a small file at once (201 with
the check's result), a large one in a worker (202 with the upload's id and the URL to poll).
``POST /order-uploads/{id}/confirm`` (with an ``Idempotency-Key``) turns a valid upload into one
draft order. Every look-up is scoped to the key's company: another company's upload is a 404.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from cards.models import Order, OrderUpload
from cards.serializers import (
    OrderDetailSerializer,
    OrderUploadConfirmSerializer,
    OrderUploadCreateSerializer,
    OrderUploadSerializer,
)
from cards.services.uploads import upload_confirm, upload_error_file, upload_receive
from portal.api.access import ApiAccess
from portal.api.authentication import request_api_key
from portal.api.exceptions import Conflict
from portal.api.idempotency import idempotent_response
from portal.api.negotiation import JsonOnlyNegotiation
from portal.api.parsers import DecimalJSONParser
from portal.api.rate_limits import UPLOAD
from portal.api.schema import ERROR_RESPONSES, IDEMPOTENCY_KEY_REQUIRED, ErrorSerializer
from portal.policy import Action
from portal.services.audit import client_ip

DUPLICATE_CODE = "duplicate_upload"
ERROR_FILE_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

_ID_PARAMETER = OpenApiParameter(
    "public_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description=gettext_lazy("The upload's id, as returned when the file was sent."),
)


def _is_duplicate(exc: DjangoValidationError) -> bool:
    codes = {getattr(exc, "code", None)}
    codes.update(getattr(error, "code", None) for error in getattr(exc, "error_list", []))
    return DUPLICATE_CODE in codes


class OrderUploadViewSet(ApiAccess, viewsets.GenericViewSet[OrderUpload]):
    """Order files of the key's company."""

    policy_actions = {
        "create": Action.ORDER_UPLOAD,
        "retrieve": Action.ORDER_UPLOAD,
        "errors": Action.ORDER_UPLOAD,
        "confirm": Action.ORDER_UPLOAD,
    }
    rate_limit_classes = {"create": UPLOAD}
    content_negotiation_class = JsonOnlyNegotiation
    lookup_field = "public_id"
    lookup_value_regex = r"[0-9a-fA-F-]{36}"
    serializer_class = OrderUploadSerializer

    # The upload is multipart (the file); confirm takes JSON like the rest of the API. (The
    # action is not known yet when DRF asks for the parsers, so all three are offered.)
    parser_classes = [DecimalJSONParser, MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[OrderUpload]:
        return self.company_objects(OrderUpload).select_related("order")

    def get_object(self) -> OrderUpload:
        try:
            return super().get_object()
        except (DjangoValidationError, ValueError) as exc:
            raise NotFound() from exc

    @extend_schema(
        summary=gettext_lazy("Send an order file to be checked"),
        request={"multipart/form-data": OrderUploadCreateSerializer},
        responses={
            201: OpenApiResponse(
                OrderUploadSerializer, description=gettext_lazy("Checked at once: the result.")
            ),
            202: OpenApiResponse(
                OrderUploadSerializer,
                description=gettext_lazy(
                    "A large file, checked by a worker: poll ``poll_url`` until "
                    "``progress.finished``."
                ),
            ),
            **ERROR_RESPONSES,
        },
    )
    def create(self, request: Request) -> Response:
        key = request_api_key(request)
        serializer = OrderUploadCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = upload_receive(
            company=key.company,
            actor=key.user,
            file=data["file"],
            payment_method=data["payment_method"],
            delivery_method=data["delivery_method"],
            api_key=key,
        )
        code = status.HTTP_201_CREATED if upload.finished else status.HTTP_202_ACCEPTED
        headers = {"Location": OrderUploadSerializer().get_poll_url(upload)}
        return Response(OrderUploadSerializer(upload).data, status=code, headers=headers)

    @extend_schema(
        summary=gettext_lazy("An order file's status, progress and check result"),
        parameters=[_ID_PARAMETER],
        responses={200: OrderUploadSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, public_id: str) -> Response:
        return Response(OrderUploadSerializer(self.get_object()).data)

    @extend_schema(
        summary=gettext_lazy("The error file: the file's rows with an error column"),
        parameters=[
            _ID_PARAMETER,
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=list(ERROR_FILE_TYPES), default="csv"
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (
                200,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ): OpenApiTypes.BINARY,
            **ERROR_RESPONSES,
        },
    )
    @action(detail=True, methods=["get"])
    def errors(self, request: Request, public_id: str) -> HttpResponse:
        fmt = request.query_params.get("format", "csv").strip().lower() or "csv"
        if fmt not in ERROR_FILE_TYPES:
            raise NotFound()
        upload = self.get_object()
        if not upload.finished or not upload.error_count:
            raise NotFound()
        content = upload_error_file(upload, fmt)
        response = HttpResponse(content, content_type=ERROR_FILE_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="errors-{upload.public_id}.{fmt}"'
        return response

    @extend_schema(
        summary=gettext_lazy("Confirm a checked file: create its draft order"),
        parameters=[_ID_PARAMETER, IDEMPOTENCY_KEY_REQUIRED],
        request={"application/json": OrderUploadConfirmSerializer},
        responses={
            201: OrderDetailSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy(
                    "The same file already made an order (code duplicate_upload): send "
                    "allow_duplicate: true to create a second one; or the upload is not valid."
                ),
            ),
            422: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy("The Idempotency-Key was used with another request."),
            ),
            **{code: value for code, value in ERROR_RESPONSES.items() if code != 409},
        },
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, public_id: str) -> Response:
        key = request_api_key(request)
        upload = self.get_object()

        def handler() -> Response:
            serializer = OrderUploadConfirmSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            try:
                order = upload_confirm(
                    upload=upload,
                    actor=key.user,
                    allow_duplicate=serializer.validated_data["allow_duplicate"],
                    ip=client_ip(request),
                )
            except DjangoValidationError as exc:
                if _is_duplicate(exc):
                    raise Conflict(" ".join(exc.messages), code=DUPLICATE_CODE) from exc
                raise
            fresh = Order.objects.select_related(
                "created_by", "approved_by", "invoice", "proforma", "registration"
            ).get(pk=order.pk)
            return Response(OrderDetailSerializer(fresh).data, status=status.HTTP_201_CREATED)

        return idempotent_response(
            request,
            company=key.company,
            endpoint=f"order-uploads/{upload.public_id}/confirm",
            handler=handler,
        )


def register_upload_routes(router: SimpleRouter) -> None:
    """Registers this module's API routes."""
    router.register("order-uploads", OrderUploadViewSet, basename="api-order-upload")
