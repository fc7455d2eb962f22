"""The report builder form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from licensing.models import Facility
from reports.formats.registry import format_choices


def _lines(text: str) -> list[str]:
    """Codes typed one a line (commas and spaces separate them too)."""
    return [item for item in text.replace(",", " ").split() if item]


class ReportForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    format = forms.ChoiceField(label=_("Format"), choices=())
    battery_codes = forms.CharField(
        label=_("Battery codes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One code a line."),
    )
    lot_codes = forms.CharField(
        label=_("Material lot codes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One code a line."),
    )
    facility = forms.ModelChoiceField(
        label=_("Facility"),
        required=False,
        queryset=Facility.objects.none(),
        help_text=_("Every battery and lot with a custody event at this facility."),
    )
    organisation = forms.ModelChoiceField(
        label=_("Organisation"),
        required=False,
        queryset=Organisation.objects.none(),
        help_text=_("Every battery and lot this organisation recorded a custody event for."),
    )
    date_from = forms.DateTimeField(
        label=_("From"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Events that occurred at or after this moment (UTC)."),
    )
    date_to = forms.DateTimeField(
        label=_("Until"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Events that occurred before this moment (UTC)."),
    )
    anonymised = forms.BooleanField(
        label=_("Anonymised"),
        required=False,
        help_text=_(
            "Codes replaced by pseudonyms, times cut to the day; scanned for identifiers before release."
        ),
    )
    language = forms.ChoiceField(label=_("Language"), choices=())
    purpose = forms.CharField(label=_("Purpose"), max_length=300, required=False)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["format"].choices = format_choices()
        self.fields["language"].choices = list(settings.LANGUAGES)
        organisation = getattr(user, "organisation", None)
        if organisation is not None:
            if organisation.is_authority:
                facilities = Facility.objects.filter(country=organisation.country)
                organisations = Organisation.objects.filter(country=organisation.country)
            else:
                facilities = Facility.objects.filter(organisation=organisation)
                organisations = Organisation.objects.filter(pk=organisation.pk)
            self.fields["facility"].queryset = facilities.order_by("name")
            self.fields["organisation"].queryset = organisations.order_by("name")

    def request_arguments(self) -> dict[str, Any]:
        """The form's values as `reports.services.request_report` takes them."""
        data = self.cleaned_data
        return {
            "format": data["format"],
            "title": data["title"],
            "battery_codes": _lines(data["battery_codes"]),
            "lot_codes": _lines(data["lot_codes"]),
            "facility": data["facility"].pk if data["facility"] else None,
            "organisation": data["organisation"].pk if data["organisation"] else None,
            "date_from": data["date_from"],
            "date_to": data["date_to"],
            "anonymised": data["anonymised"],
            "language": data["language"],
            "purpose": data["purpose"],
        }
