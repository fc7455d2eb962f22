"""The shapes of the five-point checklist, and the scope (an organisation or one facility) it is read for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import Organisation
from compliance import labels
from custody.events.models import CustodyEvent
from licensing.models import Facility

GREEN, AMBER, RED = "green", "amber", "red"
STATUSES = (GREEN, AMBER, RED)
SCOPES = ("organisation", "facility")
POINT_KEYS = ("licences", "origin", "retention", "encryption", "exports")
_SEVERITY = {GREEN: 0, AMBER: 1, RED: 2}


def worst(statuses: list[str] | tuple[str, ...]) -> str:
    """The most severe of the statuses (green when there are none)."""
    return max(statuses, key=_SEVERITY.__getitem__, default=GREEN)


def status_label(status: str) -> str:
    """The status in words, so colour is never the only signal."""
    return {
        GREEN: _("Green: in order"),
        AMBER: _("Amber: needs attention"),
        RED: _("Red: action required"),
    }[status]


@dataclass(frozen=True)
class EvidenceLink:
    """A link to an existing page that shows what a point's colour rests on."""

    label: str
    url_name: str
    args: tuple[Any, ...] = ()
    query: tuple[tuple[str, Any], ...] = ()

    @property
    def url(self) -> str:
        path = reverse(self.url_name, args=self.args)
        return f"{path}?{urlencode(self.query)}" if self.query else path

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "url_name": self.url_name,
            "args": [str(arg) for arg in self.args],
            "url": self.url,
        }


@dataclass(frozen=True)
class Point:
    """One point of the checklist: its colour, why, the figures behind it and where to check them."""

    number: int
    key: str
    title: str
    status: str
    summary: str
    rule: str
    rule_code: str
    figures: dict[str, Any]
    findings: tuple[str, ...] = ()
    evidence: tuple[EvidenceLink, ...] = ()

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def figure_rows(self) -> list[tuple[str, str]]:
        return labels.figure_rows(self.figures)

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "status_label": self.status_label,
            "summary": self.summary,
            "rule": self.rule,
            "rule_code": self.rule_code,
            "figures": {name: _json_value(value) for name, value in self.figures.items()},
            "findings": list(self.findings),
            "evidence": [link.as_dict() for link in self.evidence],
        }


@dataclass(frozen=True)
class Checklist:
    """The five points for an organisation or one of its facilities, as at an instant."""

    organisation: Organisation
    facility: Facility | None
    at: datetime
    points: tuple[Point, ...] = field(default=())

    @property
    def scope(self) -> str:
        return "facility" if self.facility is not None else "organisation"

    @property
    def status(self) -> str:
        return worst([point.status for point in self.points])

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def counts(self) -> dict[str, int]:
        return {status: sum(1 for point in self.points if point.status == status) for status in STATUSES}

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (and RFC 8785-safe: no floats beyond what JSON holds, no Decimal) form."""
        facility = self.facility
        return {
            "scope": self.scope,
            "at": _json_value(self.at),
            "organisation": {
                "id": self.organisation.pk,
                "name": self.organisation.name,
                "kind": self.organisation.kind,
                "country": self.organisation.country,
            },
            "facility": (
                {
                    "id": facility.pk,
                    "name": facility.name,
                    "province": facility.province,
                    "country": facility.country,
                }
                if facility is not None
                else None
            ),
            "status": self.status,
            "counts": self.counts,
            "points": [point.as_dict() for point in self.points],
        }


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Scope:
    """What a checklist reads: an organisation's facilities, batteries and snapshots, or one facility's.

    A facility's batteries are those with a custody step at the facility; its snapshots are theirs and
    those signed by device keys registered to the facility.
    """

    organisation: Organisation
    facility: Facility | None = None

    def facilities(self) -> Any:
        if self.facility is not None:
            return Facility.objects.filter(pk=self.facility.pk)
        return Facility.objects.filter(organisation=self.organisation)

    def battery_filter(self, prefix: str = "") -> Q:
        """Rows whose battery (reached through `prefix`, e.g. "battery__") is in scope."""
        if self.facility is not None:
            battery = OuterRef(prefix.removesuffix("__") or "pk")
            return Q(Exists(CustodyEvent.objects.filter(battery=battery, facility=self.facility)))
        return Q(**{f"{prefix}oem": self.organisation}) | Q(
            **{f"{prefix}current_custodian": self.organisation}
        )

    def snapshot_filter(self) -> Q:
        """Snapshots in scope, as the retention report chooses them for an organisation."""
        if self.facility is not None:
            return self.battery_filter("battery__") | Q(device_key__facility=self.facility)
        return Q(uploaded_by=self.organisation) | self.battery_filter("battery__")
