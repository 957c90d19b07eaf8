"""The owner's forms: an endpoint (URL, description, event types) and a replay."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from webhooks.events import EventType


class EndpointForm(forms.Form):
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_(
            "A public HTTPS address of your system, for example https://erp.example.com/hooks."
        ),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Events"), choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )


class ReplayForm(forms.Form):
    start = forms.DateTimeField(
        label=_("From"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Beijing time."),
    )
    end = forms.DateTimeField(
        label=_("To"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Beijing time; events up to this time, excluded."),
    )
