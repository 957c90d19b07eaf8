"""API: /api/v1/webhook-endpoints (list, create, retrieve, change, delete), with
/{id}/rotate-secret, /{id}/enable and /{id}/replay. ``webhooks:manage`` scope, owners only.

The secret is in the answer to the create and the rotation only, never afterwards. POSTs take an
optional Idempotency-Key (a retried create does not make a second endpoint)."""

from __future__ import annotations

import datetime
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from portal.api.access import ApiAccess
from portal.api.authentication import request_api_key
from portal.api.idempotency import idempotent_response
from portal.api.schema import ERROR_RESPONSES, IDEMPOTENCY_KEY_OPTIONAL
from portal.policy import Action
from portal.services.audit import client_ip
from webhooks.events import EventType
from webhooks.models import WebhookEndpoint
from webhooks.services import endpoints as services
from webhooks.services.replay import events_replay


class EndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), allow_empty=False
    )
    enabled = serializers.BooleanField(read_only=True)
    disabled_reason = serializers.ChoiceField(
        choices=WebhookEndpoint.DisabledReason.choices,
        allow_blank=True,
        read_only=True,
        help_text=gettext_lazy("Why it is disabled; empty while it is enabled."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "enabled",
            "disabled_at",
            "disabled_reason",
            "last_success_at",
            "last_failure_at",
            "failing_since",
            "consecutive_failures",
            "previous_secret_expires_at",
            "created_at",
        ]
        read_only_fields = [f for f in fields if f not in {"url", "description", "event_types"}]


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text=gettext_lazy("The signing secret: shown in this answer only. Keep it safe."),
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class RotateSerializer(serializers.Serializer[Any]):
    overlap_hours = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=168,
        help_text=gettext_lazy("How long the old secret keeps signing (default 24)."),
    )


class ReplaySerializer(serializers.Serializer[Any]):
    event = serializers.CharField(
        required=False, help_text=gettext_lazy("One event's id (evt_...) to deliver again.")
    )
    start = serializers.DateTimeField(
        required=False, help_text=gettext_lazy("Or every event from this time...")
    )
    end = serializers.DateTimeField(
        required=False, help_text=gettext_lazy("...to this time (excluded).")
    )


class ReplayResultSerializer(serializers.Serializer[Any]):
    replayed = serializers.IntegerField()


_ID = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description=gettext_lazy("The endpoint's id.")
)


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> dict[str, Any]:
    data = dict(EndpointSerializer(endpoint).data)
    data["secret"] = secret
    return data


class WebhookEndpointViewSet(ApiAccess, viewsets.GenericViewSet[WebhookEndpoint]):
    """The company's webhook endpoints."""

    _ACTIONS = ("list", "create", "retrieve", "partial_update", "destroy")
    policy_actions: ClassVar[dict[str, Action | str]] = dict.fromkeys(
        (*_ACTIONS, "rotate_secret", "enable", "replay"), Action.WEBHOOKS_MANAGE
    )
    serializer_class = EndpointSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[0-9a-fA-F-]{32,36}"

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        return self.company_objects(WebhookEndpoint).select_related("company").order_by("pk")

    @extend_schema(
        summary=gettext_lazy("List the webhook endpoints, with their health"),
        responses={200: EndpointSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(
        summary=gettext_lazy("Register a webhook endpoint (the answer holds its secret, once)"),
        parameters=[IDEMPOTENCY_KEY_OPTIONAL],
        request=EndpointSerializer,
        responses={201: EndpointWithSecretSerializer, **ERROR_RESPONSES},
    )
    def create(self, request: Request) -> Response:
        key = request_api_key(request)
        self.company_objects(WebhookEndpoint)  # the scope and the role, before reading the body

        def handler() -> Response:
            serializer = EndpointSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            endpoint, secret = services.endpoint_create(
                company=key.company,
                actor=key.user,
                url=serializer.validated_data["url"],
                event_types=serializer.validated_data["event_types"],
                description=serializer.validated_data.get("description", ""),
                ip=client_ip(request),
            )
            return Response(_with_secret(endpoint, secret), status=status.HTTP_201_CREATED)

        return idempotent_response(
            request,
            company=key.company,
            endpoint="webhook-endpoints.create",
            handler=handler,
            required=False,
        )

    @extend_schema(
        summary=gettext_lazy("One webhook endpoint"),
        parameters=[_ID],
        responses={200: EndpointSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, id: str) -> Response:
        return Response(EndpointSerializer(self.get_object()).data)

    @extend_schema(
        summary=gettext_lazy("Change an endpoint's URL, description or event types"),
        parameters=[_ID],
        request=EndpointSerializer,
        responses={200: EndpointSerializer, **ERROR_RESPONSES},
    )
    def partial_update(self, request: Request, id: str) -> Response:
        endpoint = self.get_object()
        serializer = EndpointSerializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        updated = services.endpoint_update(
            endpoint=endpoint,
            actor=request_api_key(request).user,
            url=data.get("url"),
            event_types=data.get("event_types"),
            description=data.get("description"),
            ip=client_ip(request),
        )
        return Response(EndpointSerializer(updated).data)

    @extend_schema(
        summary=gettext_lazy("Delete an endpoint (its events stay)"),
        parameters=[_ID],
        responses={204: None, **ERROR_RESPONSES},
    )
    def destroy(self, request: Request, id: str) -> Response:
        services.endpoint_delete(
            endpoint=self.get_object(), actor=request_api_key(request).user, ip=client_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary=gettext_lazy("Rotate the secret; the old one signs too during the overlap"),
        parameters=[_ID, IDEMPOTENCY_KEY_OPTIONAL],
        request=RotateSerializer,
        responses={200: EndpointWithSecretSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, id: str) -> Response:
        endpoint = self.get_object()
        serializer = RotateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def handler() -> Response:
            rotated, secret = services.endpoint_rotate_secret(
                endpoint=endpoint,
                actor=request_api_key(request).user,
                overlap_hours=serializer.validated_data.get("overlap_hours"),
                ip=client_ip(request),
            )
            return Response(_with_secret(rotated, secret))

        return idempotent_response(
            request,
            company=endpoint.company,
            endpoint=f"webhook-endpoints/{endpoint.public_id}/rotate-secret",
            handler=handler,
            required=False,
        )

    @extend_schema(
        summary=gettext_lazy("Enable a disabled endpoint again"),
        parameters=[_ID],
        request=None,
        responses={200: EndpointSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"], url_path="enable")
    def enable(self, request: Request, id: str) -> Response:
        endpoint = services.endpoint_enable(
            endpoint=self.get_object(), actor=request_api_key(request).user, ip=client_ip(request)
        )
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        summary=gettext_lazy("Deliver one event, or every event of a period, again"),
        parameters=[_ID, IDEMPOTENCY_KEY_OPTIONAL],
        request=ReplaySerializer,
        responses={202: ReplayResultSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"], url_path="replay")
    def replay(self, request: Request, id: str) -> Response:
        endpoint = self.get_object()
        serializer = ReplaySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        event = data.get("event")
        start: datetime.datetime | None = data.get("start")
        end: datetime.datetime | None = data.get("end")

        def handler() -> Response:
            count = events_replay(
                endpoint=endpoint,
                actor=request_api_key(request).user,
                event_ids=[event] if event else None,
                start=start,
                end=end,
                ip=client_ip(request),
            )
            return Response({"replayed": count}, status=status.HTTP_202_ACCEPTED)

        return idempotent_response(
            request,
            company=endpoint.company,
            endpoint=f"webhook-endpoints/{endpoint.public_id}/replay",
            handler=handler,
            required=False,
        )


def register_endpoint_routes(router: SimpleRouter) -> None:
    router.register("webhook-endpoints", WebhookEndpointViewSet, basename="api-webhook-endpoint")
