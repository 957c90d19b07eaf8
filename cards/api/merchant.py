"""The merchant API (/api/v1/merchant/...): what a retailer's checkout calls to check a card's
balance, redeem it (at once, or as a hold then a capture), refund and void. Merchant keys only.

Each view parses the request, calls one service (``cards.services.spend``) and renders its
answer. Every code that finds no usable card gets the same answer (``CardUnavailableError``):
same status, same body, whatever the reason; the reason is kept for the issuer's operators.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NoReturn

from django.urls import path
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cards.api.merchant_auth import (
    HasMerchantScope,
    MerchantKeyAuthentication,
    MerchantRequestThrottle,
    MerchantThrottled,
    rate_limit_headers,
    request_merchant_key,
)
from cards.models import MerchantApiKey, MerchantLookupFailure
from cards.serializers.merchant import (
    BalanceRequestSerializer,
    BalanceSerializer,
    CaptureRequestSerializer,
    HoldSerializer,
    MerchantTransactionSerializer,
    RefundRequestSerializer,
    SpendRequestSerializer,
    balance_body,
    balance_request_plain,
    hold_created_body,
    spend_request_plain,
    transaction_body,
)
from cards.services import spend
from portal.api.exceptions import UnprocessableRequest, error_body
from portal.api.idempotency import REPLAYED_HEADER, idempotency_key
from portal.api.schema import ERROR_RESPONSES, IDEMPOTENCY_KEY_REQUIRED, ErrorSerializer
from portal.client_ip import client_ip


class CardUnavailableError(APIException):
    """The one answer to every code that finds no usable card."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "card_unavailable"
    default_detail = gettext_lazy(
        "No card that can be used answers to this code. Check the code with the customer; "
        "if it is right, the card cannot be used here."
    )


class SandboxCardError(APIException):
    """A test card's code (test mode, docs/api.md): the code itself says so (it starts with
    TEST), so this answer reveals nothing."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "test_card"
    default_detail = gettext_lazy(
        "This is a test card (its code starts with TEST): it was made in a company's test mode "
        "and has no value. Ask the customer for a real card."
    )


class MerchantView(APIView):
    authentication_classes = [MerchantKeyAuthentication]
    permission_classes = [HasMerchantScope]
    throttle_classes = [MerchantRequestThrottle]
    merchant_scope = ""

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise MerchantThrottled(wait=wait)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in rate_limit_headers(request).items():
            response[name] = value
        return response

    def key(self) -> MerchantApiKey:
        return request_merchant_key(self.request)

    def ip(self) -> str | None:
        return client_ip(self.request)

    def parsed(
        self,
        serializer_class: type[serializers.Serializer[Any]],
        plain: Callable[[object], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """The request's validated data: read directly when ``plain`` recognises it (the shape
        nearly every request has), else through the serializer (its errors the answer)."""
        if plain is not None and (data := plain(self.request.data)) is not None:
            return data
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def call[T](self, service: Callable[[], T]) -> T | Response:
        """Run a service; its refusals become the API's answers."""
        try:
            return service()
        except spend.CardUnavailable:
            raise CardUnavailableError() from None
        except spend.SandboxCardRefused:
            raise SandboxCardError() from None
        except spend.LimitReached as limit:
            raise MerchantThrottled(wait=limit.retry_after) from None
        except spend.IdempotencyKeyReused as exc:
            raise UnprocessableRequest(exc.messages[0], code=exc.code) from None
        except spend.InsufficientBalance as exc:
            body = error_body(exc.messages[0], exc.code, [exc.messages[0]])
            body["available"] = f"{exc.available:.2f}"
            return Response(body, status=status.HTTP_409_CONFLICT)


def _transaction_response(result: spend.SpendResult | Response) -> Response:
    if isinstance(result, Response):
        return result
    headers = {REPLAYED_HEADER: "true"} if result.replayed else {}
    return Response(
        transaction_body(result.transaction),
        status=status.HTTP_201_CREATED,
        headers=headers,
    )


# --- OpenAPI -------------------------------------------------------------------------------------

_TAGS = ["merchant"]
_CARD_UNAVAILABLE = OpenApiResponse(
    ErrorSerializer,
    description=gettext_lazy(
        "No usable card answers to this code: unknown, mistyped, frozen, voided, expired, or "
        "not a code at all. Every such failure reads the same (code card_unavailable)."
    ),
)
_NOT_FOUND = OpenApiResponse(
    ErrorSerializer, description=gettext_lazy("No such hold or redemption of this merchant.")
)
_THROTTLED = OpenApiResponse(
    ErrorSerializer,
    description=gettext_lazy(
        "Too many requests, or too many codes that found no card, from this key, merchant or "
        "address, or for codes like this one: wait Retry-After seconds."
    ),
)
_REUSED = OpenApiResponse(
    ErrorSerializer,
    description=gettext_lazy("The Idempotency-Key was used with another request."),
)
_INSUFFICIENT = OpenApiResponse(
    inline_serializer(
        name="InsufficientBalanceError",
        fields={
            "detail": serializers.CharField(),
            "code": serializers.CharField(),
            "errors": serializers.JSONField(),
            "available": serializers.DecimalField(
                max_digits=14,
                decimal_places=2,
                help_text=gettext_lazy("What the card has available now."),
            ),
        },
    ),
    description=gettext_lazy(
        "The card's available balance is smaller than the amount (code "
        "insufficient_balance), or the card's state does not allow this."
    ),
)
_TEST_CARD = OpenApiResponse(
    ErrorSerializer,
    description=gettext_lazy(
        "A test card's code (it starts with TEST; code test_card): test cards have no value."
    ),
)
_TEST_CARD_OR_REUSED = OpenApiResponse(
    ErrorSerializer,
    description=gettext_lazy(
        "A test card's code (it starts with TEST; code test_card), or the Idempotency-Key was "
        "used with another request (code idempotency_key_reused)."
    ),
)
_RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    description=gettext_lazy("Seconds to wait before trying again."),
)


def _responses(
    ok: dict[int, Any], *, lookup: bool = False, more: dict[int, Any] | None = None
) -> dict[int, Any]:
    responses = {
        **ok,
        **ERROR_RESPONSES,
        404: _CARD_UNAVAILABLE if lookup else _NOT_FOUND,
        429: _THROTTLED,
        **(more or {}),
    }
    if lookup:
        responses[422] = _TEST_CARD_OR_REUSED if 422 in responses else _TEST_CARD
    return responses


def _object_id(name: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.UUID, OpenApiParameter.PATH)


# --- Endpoints -----------------------------------------------------------------------------------


class BalanceView(MerchantView):
    merchant_scope = MerchantApiKey.Scope.BALANCE

    @extend_schema(
        tags=_TAGS,
        summary=gettext_lazy("A card's balance, by its code"),
        request=BalanceRequestSerializer,
        responses=_responses({200: BalanceSerializer}, lookup=True),
        parameters=[_RETRY_AFTER],
    )
    def post(self, request: Request) -> Response:
        data = self.parsed(BalanceRequestSerializer, balance_request_plain)
        card = self.call(
            lambda: spend.card_look_up(
                key=self.key(),
                code=data["code"],
                endpoint=MerchantLookupFailure.Endpoint.BALANCE,
                ip=self.ip(),
            )
        )
        return Response(balance_body(card))


class RedemptionCreateView(MerchantView):
    merchant_scope = MerchantApiKey.Scope.REDEEM

    @extend_schema(
        tags=_TAGS,
        summary=gettext_lazy("Redeem an amount from a card"),
        request=SpendRequestSerializer,
        parameters=[IDEMPOTENCY_KEY_REQUIRED, _RETRY_AFTER],
        responses=_responses(
            {201: MerchantTransactionSerializer},
            lookup=True,
            more={409: _INSUFFICIENT, 422: _REUSED},
        ),
    )
    def post(self, request: Request) -> Response:
        key_value = idempotency_key(request, required=True)
        data = self.parsed(SpendRequestSerializer, spend_request_plain)
        return _transaction_response(
            self.call(
                lambda: spend.redemption_create(
                    key=self.key(),
                    code=data["code"],
                    amount=data["amount"],
                    merchant_reference=data["merchant_reference"],
                    idempotency_key=str(key_value),
                    ip=self.ip(),
                )
            )
        )


class RedemptionVoidView(MerchantView):
    merchant_scope = MerchantApiKey.Scope.REFUND

    @extend_schema(
        tags=_TAGS,
        summary=gettext_lazy("Void a redemption (the same day, by the merchant that made it)"),
        request=None,
        parameters=[_object_id("id"), IDEMPOTENCY_KEY_REQUIRED, _RETRY_AFTER],
        responses=_responses({201: MerchantTransactionSerializer}, more={422: _REUSED}),
    )
    def post(self, request: Request, id: uuid.UUID) -> Response:
        key_value = idempotency_key(request, required=True)
        return _transaction_response(
            self.call(
                lambda: spend.redemption_void(
                    key=self.key(), redemption_id=id, idempotency_key=str(key_value), ip=self.ip()
                )
            )
        )


class RefundCreateView(MerchantView):
    merchant_scope = MerchantApiKey.Scope.REFUND

    @extend_schema(
        tags=_TAGS,
        summary=gettext_lazy("Refund part or all of a redemption to its card"),
        request=RefundRequestSerializer,
        parameters=[IDEMPOTENCY_KEY_REQUIRED, _RETRY_AFTER],
        responses=_responses({201: MerchantTransactionSerializer}, more={422: _REUSED}),
    )
    def post(self, request: Request) -> Response:
        key_value = idempotency_key(request, required=True)
        data = self.parsed(RefundRequestSerializer)
        return _transaction_response(
            self.call(
                lambda: spend.refund_create(
                    key=self.key(),
                    redemption_id=data["redemption"],
                    amount=data["amount"],
                    merchant_reference=data.get("merchant_reference", ""),
                    idempotency_key=str(key_value),
                    ip=self.ip(),
                )
            )
        )


class HoldCreateView(MerchantView):
    merchant_scope = MerchantApiKey.Scope.REDEEM

    @extend_schema(
        tags=_TAGS,
        summary=gettext_lazy("Hold an amount on a card, to capture or release later"),
        request=SpendRequestSerializer,
        parameters=[IDEMPOTENCY_KEY_REQUIRED, _RETRY_AFTER],
        responses=_responses(
            {201: HoldSerializer}, lookup=True, more={409: _INSUFFICIENT, 422: _REUSED}
        ),
    )
    def post(self, request: Request) -> Response:
        key_value = idempotency_key(request, required=True)
        data = self.parsed(SpendRequestSerializer, spend_request_plain)
        result = self.call(
            lambda: spend.hold_create(
                key=self.key(),
                code=data["code"],
                amount=data["amount"],
                merchant_reference=data["merchant_reference"],
                idempotency_key=str(key_value),
                ip=self.ip(),
            )
        )
        if isinstance(result, Response):
            return result
        hold, replayed = result
        headers = {REPLAYED_HEADER: "true"} if replayed else {}
        return Response(hold_created_body(hold), status=status.HTTP_201_CREATED, headers=headers)


class HoldCaptureView(MerchantView):
    merchant_scope = MerchantApiKey.Scope.REDEEM

    @extend_schema(
        tags=_TAGS,
        summary=gettext_lazy("Capture a hold, all or part (the rest is released)"),
        request=CaptureRequestSerializer,
        parameters=[_object_id("id"), IDEMPOTENCY_KEY_REQUIRED, _RETRY_AFTER],
        responses=_responses({201: MerchantTransactionSerializer}, more={422: _REUSED}),
    )
    def post(self, request: Request, id: uuid.UUID) -> Response:
        key_value = idempotency_key(request, required=True)
        data = self.parsed(CaptureRequestSerializer)
        return _transaction_response(
            self.call(
                lambda: spend.hold_capture(
                    key=self.key(),
                    hold_id=id,
                    amount=data.get("amount"),
                    idempotency_key=str(key_value),
                    ip=self.ip(),
                )
            )
        )


class HoldReleaseView(MerchantView):
    merchant_scope = MerchantApiKey.Scope.REDEEM

    @extend_schema(
        tags=_TAGS,
        summary=gettext_lazy("Release a hold"),
        request=None,
        parameters=[_object_id("id"), _RETRY_AFTER],
        responses=_responses({200: HoldSerializer}),
    )
    def post(self, request: Request, id: uuid.UUID) -> Response:
        hold = self.call(lambda: spend.hold_release(key=self.key(), hold_id=id, ip=self.ip()))
        assert not isinstance(hold, Response)
        return Response(HoldSerializer(hold).data)


urlpatterns = [
    path("balance", BalanceView.as_view(), name="api-merchant-balance"),
    path("redemptions", RedemptionCreateView.as_view(), name="api-merchant-redemptions"),
    path(
        "redemptions/<uuid:id>/void",
        RedemptionVoidView.as_view(),
        name="api-merchant-redemption-void",
    ),
    path("refunds", RefundCreateView.as_view(), name="api-merchant-refunds"),
    path("holds", HoldCreateView.as_view(), name="api-merchant-holds"),
    path("holds/<uuid:id>/capture", HoldCaptureView.as_view(), name="api-merchant-hold-capture"),
    path("holds/<uuid:id>/release", HoldReleaseView.as_view(), name="api-merchant-hold-release"),
]
