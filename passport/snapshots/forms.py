"""Forms of the snapshot pages."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from core.params import IdFormField
from passport.models import DeviceKey


def start_of(day: Any) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def end_of(day: Any) -> datetime | None:
    return None if day is None else datetime.combine(day, time.max, tzinfo=timezone.get_current_timezone())


class DateInput(forms.DateInput):
    input_type = "date"


class DeviceKeyForm(forms.Form):
    public_key = forms.CharField(
        label=_("Public key"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=4000,
        help_text=_("Ed25519 (required for BMS devices) or ECDSA P-256, as PEM or raw base64."),
    )
    purpose = forms.ChoiceField(label=_("Purpose"), choices=DeviceKey.Purpose.choices)
    device_serial = forms.CharField(label=_("Device serial"), max_length=100, required=False)
    label = forms.CharField(label=_("Label"), max_length=200, required=False)
    valid_from = forms.DateField(label=_("Valid from"), required=False, widget=DateInput)
    valid_until = forms.DateField(label=_("Valid until (inclusive)"), required=False, widget=DateInput)


class RevokeKeyForm(forms.Form):
    key_id = forms.CharField(max_length=64, widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), max_length=2000)
    effective_on = forms.DateField(
        label=_("Effective from (empty: now)"),
        required=False,
        widget=DateInput,
        help_text=_("A date in the past refuses what the key signed since then."),
    )


class SnapshotUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Snapshots file"),
        help_text=_(
            "JSON (one envelope or a list), JSON Lines (one envelope per line), or a zip of such files."
        ),
    )


class PurposeForm(forms.Form):
    purpose = forms.CharField(
        label=_("Purpose of this read"),
        min_length=10,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Logged with your name and organisation."),
    )


class LegalHoldForm(forms.Form):
    snapshot_id = IdFormField(label=_("Snapshot id (empty: every snapshot of the battery)"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    reference = forms.CharField(label=_("Case reference"), max_length=100, required=False)


class LiftHoldForm(forms.Form):
    hold = IdFormField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason for lifting"), max_length=2000)


class LabDesignationForm(forms.Form):
    lab = forms.ModelChoiceField(
        label=_("Evaluation institution"),
        queryset=Organisation.objects.filter(kind=Organisation.Kind.TEST_LAB),
    )
    valid_from = forms.DateField(label=_("Designated from"), widget=DateInput)
    valid_until = forms.DateField(label=_("Until (inclusive, empty: open)"), required=False, widget=DateInput)
    reference = forms.CharField(label=_("Designation reference"), max_length=100, required=False)
    scope = forms.CharField(label=_("Scope"), max_length=2000, required=False)


class WithdrawDesignationForm(forms.Form):
    designation = IdFormField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), max_length=2000)
