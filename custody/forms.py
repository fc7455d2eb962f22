"""Forms of the custody pages: each carries a fresh idempotency key, so a double submit has one effect."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from custody.lots.models import Material
from custody.services.steps import GRADES
from licensing.models import Facility


class StepForm(forms.Form):
    """A custody step at one of the user's sites, with its idempotency key."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False)
    facility = forms.ModelChoiceField(label=_("Site"), queryset=Facility.objects.none())
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Leave empty for now. In your time zone."),
    )

    def __init__(self, *args: Any, organisation: Organisation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = Facility.objects.filter(organisation=organisation).order_by("name")
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)


class IntakeCheckForm(forms.Form):
    code = forms.CharField(label=_("Battery code"), max_length=200)
    facility = forms.ModelChoiceField(label=_("Site"), queryset=Facility.objects.none())

    def __init__(self, *args: Any, organisation: Organisation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = Facility.objects.filter(organisation=organisation).order_by("name")


class IntakeForm(StepForm):
    code = forms.CharField(widget=forms.HiddenInput)
    note = forms.CharField(label=_("Note"), required=False, max_length=500)
    snapshots = forms.MultipleChoiceField(label=_("Signed BMS snapshots"), required=False, choices=())

    def __init__(self, *args: Any, snapshot_choices: list[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["snapshots"].choices = list(snapshot_choices)
        self.fields["snapshots"].widget = forms.CheckboxSelectMultiple(choices=list(snapshot_choices))


class GradeForm(StepForm):
    grade = forms.ChoiceField(label=_("Grade"), choices=[(grade, grade) for grade in GRADES])
    method = forms.CharField(label=_("Method"), max_length=200, help_text=_("E.g. capacity test at 0.5C."))
    lab = forms.ModelChoiceField(
        label=_("Certifying lab"),
        required=False,
        queryset=Organisation.objects.filter(kind=Organisation.Kind.TEST_LAB).order_by("name"),
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=500)


class DismantleForm(StepForm):
    components = forms.CharField(
        label=_("Components"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("The codes of the modules or cells taken out, one a line."),
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=500)

    def component_codes(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["components"].splitlines() if line.strip()]


class RepurposeForm(StepForm):
    new_code = forms.CharField(
        label=_("New code"),
        max_length=40,
        help_text=_("The re-coded identifier (19 characters, ending R and P/M/C)."),
    )
    application = forms.CharField(label=_("Second-life use"), required=False, max_length=200)


class DisposeForm(StepForm):
    method = forms.CharField(label=_("Method"), max_length=200)


class RetireForm(forms.Form):
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("organisation", None)
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)


class TransferForm(forms.Form):
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False)
    to_facility = forms.ModelChoiceField(
        label=_("Receiving site"),
        queryset=Facility.objects.none(),
        help_text=_("Another organisation's site; it must be licensed when they accept."),
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=500)

    def __init__(self, *args: Any, organisation: Organisation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_facility"].queryset = (
            Facility.objects.exclude(organisation=organisation)
            .select_related("organisation")
            .order_by("organisation__name", "name")
        )
        self.fields["to_facility"].label_from_instance = lambda site: (
            f"{site.organisation.name} · {site.name}"
        )
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)


class RecycleForm(StepForm):
    inputs = forms.CharField(
        label=_("Inputs"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "One battery a line: its code, then optionally a comma and its mass in kg (default: its model's "
            "mass). A lot: LOT-… code."
        ),
    )
    losses_kg = forms.DecimalField(label=_("Declared losses (kg)"), min_value=0, decimal_places=3, initial=0)
    process = forms.CharField(label=_("Process"), required=False, max_length=200)

    OUTPUT_ROWS = 4

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for index in range(self.OUTPUT_ROWS):
            self.fields[f"material_{index}"] = forms.ChoiceField(
                label=_("Output %(number)d: material") % {"number": index + 1},
                choices=[("", "—"), *Material.choices],
                required=index == 0,
            )
            self.fields[f"mass_{index}"] = forms.DecimalField(
                label=_("Output %(number)d: mass (kg)") % {"number": index + 1},
                required=index == 0,
                min_value=0,
                decimal_places=3,
            )

    def input_items(self) -> list[dict[str, str]]:
        items = []
        for line in self.cleaned_data["inputs"].splitlines():
            if not line.strip():
                continue
            code, _comma, weight = line.partition(",")
            code = code.strip()
            kind = "lot" if code.upper().startswith("LOT-") else "battery"
            items.append({"kind": kind, "code": code, "mass_kg": weight.strip() or None})
        return items

    def output_items(self) -> list[dict[str, str]]:
        items = []
        for index in range(self.OUTPUT_ROWS):
            material = self.cleaned_data.get(f"material_{index}")
            weight = self.cleaned_data.get(f"mass_{index}")
            if material and weight is not None:
                items.append({"material": material, "mass_kg": str(weight)})
        return items


class SplitForm(StepForm):
    parts = forms.CharField(
        label=_("Parts (kg)"), help_text=_("Masses separated by commas, e.g. 100.000, 80.500")
    )
    losses_kg = forms.DecimalField(label=_("Declared losses (kg)"), min_value=0, decimal_places=3, initial=0)

    def part_masses(self) -> list[str]:
        return [part.strip() for part in self.cleaned_data["parts"].split(",") if part.strip()]


class MergeForm(StepForm):
    codes = forms.CharField(label=_("Lots to merge"), help_text=_("Lot codes separated by commas."))
    losses_kg = forms.DecimalField(label=_("Declared losses (kg)"), min_value=0, decimal_places=3, initial=0)

    def lot_codes(self) -> list[str]:
        return [code.strip() for code in self.cleaned_data["codes"].split(",") if code.strip()]


class IntakeImportForm(forms.Form):
    facility = forms.ModelChoiceField(label=_("Site"), queryset=Facility.objects.none())
    file = forms.FileField(
        label=_("CSV file"), help_text=_("UTF-8; columns code, and optionally occurred_at and note.")
    )

    def __init__(self, *args: Any, organisation: Organisation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = Facility.objects.filter(organisation=organisation).order_by("name")


class DecisionForm(forms.Form):
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)
