from django import template

from cards.models import Order

register = template.Library()


@register.simple_tag
def order_recipient_deliveries(order: Order) -> str:
    return ""
