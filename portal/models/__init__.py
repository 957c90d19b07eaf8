"""Companies, the people who act for them, and the audit trail of what they did."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.validators import normalize_credit_code, validate_credit_code


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person. People sign in with their email address; a user may act for several companies."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.get_full_name() or self.email


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    PURCHASER = "purchaser", _("Purchaser")
    APPROVER = "approver", _("Approver")
    FINANCE = "finance", _("Finance")
    VIEWER = "viewer", _("Viewer")


# Roles that can move money or see card codes must sign in with a second factor.
TWO_FACTOR_ROLES = frozenset({Role.OWNER, Role.APPROVER, Role.FINANCE})


class CompanyQuerySet(models.QuerySet["Company"]):
    def live(self) -> CompanyQuerySet:
        """Real companies: every report, statement, dashboard total and key figure starts here
        (or filters its rows with ``portal.live_data``), so test data never reaches one."""
        return self.filter(sandbox_of__isnull=True)

    def sandboxes(self) -> CompanyQuerySet:
        return self.filter(sandbox_of__isnull=False)


class Company(models.Model):
    """A buyer. A company's **sandbox** is a Company row too (``sandbox_of`` names the real one):
    test API keys act on it (docs/api.md, "Test mode"); it has no members of its own (the real
    company's members act in it with their roles there), never appears in the portal, and is
    left out of every report (``Company.objects.live()``, ``portal.live_data``)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending review")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    public_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, verbose_name=_("public ID")
    )
    legal_name = models.CharField(_("legal name"), max_length=200)
    credit_code = models.CharField(
        _("unified social credit code"),
        max_length=18,
        unique=True,
        validators=[validate_credit_code],
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    contact_name = models.CharField(_("contact name"), max_length=100, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    billing_email = models.EmailField(_("billing email"), blank=True)
    # Orders with a total above this need one of the company's approvers.
    approval_threshold = models.DecimalField(
        _("approval threshold"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("20000.00"),
        help_text=_("Orders above this total need an approver of the company."),
    )
    # The language of the documents sent to the company (statement PDFs and files); pages
    # follow each reader's own language.
    language = models.CharField(
        _("language of documents"),
        max_length=8,
        choices=[("zh-hans", _("Simplified Chinese")), ("en", _("English"))],
        default="zh-hans",
        help_text=_("Statements and other documents sent to the company are in this language."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Set only on a sandbox: the real company whose test API keys act on it.
    sandbox_of = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sandbox",
        verbose_name=_("sandbox of"),
    )

    objects = CompanyQuerySet.as_manager()

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["legal_name"]

    def __str__(self) -> str:
        return self.legal_name

    def clean(self) -> None:
        # The validator forgives case and spaces; store the canonical form, so the unique check
        # (run after clean) sees "9135...y43" and "9135...Y43" as the same company.
        self.credit_code = normalize_credit_code(self.credit_code or "")

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox_of_id is not None

    @property
    def live_id(self) -> int:
        """The real company's id: this one's, or for a sandbox the company it belongs to (whose
        memberships, roles and own products count in it)."""
        return self.sandbox_of_id or self.pk


class Membership(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("company")
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(_("joined at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "company"], name="membership_user_company_uniq")
        ]
        ordering = ["company__legal_name", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.company} ({self.get_role_display()})"

    @property
    def needs_two_factor(self) -> bool:
        return self.role in TWO_FACTOR_ROLES


class Invitation(models.Model):
    """An owner's invitation for an email address to join a company with a role.

    No token is stored: the link carries a value signed with SECRET_KEY over this row's public id,
    so a copy of the database reveals no usable link. Expiry and single use are checked here.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("company")
    )
    email = models.EmailField(_("email address"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("invited by"),
    )
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    email_sent_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            # One open invitation per address and company; a new one needs the old one revoked.
            models.UniqueConstraint(
                fields=["company", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.company}"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and not self.is_expired


class AuditEvent(models.Model):
    """One sensitive act. Append-only: the database refuses UPDATE and DELETE on this table."""

    public_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, verbose_name=_("public ID")
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    # Kept as text too, so the trail reads the same after a user changes their address.
    actor_label = models.CharField(_("actor"), max_length=254, blank=True)
    # No index of its own: (company, created_at) below leads with it.
    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("company"),
        db_index=False,
    )
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["company", "-created_at"], name="audit_company_time"),
            # A plain index (an indexed field would get a second, pattern index too).
            models.Index(fields=["action"], name="audit_action"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"


class AuditAction(models.TextChoices):
    """Actions written by the portal app; other apps add their own codes with the same shape."""

    LOGIN = "auth.login", _("Signed in")
    LOGIN_FAILED = "auth.login_failed", _("Failed sign-in")
    LOGOUT = "auth.logout", _("Signed out")
    TWO_FACTOR_VERIFIED = "auth.2fa_verified", _("Passed two-factor check")
    TWO_FACTOR_FAILED = "auth.2fa_failed", _("Failed two-factor check")
    TWO_FACTOR_ENABLED = "auth.2fa_enabled", _("Turned on two-factor authentication")
    TWO_FACTOR_DISABLED = "auth.2fa_disabled", _("Turned off two-factor authentication")
    PASSWORD_RESET_REQUESTED = "auth.password_reset_requested", _("Asked for a password reset")
    PASSWORD_CHANGED = "auth.password_changed", _("Changed password")
    COMPANY_CREATED = "company.created", _("Created company")
    COMPANY_STATUS_CHANGED = "company.status_changed", _("Changed company status")
    COMPANY_EDITED = "company.edited", _("Changed company details")
    COMPANY_SWITCHED = "company.switched", _("Switched active company")
    COMPANY_SANDBOX_CREATED = "company.sandbox_created", _("Created the company's test sandbox")
    INVITATION_SENT = "membership.invited", _("Invited a member")
    INVITATION_REVOKED = "membership.invitation_revoked", _("Revoked an invitation")
    INVITATION_ACCEPTED = "membership.joined", _("Accepted an invitation")
    MEMBERSHIP_ADDED = "membership.added", _("Added a member")
    MEMBERSHIP_ROLE_CHANGED = "membership.role_changed", _("Changed a member's role")
    MEMBERSHIP_REMOVED = "membership.removed", _("Removed a member")
    API_KEY_CREATED = "api_key.created", _("Created an API key")
    API_KEY_REVOKED = "api_key.revoked", _("Revoked an API key")
    USER_DEACTIVATED = "user.deactivated", _("Deactivated a user")
    USER_REACTIVATED = "user.reactivated", _("Reactivated a user")


class ApiKey(models.Model):
    """A buyer's API key. It acts for the member who created it (``user``, always the same person
    as ``created_by`` for a live key), with that member's current role, limited further by its
    scopes. Only a SHA-256 digest of the secret is stored; the key is shown once, at creation."""

    class Scope(models.TextChoices):
        ORDERS_READ = "orders:read", _("Read orders")
        ORDERS_WRITE = "orders:write", _("Create, submit and cancel orders")
        ORDERS_APPROVE = "orders:approve", _("Approve and reject orders")
        INVOICES_READ = "invoices:read", _("Read invoices")
        CODES_EXPORT = "codes:export", _("Export card codes")
        EXPENSES_READ = "expenses:read", _("Read expense reconciliation")
        EXPENSES_WRITE = "expenses:write", _("Upload expense reports and resolve exceptions")
        WEBHOOKS_MANAGE = "webhooks:manage", _("Manage webhook endpoints and replay events")
        EVENTS_READ = "events:read", _("Read webhook events")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="api_keys")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="api_keys",
        verbose_name=_("holder"),
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("key prefix"), max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    # Set once the owners were emailed about a key with a sensitive scope (portal.notices).
    owners_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]
        constraints = [
            # A key never acts for someone other than the member who created it.
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=False)
                | models.Q(user=models.F("created_by")),
                name="api_key_acts_for_its_creator",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def is_test(self) -> bool:
        """A test key: it acts on its company's sandbox, which is its ``company``."""
        return self.company.sandbox_of_id is not None


class IdempotencyRecord(models.Model):
    """The first response to a request with an Idempotency-Key, per company. The unique index
    decides which of two concurrent requests with the same key does the work."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    endpoint = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company", "key"], name="idempotency_company_key")
        ]

    def __str__(self) -> str:
        return f"{self.company_id}:{self.key}"


class OutboxMessage(models.Model):
    """A Celery task that a state change needs, recorded in the same transaction as the change
    (``portal.services.outbox.outbox_enqueue``). Published right after the commit, or by the
    periodic relay when the broker was away. Arguments are ids (and short codes), never secrets."""

    task = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list)
    kwargs = models.JSONField(_("keyword arguments"), default=dict, blank=True)
    queue = models.CharField(_("queue"), max_length=50, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    # The exception's class name only: a broker's message can carry its URL.
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    # The X-Request-ID of the request that queued it (portal.request_id): the task logs under it.
    request_id = models.CharField(_("request ID"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        indexes = [
            models.Index(
                fields=["id"],
                name="outbox_unpublished",
                condition=models.Q(published_at__isnull=True),
            ),
            models.Index(fields=["published_at"], name="outbox_published_at"),
        ]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"


_AUDIT_ACTION_LABELS: dict[str, object] = dict(AuditAction.choices)


def register_audit_actions(choices: type[models.TextChoices]) -> None:
    """Other apps declare their action codes as TextChoices and register their labels here."""
    _AUDIT_ACTION_LABELS.update(dict(choices.choices))


def audit_action_label(action: str) -> str:
    """The translated label of an audit action code, or the code itself for an unknown one."""
    return str(_AUDIT_ACTION_LABELS.get(action, action))


# isort: off
# KYC models live in their own module; imported here so the app registry finds them.
from portal.models.kyc import CompanyDocument, CompanyReview, CompanyStatusChange  # noqa: E402

# isort: on

__all__ = [
    "TWO_FACTOR_ROLES",
    "ApiKey",
    "AuditAction",
    "AuditEvent",
    "Company",
    "CompanyDocument",
    "CompanyReview",
    "CompanyStatusChange",
    "IdempotencyRecord",
    "Invitation",
    "Membership",
    "OutboxMessage",
    "Role",
    "User",
    "UserManager",
    "audit_action_label",
    "register_audit_actions",
]
