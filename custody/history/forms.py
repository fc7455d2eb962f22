"""The history-request form (decisions are two small inline forms on the list; the service checks them)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from custody.history.services import PURPOSE_MAX_LENGTH, PURPOSE_MIN_LENGTH


class HistoryRequestForm(forms.Form):
    battery = forms.CharField(label=_("Battery code"), max_length=200)
    purpose = forms.CharField(
        label=_("Purpose"),
        min_length=PURPOSE_MIN_LENGTH,
        max_length=PURPOSE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What you need the history for; the custodian sees it and decides."),
    )
