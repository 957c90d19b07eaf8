"""Owners create and revoke the company's API keys. A new key is shown once, in the response to
the form that created it: never in the session, a message or a URL."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from portal.access import (
    active_membership,
    company_objects,
    get_company_object_or_404,
    role_required,
)
from portal.models import ApiKey, Company, Membership, Role, User
from portal.services import api_keys as api_key_services
from portal.services.audit import client_ip


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=pgettext_lazy("API key", "Name"),
        max_length=100,
        help_text=gettext_lazy("Where the key is used, for example “ERP, production”."),
    )
    user = forms.ChoiceField(
        label=gettext_lazy("Acts as"),
        help_text=gettext_lazy(
            "The key can do only what this member's role allows, and only within its scopes. "
            "If the member leaves the company, the key stops working."
        ),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        choices=ApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, company: Company, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.members = {
            str(m.user.public_id): m
            for m in Membership.objects.filter(company=company)
            .select_related("user")
            .order_by("user__email")
        }
        self.fields["user"].choices = [  # type: ignore[attr-defined]
            ("", _("Choose a member")),
            *(
                (public_id, f"{m.user.email} · {m.get_role_display()}")
                for public_id, m in self.members.items()
            ),
        ]

    def acting_user(self) -> User:
        return self.members[self.cleaned_data["user"]].user


@role_required(Role.OWNER)
def api_key_list(request: HttpRequest) -> HttpResponse:
    company = active_membership(request).company
    form = ApiKeyForm(request.POST or None, company=company)
    created: ApiKey | None = None
    plaintext = ""
    if request.method == "POST" and form.is_valid():
        try:
            created, plaintext = api_key_services.api_key_create(
                company=company,
                user=form.acting_user(),
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                created_by=request.user,  # type: ignore[arg-type]
                ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form = ApiKeyForm(company=company)
    scope_labels = dict(ApiKey.Scope.choices)
    keys = list(company_objects(request, ApiKey).select_related("user", "created_by"))
    for key in keys:
        key.scope_labels = [str(scope_labels.get(s, s)) for s in key.scopes]  # type: ignore[attr-defined]
    response = render(
        request,
        "portal/api_keys.html",
        {"keys": keys, "form": form, "created": created, "plaintext": plaintext},
    )
    # The page may carry a secret: no cache keeps a copy.
    add_never_cache_headers(response)
    return response


@role_required(Role.OWNER)
@require_POST
def api_key_revoke(request: HttpRequest, public_id: str) -> HttpResponse:
    key = get_company_object_or_404(request, ApiKey, public_id=public_id)
    api_key_services.api_key_revoke(
        key=key,
        actor=request.user,  # type: ignore[arg-type]
        ip=client_ip(request),
    )
    messages.success(
        request,
        _("API key “%(name)s” revoked; requests with it are refused from now on.")
        % {"name": key.name},
    )
    return redirect("portal:api_keys")
