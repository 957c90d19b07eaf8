"""Members create and revoke their own API keys; owners see and revoke every key of the company.

A key acts for the member who creates it, with scopes their role allows (``portal.policy``). A key
that can export codes or approve orders needs a fresh second-factor check (the same one code
downloads ask for) and its creation is emailed to the owners. A new key is shown once, in the
response to the form that created it: never in the session, a message or a URL.

A **test** key (``ecp_test_…``) acts on the company's sandbox (docs/api.md, "Test mode"): its row
belongs to the sandbox, so this page lists the keys of the active company and of its sandbox, and
shows which are which. Sandbox data itself is never shown in the portal: it is API-only."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from portal import policy
from portal.access import (
    active_company,
    can,
    company_objects,
    fresh_2fa_at,
    fresh_2fa_passed,
    fresh_2fa_record,
    policy_required,
)
from portal.models import ApiKey, Membership, User
from portal.policy import Action
from portal.services import api_keys as api_key_services
from portal.services.audit import client_ip
from portal.services.auth import confirmed_totp_device, two_factor_verify


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=pgettext_lazy("API key", "Name"),
        max_length=100,
        help_text=gettext_lazy("Where the key is used, for example “ERP, production”."),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "The key acts for you: it can do only what your role allows, within these scopes. "
            "If you leave the company, or your role changes, the key follows."
        ),
    )
    test = forms.BooleanField(
        label=gettext_lazy("Test key"),
        required=False,
        help_text=gettext_lazy(
            "A test key acts on your company's sandbox: orders are funded at once without an "
            "invoice, card codes start with TEST and are refused at checkout, and nothing "
            "appears in your statements or reports. Use it to build and try an integration."
        ),
    )
    token = forms.RegexField(
        label=gettext_lazy("6-digit code"),
        regex=r"^\s*\d{6}\s*$",
        required=False,
        help_text=gettext_lazy(
            "Needed for a key that can export card codes or approve orders: the current code "
            "of your authenticator app."
        ),
        error_messages={
            "invalid": gettext_lazy("Enter the 6 digits your authenticator app shows.")
        },
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )

    def __init__(
        self, *args: Any, membership: Membership, needs_token: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        labels = dict(ApiKey.Scope.choices)
        self.fields["scopes"].choices = [  # type: ignore[attr-defined]
            (scope, labels[scope]) for scope in policy.scopes_for(membership)
        ]
        if not needs_token:
            del self.fields["token"]


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _company_keys(request: HttpRequest) -> QuerySet[ApiKey]:
    """The keys of the active company and of its sandbox (test keys)."""
    company = active_company(request)
    return ApiKey.objects.filter(Q(company=company) | Q(company__sandbox_of=company))


@sensitive_post_parameters("token")
@policy_required(Action.API_KEYS_OWN)
def api_key_list(request: HttpRequest) -> HttpResponse:
    membership = cast(Membership, request.membership)  # type: ignore[attr-defined]
    user = _actor(request)
    has_device = confirmed_totp_device(user) is not None
    form = ApiKeyForm(
        request.POST or None, membership=membership, needs_token=not fresh_2fa_passed(request)
    )
    created: ApiKey | None = None
    plaintext = ""
    if request.method == "POST" and form.is_valid():
        scopes = form.cleaned_data["scopes"]
        token = (form.cleaned_data.get("token") or "").strip()
        if policy.sensitive(scopes) and not fresh_2fa_passed(request) and token:
            if two_factor_verify(user=user, token=token, request=request):
                fresh_2fa_record(request)
            else:
                form.add_error(
                    "token",
                    _(
                        "That code is wrong or was already used. Enter the current code from "
                        "your app; if it is the one you signed in with, wait for the next one."
                    ),
                )
        if form.is_valid():
            try:
                created, plaintext = api_key_services.api_key_create(
                    company=membership.company,
                    user=user,
                    name=form.cleaned_data["name"],
                    scopes=scopes,
                    second_factor_at=fresh_2fa_at(request),
                    test=form.cleaned_data["test"],
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                form = ApiKeyForm(membership=membership, needs_token=not fresh_2fa_passed(request))
    keys = _company_keys(request).select_related("user", "created_by", "company")
    if not can(request, Action.API_KEYS_MANAGE):
        keys = keys.filter(user=user)
    scope_labels = dict(ApiKey.Scope.choices)
    roles = dict(company_objects(request, Membership).values_list("user_id", "role"))
    rows = list(keys)
    for key in rows:
        key.scope_labels = [str(scope_labels.get(s, s)) for s in key.scopes]  # type: ignore[attr-defined]
        # Scopes the holder's role no longer allows: the key keeps them, but they do nothing.
        key.idle_scopes = [  # type: ignore[attr-defined]
            str(scope_labels.get(s, s))
            for s in key.scopes
            if s in scope_labels and not policy.scope_allowed(roles.get(key.user_id), s)
        ]
    response = render(
        request,
        "portal/api_keys.html",
        {
            "keys": rows,
            "form": form,
            "created": created,
            "plaintext": plaintext,
            "has_device": has_device,
            "sees_all": can(request, Action.API_KEYS_MANAGE),
        },
    )
    # The page may carry a secret: no cache keeps a copy.
    add_never_cache_headers(response)
    return response


@policy_required(Action.API_KEYS_OWN)
@require_POST
def api_key_revoke(request: HttpRequest, public_id: str) -> HttpResponse:
    keys = _company_keys(request).select_related("company")
    if not can(request, Action.API_KEYS_MANAGE):
        keys = keys.filter(user=_actor(request))
    try:
        key = keys.get(public_id=public_id)
    except (ApiKey.DoesNotExist, ValidationError, ValueError) as exc:
        raise Http404 from exc
    try:
        api_key_services.api_key_revoke(key=key, actor=_actor(request), ip=client_ip(request))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("API key “%(name)s” revoked; requests with it are refused from now on.")
            % {"name": key.name},
        )
    return redirect("portal:api_keys")
