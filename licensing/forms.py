"""Page forms: they parse input; the services decide."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from licensing.evidence import MAX_EVIDENCE_BYTES
from licensing.models import DEFAULT_TIMEZONE, Activity, Licence, LicenceEvent
from licensing.provinces import CN_PROVINCES

_EVIDENCE_ACCEPT = ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"
_EVIDENCE_HELP = _("PDF, PNG or JPEG, at most %(megabytes)s MB.") % {
    "megabytes": MAX_EVIDENCE_BYTES // (1024 * 1024)
}


def _evidence_field(*, required: bool = False, label: Any = None) -> forms.FileField:
    return forms.FileField(
        label=label or _("Evidence"),
        required=required,
        help_text=_EVIDENCE_HELP,
        widget=forms.ClearableFileInput(attrs={"accept": _EVIDENCE_ACCEPT}),
    )


class FacilityForm(forms.Form):
    organisation = forms.ModelChoiceField(label=_("Organisation"), queryset=Organisation.objects.none())
    name = forms.CharField(label=_("Name"), max_length=200)
    address = forms.CharField(label=_("Address"), widget=forms.Textarea(attrs={"rows": 2}), required=False)
    province = forms.ChoiceField(label=_("Province"), choices=sorted(CN_PROVINCES.items()))
    timezone = forms.CharField(label=_("Time zone"), initial=DEFAULT_TIMEZONE, max_length=64)

    def __init__(self, *args: Any, organisations: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations
        if organisations.count() == 1:
            self.fields["organisation"].initial = organisations.first()


class LicenceIssueForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=Licence.Kind.choices)
    issuing_authority = forms.CharField(label=_("Issuing authority"), max_length=200)
    number = forms.CharField(label=_("Number"), max_length=100)
    activities = forms.MultipleChoiceField(
        label=_("Permitted activities"), choices=Activity.choices, widget=forms.CheckboxSelectMultiple
    )
    valid_from = forms.DateField(label=_("Valid from"), widget=forms.DateInput(attrs={"type": "date"}))
    valid_until = forms.DateField(
        label=_("Valid until"),
        required=False,
        help_text=_("Leave empty for a listing without a fixed term."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    reason = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    evidence = _evidence_field()


class LicenceEventForm(forms.Form):
    """One of the regulator's actions on a licence; the effective time is read on the facility's clock."""

    kind = forms.ChoiceField(
        label=_("Action"),
        choices=[
            (LicenceEvent.Kind.SUSPENDED, _("Suspend")),
            (LicenceEvent.Kind.REINSTATED, _("Reinstate")),
            (LicenceEvent.Kind.REVOKED, _("Revoke")),
            (LicenceEvent.Kind.RENEWED, _("Renew")),
            (LicenceEvent.Kind.SCOPE_CHANGED, _("Change scope")),
        ],
        widget=forms.HiddenInput,
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))
    effective_at = forms.DateTimeField(
        label=_("Effective at (facility's local time)"),
        required=False,
        help_text=_("Leave empty for now. An earlier time records a retroactive decision."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    valid_until = forms.DateField(
        label=_("New valid until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    activities = forms.MultipleChoiceField(
        label=_("Permitted activities"),
        choices=Activity.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    evidence = _evidence_field()

    def __init__(self, *args: Any, zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        kind = self.data.get("kind") if self.is_bound else self.initial.get("kind")
        if kind != LicenceEvent.Kind.RENEWED:
            del self.fields["valid_until"]
        else:
            self.fields["valid_until"].required = True
        if kind != LicenceEvent.Kind.SCOPE_CHANGED:
            del self.fields["activities"]
        else:
            self.fields["activities"].required = True

    def effective_instant(self) -> datetime | None:
        """The effective time as an aware instant on the facility's clock (the browser sends local time)."""
        local = self.cleaned_data.get("effective_at")
        if local is None:
            return None
        return local.replace(tzinfo=None).replace(tzinfo=ZoneInfo(self.zone))


class EvidenceForm(forms.Form):
    file = _evidence_field(required=True, label=_("File"))
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
