"""Forms of the cross-border pages: record an approval, revoke one, filter the export log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from crossborder import services
from crossborder.models import Channel, DataClass, ExportLogEntry, TransferApproval


class OrganisationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Organisation) -> str:
        return f"{obj.name} ({obj.country})"


class ApprovalForm(forms.Form):
    """The approval as the regulator's portal or the filing shows it; dates are whole days."""

    holder = OrganisationChoiceField(
        label=_("Data holder (exporter)"), queryset=Organisation.objects.none(), empty_label=None
    )
    recipient = OrganisationChoiceField(label=_("Recipient"), queryset=Organisation.objects.none())
    destination_country = forms.CharField(
        label=_("Destination country"),
        max_length=2,
        required=False,
        help_text=_("ISO 3166-1 alpha-2, e.g. DE. Leave empty for the recipient's country."),
    )
    data_classes = forms.MultipleChoiceField(
        label=_("Data classes"),
        choices=[(value, label) for value, label in DataClass.choices if value != DataClass.PUBLIC],
        widget=forms.CheckboxSelectMultiple,
    )
    basis = forms.ChoiceField(label=_("Legal basis"), choices=TransferApproval.Basis.choices)
    reference = forms.CharField(
        label=_("Reference"),
        max_length=100,
        required=False,
        help_text=_("The approval number, filing number, certificate number or legal provision."),
    )
    valid_from = forms.DateField(label=_("Valid from"), widget=forms.DateInput(attrs={"type": "date"}))
    valid_until = forms.DateField(
        label=_("Valid until"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The last day it covers (inclusive)."),
    )
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["holder"].queryset = services.holders_for(user).order_by("name")
        self.fields["recipient"].queryset = Organisation.objects.order_by("name")


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.BooleanField(
        label=_("I understand that every transfer relying on this approval is refused from now on."),
        required=True,
    )


class ExportLogFilterForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"), required=False, choices=[("", _("any")), *ExportLogEntry.Outcome.choices]
    )
    channel = forms.ChoiceField(
        label=_("Channel"), required=False, choices=[("", _("any")), *Channel.choices]
    )
    recipient = OrganisationChoiceField(
        label=_("Recipient"),
        required=False,
        queryset=Organisation.objects.order_by("name"),
        empty_label=_("any"),
    )
    country = forms.CharField(label=_("Destination country"), required=False, max_length=2)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
