from datetime import timedelta

from django import template

from portal import policy
from portal.models import Membership, audit_action_label

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    """The translated label of an audit action code, or the code itself for unknown ones."""
    return audit_action_label(action)


@register.filter
def minutes(value: timedelta | None) -> int:
    """Whole minutes of a duration, rounded up (a lockout of 90 s reads as 2 minutes)."""
    if not value:
        return 0
    return -(-int(value.total_seconds()) // 60)


@register.filter
def can(membership: Membership | None, action: str) -> bool:
    """``{% if active_membership|can:"codes.download" %}``: the policy's answer (an unknown
    action is an error, not a silent no)."""
    return policy.can(membership, action)
