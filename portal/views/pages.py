"""Dashboard, company pages, members, invitations, audit trail, health."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from portal import policy
from portal.access import (
    ACTIVE_COMPANY_SESSION_KEY,
    active_membership,
    can,
    company_member_required,
    company_objects,
    get_company_object_or_404,
    member_company_or_404,
    policy_required,
)
from portal.dashboard import dashboard_for
from portal.forms import AcceptInvitationForm, InvitationForm, RoleForm
from portal.models import AuditAction, AuditEvent, Invitation, Membership, User
from portal.policy import Action
from portal.services import memberships as membership_services
from portal.services.audit import audit_record, client_ip
from portal.services.auth import auth_login_succeeded

_INVITATION_SESSION_KEY = "invitation_token"


@company_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    membership = active_membership(request)
    return render(
        request,
        "portal/dashboard.html",
        {
            "company": membership.company,
            "membership": membership,
            "board": dashboard_for(request),
        },
    )


@login_required
def no_company(request: HttpRequest) -> HttpResponse:
    if getattr(request, "membership", None) is not None:
        return redirect("portal:dashboard")
    return render(request, "portal/no_company.html")


@login_required
def company_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    membership = member_company_or_404(request, public_id)
    return render(
        request,
        "portal/company_detail.html",
        {"company": membership.company, "membership": membership},
    )


@login_required
@require_POST
def company_switch(request: HttpRequest, public_id: str) -> HttpResponse:
    membership = member_company_or_404(request, public_id)
    request.session[ACTIVE_COMPANY_SESSION_KEY] = str(membership.company.public_id)
    audit_record(
        action=AuditAction.COMPANY_SWITCHED,
        actor=request.user,  # type: ignore[arg-type]
        company=membership.company,
        ip=client_ip(request),
    )
    messages.success(
        request, _("You are now acting for %(company)s.") % {"company": membership.company}
    )
    return redirect("portal:dashboard")


@company_member_required
def member_list(request: HttpRequest) -> HttpResponse:
    membership = active_membership(request)
    is_owner = can(request, Action.MEMBERS_MANAGE)
    form = InvitationForm(request.POST or None) if is_owner else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied(policy.refusal(Action.MEMBERS_MANAGE))
        if form.is_valid():
            try:
                invitation = membership_services.invitation_create(
                    company=membership.company,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    invited_by=request.user,  # type: ignore[arg-type]
                    ip=client_ip(request),
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _("Invitation sent to %(email)s. The link is valid for 7 days.")
                    % {"email": invitation.email},
                )
                return redirect("portal:members")
    members = company_objects(request, Membership).select_related("user").order_by("user__email")
    invitations = company_objects(request, Invitation).filter(
        accepted_at__isnull=True, revoked_at__isnull=True
    )
    return render(
        request,
        "portal/members.html",
        {"members": members, "invitations": invitations, "form": form, "is_owner": is_owner},
    )


@company_member_required
def member_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    member = get_company_object_or_404(
        request, Membership.objects.select_related("user"), public_id=public_id
    )
    is_owner = can(request, Action.MEMBERS_MANAGE)
    form = RoleForm(initial={"role": member.role}) if is_owner else None
    events = (
        company_objects(request, AuditEvent).filter(object_id=str(member.public_id))[:20]
        if is_owner
        else []
    )
    return render(
        request,
        "portal/member_detail.html",
        {"member": member, "form": form, "is_owner": is_owner, "events": events},
    )


@policy_required(Action.MEMBERS_MANAGE)
@require_POST
def member_change_role(request: HttpRequest, public_id: str) -> HttpResponse:
    member = get_company_object_or_404(request, Membership, public_id=public_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the listed roles."))
        return redirect("portal:member_detail", public_id=public_id)
    try:
        membership_services.membership_change_role(
            membership=member,
            role=form.cleaned_data["role"],
            actor=request.user,  # type: ignore[arg-type]
            ip=client_ip(request),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Role changed."))
    return redirect("portal:member_detail", public_id=public_id)


@policy_required(Action.MEMBERS_MANAGE)
@require_POST
def member_remove(request: HttpRequest, public_id: str) -> HttpResponse:
    member = get_company_object_or_404(request, Membership, public_id=public_id)
    try:
        membership_services.membership_remove(
            membership=member,
            actor=request.user,  # type: ignore[arg-type]
            ip=client_ip(request),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("portal:member_detail", public_id=public_id)
    messages.success(request, _("Member removed."))
    return redirect("portal:members")


@policy_required(Action.MEMBERS_MANAGE)
@require_POST
def invitation_revoke(request: HttpRequest, public_id: str) -> HttpResponse:
    invitation = get_company_object_or_404(request, Invitation, public_id=public_id)
    membership_services.invitation_revoke(
        invitation=invitation,
        actor=request.user,  # type: ignore[arg-type]
        ip=client_ip(request),
    )
    messages.success(request, _("Invitation to %(email)s revoked.") % {"email": invitation.email})
    return redirect("portal:members")


@never_cache
def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    """Move the token from the URL into the session, then show a URL without it, so the secret
    does not leak through the Referer header or browser history."""
    request.session[_INVITATION_SESSION_KEY] = token
    return redirect("portal:invitation_accept")


@never_cache
def invitation_accept(request: HttpRequest) -> HttpResponse:
    token = request.session.get(_INVITATION_SESSION_KEY, "")
    try:
        invitation = membership_services.invitation_from_token(token)
    except membership_services.InvitationInvalid as exc:
        return render(request, "portal/invitation_invalid.html", {"reason": str(exc)}, status=400)
    user = request.user if request.user.is_authenticated else None
    existing_account = User.objects.filter(email__iexact=invitation.email).exists()
    form = None
    if user is None and not existing_account:
        form = AcceptInvitationForm(request.POST or None, email=invitation.email)
    if request.method == "POST":
        if form is not None and not form.is_valid():
            pass
        else:
            try:
                membership = membership_services.invitation_accept(
                    invitation=invitation,
                    user=user,
                    password=form.cleaned_data["password1"] if form else None,
                    first_name=form.cleaned_data["first_name"] if form else "",
                    last_name=form.cleaned_data["last_name"] if form else "",
                    ip=client_ip(request),
                )
            except membership_services.InvitationInvalid as exc:
                return render(
                    request, "portal/invitation_invalid.html", {"reason": str(exc)}, status=400
                )
            del request.session[_INVITATION_SESSION_KEY]
            if user is None:
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
                auth_login_succeeded(user=membership.user, request=request)
            request.session[ACTIVE_COMPANY_SESSION_KEY] = str(membership.company.public_id)
            messages.success(
                request,
                _("Welcome to %(company)s.") % {"company": membership.company.legal_name},
            )
            return redirect("portal:dashboard")
    return render(
        request,
        "portal/invitation_accept.html",
        {
            "invitation": invitation,
            "form": form,
            "existing_account": existing_account,
            "wrong_user": user is not None and user.email.lower() != invitation.email,
        },
    )


@policy_required(Action.AUDIT_READ)
def audit_list(request: HttpRequest) -> HttpResponse:
    events = company_objects(request, AuditEvent).select_related("actor")
    action = request.GET.get("action", "")
    if action:
        events = events.filter(action=action)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/audit_list.html",
        {"page": page, "actions": AuditAction.choices, "action": action},
    )


@policy_required(Action.AUDIT_READ)
def audit_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    event = get_company_object_or_404(request, AuditEvent, public_id=public_id)
    return render(request, "portal/audit_detail.html", {"event": event})


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachability, for load balancers and operators."""
    from portal.celery import app

    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is a failed check
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )
