"""Who may do what in a company: the one policy.

The role sets live here and only here. Portal views (``portal.access.policy_required``),
templates (the ``can`` filter of ``portal_tags``), the menu, the API (``portal.api.permissions``
and ``portal.api.access``) and the services (``require``) all ask ``can``. Rules about one object
(the creator of an order may not approve it; a purchaser cancels only their own orders) stay in
the service that changes the object; this module answers for the role.

An API key carries scopes; each scope opens a set of actions, and a key acts for the member who
created it, so what a key may do is ``scope allows it`` *and* ``can(holder's current role)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.models import ApiKey, Company, Membership, Role, User


class Action(models.TextChoices):
    ORDER_READ = "order.read", gettext_lazy("See orders and cards")
    ORDER_CREATE = "order.create", gettext_lazy("Create and edit orders")
    ORDER_SUBMIT = "order.submit", gettext_lazy("Submit orders")
    ORDER_CANCEL = "order.cancel", gettext_lazy("Cancel one's own orders")
    ORDER_CANCEL_ANY = "order.cancel_any", gettext_lazy("Cancel anyone's orders")
    ORDER_APPROVE = "order.approve", gettext_lazy("Approve and reject orders")
    ORDER_UPLOAD = "order.upload", gettext_lazy("Upload order files")
    RECIPIENTS_MANAGE = "order.recipients", gettext_lazy("Resend links and change recipients")
    CODES_DOWNLOAD = "codes.download", gettext_lazy("Reveal and download card codes")
    INVOICES_READ = "invoices.read", gettext_lazy("See invoices")
    CREDIT_READ = "credit.read", gettext_lazy("See credit terms")
    STATEMENTS_READ = "statements.read", gettext_lazy("See statements")
    STATEMENTS_REQUEST = "statements.request", gettext_lazy("Request statements")
    PAYMENTS_READ = "payments.read", gettext_lazy("See payments")
    AGING_READ = "aging.read", gettext_lazy("See the aging of invoices")
    MEMBERS_MANAGE = "members.manage", gettext_lazy("Invite members and change their roles")
    AUDIT_READ = "audit.read", gettext_lazy("See the audit trail")
    API_KEYS_OWN = "api_keys.own", gettext_lazy("Create and revoke one's own API keys")
    API_KEYS_MANAGE = "api_keys.manage", gettext_lazy("See and revoke every API key")
    EXPENSES_READ = "expenses.read", gettext_lazy("See expense reconciliation")
    EXPENSES_UPLOAD = "expenses.upload", gettext_lazy("Upload expense reports")
    EXPENSES_RESOLVE = "expenses.resolve", gettext_lazy("Resolve expense exceptions")
    EXPENSES_CLOSE = "expenses.close", gettext_lazy("Close reconciliation periods")
    EXPENSES_REOPEN = "expenses.reopen", gettext_lazy("Re-open closed reconciliation periods")
    EXPENSES_MAPPING = "expenses.mapping", gettext_lazy("Set the voucher account mapping")
    COMPANY_DOCUMENTS = "company.documents", gettext_lazy("Upload the company's KYC documents")
    SSO_MANAGE = "sso.manage", gettext_lazy("Set up single sign-on")
    WEBHOOKS_MANAGE = "webhooks.manage", gettext_lazy("Manage webhook endpoints and replays")
    EVENTS_READ = "events.read", gettext_lazy("Read the company's webhook events")


A = Action
_EVERYONE = frozenset(Role)
# Statements carry payments, aging and (in the CSV/XLSX) recipients' names and employee ids.
_MONEY_READERS = frozenset({Role.OWNER, Role.FINANCE, Role.APPROVER, Role.PURCHASER})
_ORDERING = frozenset({Role.OWNER, Role.PURCHASER})
_FINANCE = frozenset({Role.OWNER, Role.FINANCE})

# Role sets, defined once. An owner may do everything in their company (DESIGN.md §2).
ROLES: dict[Action, frozenset[Role]] = {
    A.ORDER_READ: _EVERYONE,
    A.ORDER_CREATE: _ORDERING,
    A.ORDER_SUBMIT: _ORDERING,
    A.ORDER_CANCEL: _ORDERING,
    A.ORDER_CANCEL_ANY: frozenset({Role.OWNER}),
    A.ORDER_APPROVE: frozenset({Role.OWNER, Role.APPROVER}),
    A.ORDER_UPLOAD: _ORDERING,
    A.RECIPIENTS_MANAGE: _ORDERING,
    A.CODES_DOWNLOAD: frozenset({Role.OWNER, Role.FINANCE}),
    A.INVOICES_READ: _EVERYONE,
    A.CREDIT_READ: frozenset({Role.OWNER, Role.FINANCE}),
    A.STATEMENTS_READ: _MONEY_READERS,
    A.STATEMENTS_REQUEST: frozenset({Role.OWNER, Role.FINANCE}),
    A.PAYMENTS_READ: _MONEY_READERS,
    A.AGING_READ: _MONEY_READERS,
    A.MEMBERS_MANAGE: frozenset({Role.OWNER}),
    A.AUDIT_READ: frozenset({Role.OWNER}),
    A.API_KEYS_OWN: _EVERYONE,
    A.API_KEYS_MANAGE: frozenset({Role.OWNER}),
    # Expense reconciliation: finance's work; viewers read it (issue 16).
    A.EXPENSES_READ: frozenset({Role.OWNER, Role.FINANCE, Role.VIEWER}),
    A.EXPENSES_UPLOAD: _FINANCE,
    A.EXPENSES_RESOLVE: _FINANCE,
    A.EXPENSES_CLOSE: _FINANCE,
    A.EXPENSES_REOPEN: frozenset({Role.OWNER}),
    A.EXPENSES_MAPPING: _FINANCE,
    # The business licence and the agent's authorisation (docs/kyc.md): the owner's.
    A.COMPANY_DOCUMENTS: frozenset({Role.OWNER}),
    A.SSO_MANAGE: frozenset({Role.OWNER}),
    # Webhooks (issue 18): an endpoint receives every subscribed event of the company.
    A.WEBHOOKS_MANAGE: frozenset({Role.OWNER}),
    A.EVENTS_READ: frozenset({Role.OWNER}),
}

# The actions each API key scope opens. A key may hold a scope only if its holder's role may do
# every action of it (checked at creation, and again on every request).
SCOPE_ACTIONS: dict[str, frozenset[Action]] = {
    ApiKey.Scope.ORDERS_READ: frozenset({A.ORDER_READ}),
    ApiKey.Scope.ORDERS_WRITE: frozenset(
        {A.ORDER_CREATE, A.ORDER_SUBMIT, A.ORDER_CANCEL, A.ORDER_UPLOAD}
    ),
    ApiKey.Scope.ORDERS_APPROVE: frozenset({A.ORDER_APPROVE}),
    ApiKey.Scope.INVOICES_READ: frozenset({A.INVOICES_READ}),
    ApiKey.Scope.CODES_EXPORT: frozenset({A.CODES_DOWNLOAD}),
    ApiKey.Scope.EXPENSES_READ: frozenset({A.EXPENSES_READ}),
    ApiKey.Scope.EXPENSES_WRITE: frozenset({A.EXPENSES_UPLOAD, A.EXPENSES_RESOLVE}),
    ApiKey.Scope.WEBHOOKS_MANAGE: frozenset({A.WEBHOOKS_MANAGE}),
    ApiKey.Scope.EVENTS_READ: frozenset({A.EVENTS_READ}),
}
# The scope an action needs through the API. Statements, payments and aging come with
# ``invoices:read``, and then only to the roles that may read them.
ACTION_SCOPE: dict[Action, str] = {
    **{action: scope for scope, actions in SCOPE_ACTIONS.items() for action in actions},
    A.STATEMENTS_READ: ApiKey.Scope.INVOICES_READ,
    A.PAYMENTS_READ: ApiKey.Scope.INVOICES_READ,
    A.AGING_READ: ApiKey.Scope.INVOICES_READ,
    # Closing and re-opening a reconciliation period come with ``expenses:write``, and then
    # only to the roles that may do them (re-opening: owners), like the portal.
    A.EXPENSES_CLOSE: ApiKey.Scope.EXPENSES_WRITE,
    A.EXPENSES_REOPEN: ApiKey.Scope.EXPENSES_WRITE,
}
# Creating a key with these needs a fresh second factor, is audited and is emailed to owners.
SENSITIVE_SCOPES = frozenset({ApiKey.Scope.CODES_EXPORT, ApiKey.Scope.ORDERS_APPROVE})

_REFUSALS = {
    A.ORDER_CREATE: gettext_lazy("Only owners and purchasers can create orders."),
    A.ORDER_SUBMIT: gettext_lazy("Only owners and purchasers can submit orders."),
    A.ORDER_CANCEL: gettext_lazy("Only owners and purchasers can cancel orders."),
    A.ORDER_CANCEL_ANY: gettext_lazy("Only the order's creator or an owner can cancel it."),
    A.ORDER_APPROVE: gettext_lazy("Only owners and approvers can approve or reject orders."),
    A.ORDER_UPLOAD: gettext_lazy("Only owners and purchasers can upload order files."),
    A.RECIPIENTS_MANAGE: gettext_lazy(
        "Only owners and purchasers can resend links or change recipients."
    ),
    A.CODES_DOWNLOAD: gettext_lazy(
        "Only owners and finance members can download card codes. Ask an owner of your company "
        "for the Finance role, or ask a finance member."
    ),
    A.CREDIT_READ: gettext_lazy("Only owners and finance members can see the credit terms."),
    A.STATEMENTS_READ: gettext_lazy("Viewers cannot see statements; ask an owner of your company."),
    A.STATEMENTS_REQUEST: gettext_lazy("Only owners and finance members can request statements."),
    A.PAYMENTS_READ: gettext_lazy("Viewers cannot see payments; ask an owner of your company."),
    A.AGING_READ: gettext_lazy("Viewers cannot see the aging; ask an owner of your company."),
    A.MEMBERS_MANAGE: gettext_lazy("Only owners can invite members or change roles."),
    A.AUDIT_READ: gettext_lazy("Only owners can see the audit trail."),
    A.API_KEYS_MANAGE: gettext_lazy("Only owners can see and revoke other members' API keys."),
    A.EXPENSES_READ: gettext_lazy(
        "Only owners, finance members and viewers can see expense reconciliation."
    ),
    A.EXPENSES_UPLOAD: gettext_lazy("Only owners and finance members can upload expense reports."),
    A.EXPENSES_RESOLVE: gettext_lazy(
        "Only owners and finance members can resolve expense exceptions."
    ),
    A.EXPENSES_CLOSE: gettext_lazy(
        "Only owners and finance members can close reconciliation periods."
    ),
    A.EXPENSES_REOPEN: gettext_lazy("Only owners can re-open a closed reconciliation period."),
    A.WEBHOOKS_MANAGE: gettext_lazy("Only owners can manage webhook endpoints."),
    A.EVENTS_READ: gettext_lazy("Only owners can read the company's webhook events."),
    A.EXPENSES_MAPPING: gettext_lazy(
        "Only owners and finance members can set the voucher account mapping."
    ),
    A.COMPANY_DOCUMENTS: gettext_lazy(
        "Only owners can upload the company's business licence and letter of authorisation."
    ),
    A.SSO_MANAGE: gettext_lazy("Only owners can set up single sign-on."),
}

Subject = Membership | str | None


def _role(subject: Subject) -> str | None:
    if isinstance(subject, Membership):
        return subject.role
    return subject


def can(subject: Subject, action: Action | str) -> bool:
    """Whether a membership (or a role) may do ``action`` in its company."""
    role = _role(subject)
    return role is not None and role in ROLES[Action(action)]


def refusal(action: Action | str) -> str:
    """Why someone whose role may not do ``action`` cannot, in words they can act on."""
    message = _REFUSALS.get(Action(action))
    return str(message) if message else _("Your role in this company does not allow this.")


def membership_of(company: Company, user: User) -> Membership | None:
    """The user's membership in the company; in a sandbox, their membership in its real
    company (a sandbox has no members of its own: docs/api.md, "Test mode")."""
    return Membership.objects.filter(company_id=company.live_id, user=user).first()


def require(company: Company, user: User, action: Action) -> Membership:
    """The user's membership in the company, if their current role may do ``action``;
    otherwise PermissionDenied saying why. For services."""
    membership = membership_of(company, user)
    if not can(membership, action):
        raise PermissionDenied(refusal(action))
    assert membership is not None
    return membership


def roles_for(action: Action) -> frozenset[Role]:
    return ROLES[action]


def scope_allowed(subject: Subject, scope: str) -> bool:
    """Whether a key of this member (or role) may hold ``scope``."""
    return all(can(subject, action) for action in SCOPE_ACTIONS[scope])


def scopes_for(subject: Subject) -> list[str]:
    return [scope for scope in ApiKey.Scope.values if scope_allowed(subject, scope)]


def sensitive(scopes: Iterable[str]) -> list[str]:
    return [scope for scope in scopes if scope in SENSITIVE_SCOPES]
