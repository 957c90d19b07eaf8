"""Events of the ordering flow."""

from django.dispatch import Signal

# Sent after the transaction that funded an order commits. Arguments: order_id.
order_funded = Signal()
