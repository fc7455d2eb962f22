"""GS1 EPCIS 2.0 JSON-LD: the custody events of a scope, for supply-chain systems and auditors' tools.

One EPCIS event per custody event, in chain order per subject (the scope's batteries, then its lots).
Battery events are ObjectEvents on the battery's identifier; lot events are ObjectEvents on the lot as
a quantity (in kilograms), except a lot's `lot_created`, which is the TransformationEvent that made
it: what went in (batteries in `inputEPCList`, lots with their mass in `inputQuantityList`) and the
lot that came out (`outputQuantityList`). The lots one recycling, split or merge step produced share a
`transformationID` (derived from the events they consumed), so EPCIS reads them as one transformation.

| custody event | EPCIS event | action | bizStep | disposition |
| --- | --- | --- | --- | --- |
| registered (first link of a chain) | ObjectEvent | ADD | commissioning | active |
| retired (taken out of the vehicle) | ObjectEvent | OBSERVE | removing | inactive |
| intake | ObjectEvent | OBSERVE | receiving | in_progress |
| graded | ObjectEvent | OBSERVE | inspecting | in_progress |
| transfer_initiated | ObjectEvent | OBSERVE | shipping | in_transit |
| transfer_accepted | ObjectEvent | OBSERVE | accepting | in_progress |
| transfer_rejected / _expired / _cancelled | ObjectEvent | OBSERVE | void_shipping | in_progress |
| dismantled (the unit is taken apart) | ObjectEvent | DELETE | disassembling | inactive |
| repurposed, the original unit (re-coded) | ObjectEvent | DELETE | decommissioning | inactive |
| repurposed, the new unit | ObjectEvent | ADD | commissioning | active |
| recycled (consumed by material recovery) | ObjectEvent | DELETE | destroying | destroyed |
| lot_created by recycling | TransformationEvent | – | commissioning | active |
| lot_created by a split or merge | TransformationEvent | – | repackaging | active |
| lot_split / lot_merged (the source lot) | ObjectEvent | DELETE | repackaging | inactive |
| exported (leaves for a consignee abroad) | ObjectEvent | OBSERVE | shipping | in_transit |
| disposed (hazardous-waste treatment) | ObjectEvent | DELETE | destroying | disposed |

Identifiers (no GS1 GLN or PGLN is known for our sites and organisations):
- a GS1 battery: its canonical GS1 Digital Link `https://id.gs1.org/01/{gtin}/21/{serial}` — the URI
  form of the SGTIN; the `urn:epc:id:sgtin` form needs the length of the GS1 company prefix, which a
  GTIN does not tell, and the event hash maps both forms to this one anyway;
- a GB/T 34014 battery: its passport address `{PUBLIC_BASE_URL}/p/{code}` (what its QR encodes);
- a material lot: `{PUBLIC_BASE_URL}/lots/{code}`; a site (readPoint, bizLocation): the facility's
  page `{PUBLIC_BASE_URL}/facilities/{id}/`; in an anonymised file, a battery is the tag URI
  `tag:{host},2026:battery/{pseudonym}` (RFC 4151: a name, not an address).

`eventTime` is UTC with the site's offset in `eventTimeZoneOffset` (the platform's home zone when an
event happened at no site). Voltrace's own facts are user extensions under the `vt:` prefix declared in
`@context` (`{PUBLIC_BASE_URL}/ns/epcis/`): the custody event type, `vt:seq`, `vt:hash` and
`vt:prevHash` (the hash chain a verification bundle proves), `vt:actor`, `vt:licence` (activity,
licence number and its status when the event happened), `vt:inputs` (the consumed events), `vt:data`.
`eventID` is the CBV 2.0 event hash of the event as written (see `epcis_hash`).

An anonymised file pseudonymises battery codes, dates every event to its day (UTC), names no user,
keeps only structured event data (grades, masses, materials; no notes or other free text) and leaves
out the hash chain: a custody hash is computed over the real code and the exact time, and the public
transparency log would lead from it back to the battery.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import IO, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from custody.events.body import mass_text
from custody.events.models import CustodyEvent, EventInput, EventType
from custody.lots.qr import lot_url
from licensing.models import DEFAULT_TIMEZONE
from passport import codes
from passport.qr import passport_url
from reports.formats.base import ReportContext
from reports.formats.epcis_hash import event_hash

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
GS1_RESOLVER = "https://id.gs1.org"
BATCH = 200  # subjects read per query; their events (about ten each) are what a batch holds in memory
KILOGRAM = "KGM"

# Event data an anonymised file keeps: enumerations and measurements, never free text.
_STRUCTURED_DATA = frozenset(
    {
        "channel",
        "origin",
        "oem",
        "product_type",
        "model",
        "grade",
        "mass_kg",
        "material",
        "inputs_kg",
        "losses_kg",
        "recovery_rate",
        "total_recovery_rate",
        "destination_country",
        "from_organisation",
        "to_organisation",
        "lots",
        "from",
        "into",
        "parts",
    }
)
_BATTERY_CODE_DATA = frozenset({"parent", "original", "new_code", "components"})


@dataclass(frozen=True)
class Step:
    """How one kind of custody event reads in EPCIS (the table in the module docstring)."""

    action: str | None
    biz_step: str
    disposition: str
    stays: bool  # the subject is at the site afterwards: the site is also its bizLocation


OBSERVED = Step("OBSERVE", "receiving", "in_progress", stays=True)
STEPS: dict[str, Step] = {
    EventType.REGISTERED: Step("ADD", "commissioning", "active", stays=True),
    EventType.RETIRED: Step("OBSERVE", "removing", "inactive", stays=True),
    EventType.INTAKE: OBSERVED,
    EventType.GRADED: Step("OBSERVE", "inspecting", "in_progress", stays=True),
    EventType.TRANSFER_INITIATED: Step("OBSERVE", "shipping", "in_transit", stays=False),
    EventType.TRANSFER_ACCEPTED: Step("OBSERVE", "accepting", "in_progress", stays=True),
    EventType.TRANSFER_REJECTED: Step("OBSERVE", "void_shipping", "in_progress", stays=False),
    EventType.TRANSFER_EXPIRED: Step("OBSERVE", "void_shipping", "in_progress", stays=False),
    EventType.TRANSFER_CANCELLED: Step("OBSERVE", "void_shipping", "in_progress", stays=False),
    EventType.DISMANTLED: Step("DELETE", "disassembling", "inactive", stays=False),
    EventType.REPURPOSED: Step("DELETE", "decommissioning", "inactive", stays=False),
    EventType.RECYCLED: Step("DELETE", "destroying", "destroyed", stays=False),
    EventType.LOT_SPLIT: Step("DELETE", "repackaging", "inactive", stays=False),
    EventType.LOT_MERGED: Step("DELETE", "repackaging", "inactive", stays=False),
    EventType.EXPORTED: Step("OBSERVE", "shipping", "in_transit", stays=False),
    EventType.DISPOSED: Step("DELETE", "destroying", "disposed", stays=False),
}
RECODED = Step("ADD", "commissioning", "active", stays=True)  # the new unit's `repurposed`
RECOVERED = Step(None, "commissioning", "active", stays=True)  # a lot made by material recovery
REPACKED = Step(None, "repackaging", "active", stays=True)  # a lot made by a split or merge


def namespace() -> str:
    """The IRI behind the `vt:` prefix of Voltrace's user extensions."""
    return f"{settings.PUBLIC_BASE_URL}/ns/epcis/"


def document_context() -> list[Any]:
    return [EPCIS_CONTEXT, {"vt": namespace()}]


# ---------------------------------------------------------------------------------------------------
# Identifiers and times
# ---------------------------------------------------------------------------------------------------
class Identifiers:
    """The URIs of batteries, lots and sites in one file (pseudonymous when the file is anonymised)."""

    def __init__(self, *, anonymised: bool) -> None:
        self.anonymised = anonymised
        self.base = settings.PUBLIC_BASE_URL
        self.host = urlsplit(self.base).hostname or "localhost"
        self._sites: dict[int, str] = {}
        self._pseudonym: Any = None

    def pseudonym(self, code: str) -> str:
        if self._pseudonym is None:
            from crossborder.scrub import pseudonym  # the cross-border gate's keyed hash

            self._pseudonym = pseudonym
        return str(self._pseudonym(code))

    def battery(self, code: str) -> str:
        if self.anonymised:
            return f"tag:{self.host},2026:battery/{self.pseudonym(code)}"
        gs1 = codes.split_gs1_code(code)
        if gs1 is not None:
            return codes.digital_link_uri(GS1_RESOLVER, *gs1)
        return passport_url(code)

    def battery_code(self, code: str) -> str:
        """A battery code as an anonymised file may show it."""
        return self.pseudonym(code) if self.anonymised else code

    def lot(self, code: str) -> str:
        return lot_url(code)

    def site(self, facility_id: int) -> str:
        uri = self._sites.get(facility_id)
        if uri is None:
            uri = self._sites[facility_id] = self.base + reverse(
                "licensing:facility-detail", args=[facility_id]
            )
        return uri


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def offset_text(moment: datetime, zone: str) -> str:
    """The UTC offset of `zone` at `moment` as EPCIS writes it: +08:00."""
    offset = moment.astimezone(_zone(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def utc_text(moment: datetime, *, day_only: bool = False) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT00:00:00Z" if day_only else "%Y-%m-%dT%H:%M:%SZ")


def _kilograms(mass: Decimal | str | None) -> float | None:
    """A mass as a JSON number (the schema's `decimal`); to the gram, which a double holds exactly."""
    return None if mass in (None, "") else float(Decimal(str(mass)))


# ---------------------------------------------------------------------------------------------------
# Reading the scope
# ---------------------------------------------------------------------------------------------------
def _events(ctx: ReportContext, subjects: Q) -> QuerySet[CustodyEvent]:
    events = CustodyEvent.objects.filter(subjects)
    if ctx.date_from is not None:
        events = events.filter(occurred_at__gte=ctx.date_from)
    if ctx.date_to is not None:
        events = events.filter(occurred_at__lt=ctx.date_to)
    inputs = EventInput.objects.select_related("input_battery", "input_lot", "input_event").only(
        "event",
        "position",
        "input_battery",
        "input_lot",
        "input_event",
        "mass_kg",
        "input_battery__code",
        "input_lot__code",
        "input_event__hash",
    )
    return (
        events.select_related("actor", "actor_user", "facility", "licence", "battery", "lot")
        .only(
            "type",
            "seq",
            "battery",
            "lot",
            "actor",
            "actor_user",
            "facility",
            "licence",
            "occurred_at",
            "recorded_at",
            "activity",
            "licence_status",
            "prev_hash",
            "hash",
            "body",
            "actor__name",
            "actor_user__username",
            "facility__timezone",
            "licence__number",
            "battery__code",
            "lot__code",
            "lot__mass_kg",
            "lot__material",
        )
        .prefetch_related(Prefetch("inputs", queryset=inputs.order_by("position")))
    )


def _batches(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), BATCH):
        yield list(ids[start : start + BATCH])


def subject_chains(ctx: ReportContext) -> Iterator[list[CustodyEvent]]:
    """The events of each subject of the scope in chain order: its batteries, then its lots.

    One query (and one for the consumed inputs) per batch of subjects; a subject with no event in the
    date range yields an empty chain, so the caller can count every subject as done.
    """
    for field, ids in (("battery_id", ctx.battery_ids), ("lot_id", ctx.lot_ids)):
        for batch in _batches(ids):
            grouped: dict[int, list[CustodyEvent]] = {subject: [] for subject in batch}
            for event in _events(ctx, Q(**{f"{field}__in": batch})).order_by(field, "seq"):
                grouped[getattr(event, field)].append(event)
            for subject in batch:
                yield grouped.pop(subject)


# ---------------------------------------------------------------------------------------------------
# One custody event as one EPCIS event
# ---------------------------------------------------------------------------------------------------
def _step(event: CustodyEvent, inputs: list[EventInput]) -> Step:
    if event.type == EventType.LOT_CREATED:
        return RECOVERED if event.activity == "material_recovery" else REPACKED
    if event.type == EventType.REPURPOSED and inputs:
        return RECODED
    return STEPS.get(event.type, OBSERVED)


def _clean(value: Any) -> Any:
    """JSON for an extension: prefixed keys, no nulls or empty texts (the event hash reads null as text)."""
    if isinstance(value, dict):
        return {f"vt:{key}": _clean(item) for key, item in value.items() if item not in (None, "")}
    if isinstance(value, list):
        return [_clean(item) for item in value if item not in (None, "")]
    return value


def _data(body_data: dict[str, Any], ids: Identifiers) -> dict[str, Any]:
    """The event's data; anonymised: structured facts only, scrubbed, battery codes pseudonymised."""
    if not ids.anonymised:
        return _clean(body_data)
    from crossborder.scrub import anonymise_record

    facts = {key: value for key, value in body_data.items() if key in _STRUCTURED_DATA}
    kept: dict[str, Any] = anonymise_record(facts, is_battery_code=lambda _value: False)
    for key, value in body_data.items():
        if key in _BATTERY_CODE_DATA and value:
            kept[key] = (
                [ids.battery_code(code) for code in value]
                if isinstance(value, list)
                else ids.battery_code(value)
            )
    return _clean(kept)


def _transformation_id(inputs: list[EventInput], ids: Identifiers) -> str | None:
    """One ID for every lot a step made: the consumed events' hashes, keyed when anonymised."""
    if not inputs:
        return None
    joined = "|".join(sorted(bytes(item.input_event.hash).hex() for item in inputs))
    if ids.anonymised:
        joined = ids.pseudonym(joined)
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ids.base}/transformations/{joined}"))


def epcis_event(event: CustodyEvent, ids: Identifiers) -> dict[str, Any]:
    """The EPCIS event (without its eventID) of one custody event, its relations prefetched."""
    inputs = list(event.inputs.all())
    step = _step(event, inputs)
    body = json.loads(event.body)
    zone = event.facility.timezone if event.facility_id else DEFAULT_TIMEZONE
    lot = event.lot if event.lot_id else None
    transformation = event.type == EventType.LOT_CREATED
    document: dict[str, Any] = {
        "type": "TransformationEvent" if transformation else "ObjectEvent",
        "eventTime": utc_text(event.occurred_at, day_only=ids.anonymised),
        "eventTimeZoneOffset": offset_text(event.occurred_at, zone),
        "recordTime": utc_text(event.recorded_at, day_only=ids.anonymised),
    }
    if transformation and lot is not None:
        batteries = [ids.battery(item.input_battery.code) for item in inputs if item.input_battery_id]
        consumed_lots = [
            {"epcClass": ids.lot(item.input_lot.code), "quantity": _kilograms(item.mass_kg), "uom": KILOGRAM}
            for item in inputs
            if item.input_lot_id
        ]
        if batteries:
            document["inputEPCList"] = batteries
        if consumed_lots:
            document["inputQuantityList"] = [
                {key: value for key, value in entry.items() if value is not None} for entry in consumed_lots
            ]
        document["outputQuantityList"] = [
            {"epcClass": ids.lot(lot.code), "quantity": _kilograms(lot.mass_kg), "uom": KILOGRAM}
        ]
        transformation_id = _transformation_id(inputs, ids)
        if transformation_id:
            document["transformationID"] = transformation_id
    elif lot is not None:
        document["quantityList"] = [
            {"epcClass": ids.lot(lot.code), "quantity": _kilograms(lot.mass_kg), "uom": KILOGRAM}
        ]
    else:
        document["epcList"] = [ids.battery(event.battery.code)]
    if step.action:
        document["action"] = step.action
    document["bizStep"] = step.biz_step
    document["disposition"] = step.disposition
    if event.facility_id:
        site = ids.site(event.facility_id)
        document["readPoint"] = {"id": site}
        if step.stays:
            document["bizLocation"] = {"id": site}
    if transformation and lot is not None:
        document["ilmd"] = {"vt:material": lot.material}
    document.update(_extensions(event, body, inputs, ids))
    return document


def _extensions(
    event: CustodyEvent, body: dict[str, Any], inputs: list[EventInput], ids: Identifiers
) -> dict[str, Any]:
    extensions: dict[str, Any] = {"vt:eventType": event.type, "vt:seq": event.seq}
    if not ids.anonymised:
        extensions["vt:hash"] = event.hash_hex
        if event.prev_hash is not None:
            extensions["vt:prevHash"] = event.prev_hash_hex
    extensions["vt:actor"] = event.actor.name
    if event.actor_user_id and not ids.anonymised:
        extensions["vt:recordedBy"] = event.actor_user.username
    if event.activity:
        licence = {"vt:activity": event.activity}
        if event.licence_id:
            licence["vt:number"] = event.licence.number
        if event.licence_status:
            licence["vt:status"] = event.licence_status
        extensions["vt:licence"] = licence
    if inputs:
        consumed = []
        for item in inputs:
            entry: dict[str, Any] = {
                "vt:id": ids.battery(item.input_battery.code)
                if item.input_battery_id
                else ids.lot(item.input_lot.code)
            }
            if not ids.anonymised:
                entry["vt:eventHash"] = bytes(item.input_event.hash).hex()
            if item.mass_kg is not None:
                entry["vt:massKg"] = mass_text(item.mass_kg)
            consumed.append(entry)
        extensions["vt:inputs"] = consumed
    data = _data(body.get("data") or {}, ids)
    if data:
        extensions["vt:data"] = data
    return extensions


def with_event_id(document: dict[str, Any], context: list[Any]) -> dict[str, Any]:
    """The event with its CBV 2.0 event hash as `eventID`, placed after its type."""
    identifier = event_hash(document, context)
    return {"type": document["type"], "eventID": identifier, **document}


# ---------------------------------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------------------------------
def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_epcis(ctx: ReportContext, out: IO[bytes]) -> int:
    """Stream the EPCIS document of the scope to `out`; returns the number of events written."""
    ids = Identifiers(anonymised=ctx.anonymised)
    context = document_context()
    created = ctx.generated_at or timezone.now()
    head = {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "vt:anonymised": ctx.anonymised,
    }
    out.write((_dumps(head)[:-1] + ',"epcisBody":{"eventList":[').encode("utf-8"))
    written = 0
    for done, chain in enumerate(subject_chains(ctx), start=1):
        for event in chain:
            document = with_event_id(epcis_event(event, ids), context)
            out.write((("\n" if written == 0 else ",\n") + _dumps(document)).encode("utf-8"))
            written += 1
        ctx.tick(done)
    out.write(b"\n]}}\n")
    return written
