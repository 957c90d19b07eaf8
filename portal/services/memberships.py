"""Who belongs to which company, with which role: invitations and membership changes."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import policy
from portal.errors import DomainError
from portal.models import AuditAction, Company, Invitation, Membership, Role, User
from portal.notices import Notice, NoticeMarker, notice_compose, notice_link, notice_send
from portal.policy import Action
from portal.services.audit import audit_record
from portal.services.outbox import outbox_enqueue

_INVITATION_SALT = "portal.invitation"


def invitation_token(invitation: Invitation) -> str:
    """The secret part of an invitation link: a signature over the invitation's public id."""
    return signing.dumps(str(invitation.public_id), salt=_INVITATION_SALT)


class InvitationInvalid(Exception):
    """A link that cannot be used; the message says why and what to do."""


def invitation_from_token(token: str) -> Invitation:
    try:
        public_id = signing.loads(token, salt=_INVITATION_SALT)
        invitation = Invitation.objects.select_related("company", "invited_by").get(
            public_id=public_id
        )
    except (signing.BadSignature, Invitation.DoesNotExist, ValidationError, ValueError) as exc:
        raise InvitationInvalid(
            _("This invitation link is not valid. Check that you copied the whole link.")
        ) from exc
    _check_open(invitation)
    return invitation


def _check_open(invitation: Invitation) -> None:
    if invitation.accepted_at is not None:
        raise InvitationInvalid(
            _("This invitation has already been used. Sign in, or ask %(company)s for a new one.")
            % {"company": invitation.company.legal_name}
        )
    if invitation.revoked_at is not None:
        raise InvitationInvalid(
            _("This invitation was withdrawn. Ask %(company)s for a new one.")
            % {"company": invitation.company.legal_name}
        )
    if invitation.is_expired:
        raise InvitationInvalid(
            _("This invitation expired on %(date)s. Ask %(company)s for a new one.")
            % {
                "date": timezone.localtime(invitation.expires_at).strftime("%Y-%m-%d %H:%M"),
                "company": invitation.company.legal_name,
            }
        )


@transaction.atomic
def invitation_create(
    *, company: Company, email: str, role: str, invited_by: User, ip: str | None = None
) -> Invitation:
    from portal.tasks import invitation_send_email

    policy.require(company, invited_by, Action.MEMBERS_MANAGE)
    email = User.objects.normalize_email(email).strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": _("Choose one of the listed roles.")})
    if Membership.objects.filter(company=company, user__email__iexact=email).exists():
        raise ValidationError({"email": _("%(email)s is already a member.") % {"email": email}})
    # An earlier invitation that is still open but has expired makes way for the new one.
    Invitation.objects.filter(
        company=company,
        email=email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__lte=timezone.now(),
    ).update(revoked_at=timezone.now())
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                company=company,
                email=email,
                role=role,
                invited_by=invited_by,
                expires_at=timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS),
            )
    except IntegrityError as exc:
        raise ValidationError(
            {
                "email": _(
                    "%(email)s already has an open invitation. Revoke it first to send a new one."
                )
                % {"email": email}
            }
        ) from exc
    audit_record(
        action=AuditAction.INVITATION_SENT,
        actor=invited_by,
        company=company,
        obj=invitation,
        ip=ip,
        changes={"email": email, "role": role},
    )
    outbox_enqueue(invitation_send_email, invitation.pk)
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User, ip: str | None = None) -> None:
    policy.require(invitation.company, actor, Action.MEMBERS_MANAGE)
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.accepted_at is not None or locked.revoked_at is not None:
        return
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(
        action=AuditAction.INVITATION_REVOKED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"email": locked.email},
    )


@transaction.atomic(durable=True)
def invitation_accept(
    *,
    invitation: Invitation,
    user: User | None = None,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    ip: str | None = None,
) -> Membership:
    """Turn an open invitation into a membership, once. A new person sets their password here;
    a person who already has an account must be signed in as the invited address."""
    locked = Invitation.objects.select_for_update().select_related("company").get(pk=invitation.pk)
    _check_open(locked)
    if user is None:
        if User.objects.filter(email__iexact=locked.email).exists():
            raise InvitationInvalid(
                _("%(email)s already has an account: sign in first, then open the link again.")
                % {"email": locked.email}
            )
        user = User(email=locked.email, first_name=first_name, last_name=last_name)
        validate_password(password or "", user)
        user.set_password(password)
        user.save()
    elif user.email.lower() != locked.email:
        raise InvitationInvalid(
            _("This invitation is for %(email)s. Sign out and open the link again.")
            % {"email": locked.email}
        )
    membership, _created = Membership.objects.get_or_create(
        user=user, company=locked.company, defaults={"role": locked.role}
    )
    locked.accepted_at = timezone.now()
    locked.accepted_by = user
    locked.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        action=AuditAction.INVITATION_ACCEPTED,
        actor=user,
        company=locked.company,
        obj=membership,
        ip=ip,
        changes={"email": user.email, "role": membership.role},
    )
    return membership


class LastOwner(DomainError):
    default_code = "last_owner"


def _lock_membership(membership: Membership) -> Membership:
    """Lock the company row first: it serialises every membership change in that company, so two
    owners demoting each other at once cannot leave it with none (and cannot deadlock)."""
    Company.objects.select_for_update().filter(pk=membership.company_id).first()
    return Membership.objects.select_related("user", "company").get(pk=membership.pk)


def _ensure_another_owner(membership: Membership) -> None:
    owners = Membership.objects.filter(company_id=membership.company_id, role=Role.OWNER)
    if list(owners.values_list("pk", flat=True)) == [membership.pk]:
        raise LastOwner(_("A company needs at least one owner. Make someone else an owner first."))


@transaction.atomic
def membership_change_role(
    *, membership: Membership, role: str, actor: User, ip: str | None = None
) -> Membership:
    policy.require(membership.company, actor, Action.MEMBERS_MANAGE)
    if role not in Role.values:
        raise ValidationError({"role": _("Choose one of the listed roles.")})
    locked = _lock_membership(membership)
    if locked.role == role:
        return locked
    if locked.role == Role.OWNER:
        _ensure_another_owner(locked)
    before = locked.role
    locked.role = role
    locked.save(update_fields=["role"])
    audit_record(
        action=AuditAction.MEMBERSHIP_ROLE_CHANGED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"email": locked.user.email, "role": [before, role]},
    )
    return locked


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User, ip: str | None = None) -> None:
    policy.require(membership.company, actor, Action.MEMBERS_MANAGE)
    locked = _lock_membership(membership)
    if locked.role == Role.OWNER:
        _ensure_another_owner(locked)
    audit_record(
        action=AuditAction.MEMBERSHIP_REMOVED,
        actor=actor,
        company=locked.company,
        obj=locked,
        ip=ip,
        changes={"email": locked.user.email, "role": locked.role},
    )
    locked.delete()


def invitation_email_send(*, invitation_id: int) -> str:
    """Email the invitation link, once, to the invited address: ``sent``, ``already-sent`` or
    ``skipped`` (accepted, revoked, expired or gone). The link is rebuilt here from the
    invitation's id, so no secret travels through the broker. Bilingual: we do not know the
    invitee's language yet."""
    marker = NoticeMarker(Invitation, invitation_id, "email_sent_at")

    def prepare() -> Notice | str:
        invitation = (
            Invitation.objects.select_related("company", "invited_by")
            .filter(pk=invitation_id)
            .first()
        )
        if invitation is None or not invitation.is_open:
            return "skipped"
        if marker.is_set(invitation):
            return "already-sent"
        link = notice_link("portal:invitation_open", token=invitation_token(invitation))
        subject, body = notice_compose(
            "emails/invitation", {"invitation": invitation, "link": link}
        )
        return Notice(to=[invitation.email], subject=subject, body=body)

    return notice_send(prepare=prepare, marker=marker)
