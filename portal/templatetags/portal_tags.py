from django import template

from portal.models import AuditAction

register = template.Library()

_LABELS = dict(AuditAction.choices)


@register.filter
def action_label(action: str) -> str:
    """The translated label of an audit action code, or the code itself for unknown ones."""
    return str(_LABELS.get(action, action))
