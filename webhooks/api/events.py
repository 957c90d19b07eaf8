"""API: /api/v1/events, the company's webhook events, oldest first, a cursor per page, so that a
receiver can catch up after an outage; /api/v1/events/{id} for one. ``events:read`` scope,
owners only. Filters: ``type`` (one or several, comma-separated) and ``created_after``."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from portal.api.access import ApiAccess
from portal.api.schema import ERROR_RESPONSES
from portal.policy import Action
from webhooks.events import EventType
from webhooks.models import Event


class EventSerializer(serializers.ModelSerializer[Event]):
    id = serializers.CharField(source="public_id", read_only=True)
    object = serializers.SerializerMethodField()
    data = serializers.SerializerMethodField()  # type: ignore[assignment]
    version = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = ["id", "type", "version", "created_at", "object", "data"]

    def get_object(self, obj: Event) -> dict[str, Any]:
        return {"type": obj.object_type, "id": obj.object_id, "sequence": obj.sequence}

    def get_data(self, obj: Event) -> dict[str, Any]:
        data: dict[str, Any] = obj.payload.get("data", {})
        return data

    def get_version(self, obj: Event) -> str:
        return str(obj.payload.get("version", ""))


def _instant(name: str, raw: str) -> datetime.datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise ValidationError(
            {
                name: _("“%(value)s” is not a time; write it as 2026-01-31T08:00:00Z.")
                % {"value": raw}
            }
        )
    return timezone.make_aware(value) if timezone.is_naive(value) else value


class EventCursorPagination(CursorPagination):
    """Oldest first; ``next`` carries an opaque cursor (keep the last one to resume)."""

    ordering = ("created_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class EventViewSet(ApiAccess, viewsets.GenericViewSet[Event]):
    policy_actions = {"list": Action.EVENTS_READ, "retrieve": Action.EVENTS_READ}
    serializer_class = EventSerializer
    pagination_class = EventCursorPagination
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"evt_[0-9a-f]{24}"

    def get_queryset(self) -> QuerySet[Event]:
        return self.company_objects(Event)

    @extend_schema(
        summary=gettext_lazy("List the company's events, oldest first"),
        parameters=[
            OpenApiParameter(
                "type",
                OpenApiTypes.STR,
                description=gettext_lazy(
                    "Only events of this type; several types separated by commas."
                ),
            ),
            OpenApiParameter(
                "created_after",
                OpenApiTypes.DATETIME,
                description=gettext_lazy("Only events recorded after this time."),
            ),
        ],
        responses={200: EventSerializer(many=True), **ERROR_RESPONSES},
    )
    def list(self, request: Request) -> Response:
        events = self.get_queryset()
        raw_types = request.query_params.get("type", "").strip()
        if raw_types:
            types = [t.strip() for t in raw_types.split(",") if t.strip()]
            unknown = [t for t in types if t not in EventType.values]
            if unknown:
                raise ValidationError(
                    {
                        "type": _("Unknown event type “%(value)s”; use one of %(values)s.")
                        % {"value": unknown[0], "values": ", ".join(EventType.values)}
                    }
                )
            events = events.filter(type__in=types)
        after = _instant("created_after", request.query_params.get("created_after", ""))
        if after is not None:
            events = events.filter(created_at__gt=after)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(EventSerializer(page, many=True).data)

    @extend_schema(
        summary=gettext_lazy("One event"),
        parameters=[
            OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="evt_...")
        ],
        responses={200: EventSerializer, **ERROR_RESPONSES},
    )
    def retrieve(self, request: Request, id: str) -> Response:
        return Response(EventSerializer(self.get_object()).data)


def register_event_routes(router: SimpleRouter) -> None:
    router.register("events", EventViewSet, basename="api-event")
