"""Settings → Webhooks: an owner registers endpoints (the secret is shown once, in the response to
the form that made or rotated it: never in the session, a message or a URL), sees each one's
health and recent deliveries, rotates its secret, enables it again, deletes it, and replays one
event or every event of a period."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.access import company_objects, get_company_object_or_404, policy_required
from portal.models import Membership, User
from portal.policy import Action
from portal.services.audit import client_ip
from webhooks.events import event_label
from webhooks.forms import EndpointForm, ReplayForm
from webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from webhooks.services import endpoints as services
from webhooks.services.replay import events_replay

RECENT = 20


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _secret_page(response: HttpResponse) -> HttpResponse:
    # The page may carry a secret: no cache keeps a copy.
    add_never_cache_headers(response)
    return response


@policy_required(Action.WEBHOOKS_MANAGE)
def endpoint_list(request: HttpRequest) -> HttpResponse:
    membership = cast(Membership, request.membership)  # type: ignore[attr-defined]
    form = EndpointForm(request.POST or None)
    created: WebhookEndpoint | None = None
    secret = ""
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = services.endpoint_create(
                company=membership.company,
                actor=_actor(request),
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form = EndpointForm()
    endpoints = list(company_objects(request, WebhookEndpoint).order_by("created_at", "id"))
    for endpoint in endpoints:
        endpoint.event_labels = [str(event_label(t)) for t in endpoint.event_types]  # type: ignore[attr-defined]
    return _secret_page(
        render(
            request,
            "webhooks/endpoint_list.html",
            {"endpoints": endpoints, "form": form, "created": created, "secret": secret},
        )
    )


@policy_required(Action.EVENTS_READ)
def event_list(request: HttpRequest) -> HttpResponse:
    """The company's latest events (the event API lists them all)."""
    events = company_objects(request, Event).order_by("-created_at", "-id")[:100]
    return render(request, "webhooks/event_list.html", {"events": events})


def _endpoint(request: HttpRequest, public_id: str) -> WebhookEndpoint:
    return get_company_object_or_404(request, WebhookEndpoint, public_id=public_id)


def _detail(
    request: HttpRequest,
    endpoint: WebhookEndpoint,
    *,
    form: EndpointForm | None = None,
    replay_form: ReplayForm | None = None,
    secret: str = "",
) -> HttpResponse:
    form = form or EndpointForm(
        initial={
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": endpoint.event_types,
        }
    )
    attempts = (
        DeliveryAttempt.objects.filter(delivery__endpoint=endpoint)
        .select_related("delivery__event")
        .order_by("-started_at", "-id")[:RECENT]
    )
    events = company_objects(request, Event).filter(type__in=endpoint.event_types)
    recent_events = list(events.order_by("-created_at", "-id")[:RECENT])
    pending = Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).count()
    return _secret_page(
        render(
            request,
            "webhooks/endpoint_detail.html",
            {
                "endpoint": endpoint,
                "form": form,
                "replay_form": replay_form or ReplayForm(),
                "attempts": attempts,
                "recent_events": recent_events,
                "pending": pending,
                "secret": secret,
            },
        )
    )


@policy_required(Action.WEBHOOKS_MANAGE)
def endpoint_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    endpoint = _endpoint(request, public_id)
    if request.method != "POST":
        return _detail(request, endpoint)
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            services.endpoint_update(
                endpoint=endpoint,
                actor=_actor(request),
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Endpoint saved."))
            return redirect("webhooks:endpoint_detail", public_id=endpoint.public_id)
    return _detail(request, endpoint, form=form)


@policy_required(Action.WEBHOOKS_MANAGE)
@require_POST
def endpoint_rotate(request: HttpRequest, public_id: str) -> HttpResponse:
    endpoint = _endpoint(request, public_id)
    rotated, secret = services.endpoint_rotate_secret(
        endpoint=endpoint, actor=_actor(request), ip=client_ip(request)
    )
    return _detail(request, rotated, secret=secret)


@policy_required(Action.WEBHOOKS_MANAGE)
@require_POST
def endpoint_enable(request: HttpRequest, public_id: str) -> HttpResponse:
    endpoint = _endpoint(request, public_id)
    services.endpoint_enable(endpoint=endpoint, actor=_actor(request), ip=client_ip(request))
    messages.success(
        request, _("Endpoint enabled. Replay the events it missed while it was disabled.")
    )
    return redirect("webhooks:endpoint_detail", public_id=endpoint.public_id)


@policy_required(Action.WEBHOOKS_MANAGE)
@require_POST
def endpoint_delete(request: HttpRequest, public_id: str) -> HttpResponse:
    endpoint = _endpoint(request, public_id)
    services.endpoint_delete(endpoint=endpoint, actor=_actor(request), ip=client_ip(request))
    messages.success(request, _("Endpoint %(url)s deleted.") % {"url": endpoint.url})
    return redirect("webhooks:endpoint_list")


@policy_required(Action.WEBHOOKS_MANAGE)
@require_POST
def endpoint_replay(request: HttpRequest, public_id: str) -> HttpResponse:
    endpoint = _endpoint(request, public_id)
    event_id = request.POST.get("event", "").strip()
    replay_form = None
    try:
        if event_id:
            count = events_replay(
                endpoint=endpoint,
                actor=_actor(request),
                event_ids=[event_id],
                ip=client_ip(request),
            )
        else:
            replay_form = ReplayForm(request.POST)
            if not replay_form.is_valid():
                return _detail(request, endpoint, replay_form=replay_form)
            count = events_replay(
                endpoint=endpoint,
                actor=_actor(request),
                start=replay_form.cleaned_data["start"],
                end=replay_form.cleaned_data["end"],
                ip=client_ip(request),
            )
    except ValidationError as exc:
        replay_form = replay_form or ReplayForm()
        replay_form.add_error(None, exc)
        return _detail(request, endpoint, replay_form=replay_form)
    messages.success(request, _("%(count)s event(s) queued for delivery again.") % {"count": count})
    return redirect("webhooks:endpoint_detail", public_id=endpoint.public_id)
