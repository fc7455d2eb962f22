"""GS1 EPCIS 2.0 reports: valid against the EPCIS JSON Schema, one event per custody event with its CBV
2.0 event-hash ID, transformations for lots, and an anonymised form with nothing that names a battery."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from custody import selectors, services
from custody.events.models import CustodyEvent
from custody.lots.models import MaterialLot
from passport.models import Battery
from reports.formats import epcis
from reports.formats.base import ReportContext
from reports.formats.epcis import write_epcis
from reports.formats.epcis_hash import event_hash
from tests.factories import gbt_code

pytestmark = pytest.mark.django_db

SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "refdata" / "gs1-epcis2" / "EPCIS-JSON-Schema.json"
MODULE = gbt_code("HNC", product_type="M", serial=2)
OTHER_MODULE = gbt_code("HNC", product_type="M", serial=3)


@pytest.fixture
def journey(
    registered_pack, recycler_operator, recycler_site, other_recycler_admin, other_recycler_site, test_lab_org
) -> dict[str, Any]:
    """The pack taken in, graded, handed over, dismantled; its module recycled into a lot, split in two."""
    services.record_intake(
        by=recycler_operator, code=registered_pack.code, facility=recycler_site, note="Zhang San, 13812345678"
    )
    services.record_grading(
        by=recycler_operator,
        code=registered_pack.code,
        facility=recycler_site,
        grade="C",
        method="capacity test",
        lab=test_lab_org,
    )
    transfer = services.initiate_transfer(
        by=recycler_operator,
        battery_code=registered_pack.code,
        to_organisation=other_recycler_site.organisation,
        to_facility=other_recycler_site,
    ).transfer
    services.accept_transfer(by=other_recycler_admin, transfer=transfer.pk)
    services.record_dismantling(
        by=other_recycler_admin, code=registered_pack.code, facility=other_recycler_site, components=[MODULE]
    )
    recycled = services.record_recycling(
        by=other_recycler_admin,
        facility=other_recycler_site,
        inputs=[{"code": MODULE, "mass_kg": "80.000"}],
        outputs=[{"material": "black_mass", "mass_kg": "70.000"}],
        losses_kg="10.000",
    )
    lot = MaterialLot.objects.get(code=selectors.produced_from(recycled.event)[0]["code"])
    split = services.split_lot(
        by=other_recycler_admin, code=lot.code, facility=other_recycler_site, parts=["30.000", "40.000"]
    )
    parts = [MaterialLot.objects.get(code=item["code"]) for item in selectors.produced_from(split.event)]
    return {
        "pack": registered_pack,
        "module": Battery.objects.get(code=MODULE),
        "lot": lot,
        "parts": parts,
        "site": recycler_site,
        "other_site": other_recycler_site,
    }


def scope(journey: dict[str, Any], **fields: Any) -> ReportContext:
    return ReportContext(
        battery_ids=[journey["pack"].pk, journey["module"].pk],
        lot_ids=[journey["lot"].pk, *(part.pk for part in journey["parts"])],
        **fields,
    )


def build(ctx: ReportContext) -> tuple[dict[str, Any], bytes, int]:
    out = io.BytesIO()
    count = write_epcis(ctx, out)
    raw = out.getvalue()
    return json.loads(raw), raw, count


def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+", value))


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value and moment.tzinfo is not None


def validate(document: dict[str, Any]) -> None:
    """Against the EPCIS 2.0 JSON Schema, with the `uri` and `date-time` formats checked too."""
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    checker.checks("uri")(_is_uri)
    checker.checks("date-time")(_is_date_time)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema, format_checker=checker).validate(document)


def events_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["epcisBody"]["eventList"]


def by_hash(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {event["vt:hash"]: event for event in events_of(document)}


def test_the_report_validates_and_holds_every_custody_event_with_its_cbv_event_hash(journey):
    document, _raw, count = build(scope(journey))
    validate(document)
    expected = (
        CustodyEvent.objects.filter(battery__in=[journey["pack"], journey["module"]]).count()
        + CustodyEvent.objects.filter(lot__in=[journey["lot"], *journey["parts"]]).count()
    )
    assert count == len(events_of(document)) == expected == 13  # pack 6, module 3, lot 2, parts 1 + 1
    assert document["@context"] == [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"vt": f"{settings.PUBLIC_BASE_URL}/ns/epcis/"},
    ]
    assert document["type"] == "EPCISDocument"
    assert document["schemaVersion"] == "2.0"
    for event in events_of(document):
        body = {key: value for key, value in event.items() if key != "eventID"}
        assert event["eventID"] == event_hash(body, document["@context"])
        assert re.fullmatch(r"ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0", event["eventID"])
    assert len({event["eventID"] for event in events_of(document)}) == count


def test_each_event_carries_its_place_in_the_hash_chain(journey):
    document, _raw, _count = build(scope(journey))
    events = by_hash(document)
    for stored in CustodyEvent.objects.filter(battery=journey["pack"]).select_related("licence"):
        event = events[stored.hash_hex]
        assert event["vt:seq"] == stored.seq
        assert event.get("vt:prevHash") == stored.prev_hash_hex
        assert event["vt:eventType"] == stored.type
        assert event["eventTime"] == stored.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if stored.licence_id:
            assert event["vt:licence"] == {
                "vt:activity": stored.activity,
                "vt:number": stored.licence.number,
                "vt:status": "active",
            }
    pack_uri = epcis.passport_url(journey["pack"].code)
    chain = [event for event in events_of(document) if event.get("epcList") == [pack_uri]]
    assert [event["vt:seq"] for event in chain] == list(range(6))


def test_battery_steps_read_as_cbv_business_steps_at_the_site(journey):
    document, _raw, _count = build(scope(journey))
    pack_uri = f"{settings.PUBLIC_BASE_URL}/p/{journey['pack'].code}"
    steps = [
        (event["vt:eventType"], event["action"], event["bizStep"], event["disposition"])
        for event in events_of(document)
        if event.get("epcList") == [pack_uri]
    ]
    assert steps == [
        ("registered", "ADD", "commissioning", "active"),
        ("intake", "OBSERVE", "receiving", "in_progress"),
        ("graded", "OBSERVE", "inspecting", "in_progress"),
        ("transfer_initiated", "OBSERVE", "shipping", "in_transit"),
        ("transfer_accepted", "OBSERVE", "accepting", "in_progress"),
        ("dismantled", "DELETE", "disassembling", "inactive"),
    ]
    intake = next(event for event in events_of(document) if event["vt:eventType"] == "intake")
    site = f"{settings.PUBLIC_BASE_URL}/facilities/{journey['site'].pk}/"
    assert intake["readPoint"] == {"id": site}
    assert intake["bizLocation"] == {"id": site}
    assert intake["eventTimeZoneOffset"] == "+08:00"  # the plant's Asia/Shanghai
    assert intake["vt:actor"] == journey["site"].organisation.name
    assert intake["vt:recordedBy"]
    assert intake["vt:data"] == {"vt:note": "Zhang San, 13812345678"}
    shipped = next(event for event in events_of(document) if event["vt:eventType"] == "transfer_initiated")
    assert "bizLocation" not in shipped  # in transit: at no site
    recycled = next(event for event in events_of(document) if event["vt:eventType"] == "recycled")
    assert (recycled["action"], recycled["bizStep"], recycled["disposition"]) == (
        "DELETE",
        "destroying",
        "destroyed",
    )


def test_lots_are_made_by_transformation_events_with_masses_in_kilograms(journey):
    document, _raw, _count = build(scope(journey))
    made = [event for event in events_of(document) if event["type"] == "TransformationEvent"]
    assert len(made) == 3  # the recycled lot and the two parts of its split
    recovered = next(event for event in made if event["bizStep"] == "commissioning")
    module_uri = f"{settings.PUBLIC_BASE_URL}/p/{MODULE}"
    assert recovered["inputEPCList"] == [module_uri]
    assert recovered["outputQuantityList"] == [
        {"epcClass": f"{settings.PUBLIC_BASE_URL}/lots/{journey['lot'].code}", "quantity": 70.0, "uom": "KGM"}
    ]
    recycled = next(event for event in events_of(document) if event["vt:eventType"] == "recycled")
    assert recovered["vt:inputs"] == [
        {"vt:id": module_uri, "vt:eventHash": recycled["vt:hash"], "vt:massKg": "80.000"}
    ]
    assert recovered["ilmd"] == {"vt:material": "black_mass"}
    parts = [event for event in made if event["bizStep"] == "repackaging"]
    lot_uri = f"{settings.PUBLIC_BASE_URL}/lots/{journey['lot'].code}"
    assert {json.dumps(event["inputQuantityList"]) for event in parts} == {
        json.dumps([{"epcClass": lot_uri, "quantity": 30.0, "uom": "KGM"}]),
        json.dumps([{"epcClass": lot_uri, "quantity": 40.0, "uom": "KGM"}]),
    }
    assert sorted(event["outputQuantityList"][0]["quantity"] for event in parts) == [30.0, 40.0]
    # One split, one transformation: its parts share the ID, which differs from the recycling's.
    assert parts[0]["transformationID"] == parts[1]["transformationID"] != recovered["transformationID"]
    split = next(event for event in events_of(document) if event["vt:eventType"] == "lot_split")
    assert split["quantityList"] == [{"epcClass": lot_uri, "quantity": 70.0, "uom": "KGM"}]
    assert (split["action"], split["bizStep"]) == ("DELETE", "repackaging")


def test_an_anonymised_report_names_no_battery_user_or_exact_time(journey):
    document, raw, count = build(scope(journey, anonymised=True))
    validate(document)
    assert count == 13
    text = raw.decode("utf-8")
    for code in (journey["pack"].code, MODULE, OTHER_MODULE):
        assert code not in text
    assert "13812345678" not in text
    assert "Zhang" not in text
    assert "vt:hash" not in text
    assert "vt:prevHash" not in text
    assert "vt:recordedBy" not in text
    from crossborder.scrub import pseudonym

    host = urlsplit(settings.PUBLIC_BASE_URL).hostname
    pack = f"tag:{host},2026:battery/{pseudonym(journey['pack'].code)}"
    assert [event["vt:seq"] for event in events_of(document) if event.get("epcList") == [pack]] == list(
        range(6)
    )
    for event in events_of(document):
        assert event["eventTime"].endswith("T00:00:00Z")
        assert event["recordTime"].endswith("T00:00:00Z")
        body = {key: value for key, value in event.items() if key != "eventID"}
        assert event["eventID"] == event_hash(body, document["@context"])
    graded = next(event for event in events_of(document) if event["vt:eventType"] == "graded")
    assert graded["vt:data"] == {"vt:grade": "C"}  # no method, no lab: only structured facts
    dismantled = next(event for event in events_of(document) if event["vt:eventType"] == "dismantled")
    assert dismantled["vt:data"] == {"vt:components": [pseudonym(MODULE)]}
    from crossborder import scanner

    assert not scanner.scan_text(text)


def test_a_gs1_battery_is_its_canonical_digital_link(oem_org, recycler_operator, recycler_site):
    from tests.factories import BatteryFactory

    battery = BatteryFactory(
        oem=oem_org,
        code="0109506000134352211A/2",
        scheme="gs1",
        gs1_gtin="09506000134352",
        gs1_serial="1A/2",
        current_custodian=recycler_site.organisation,
    )
    services.record_intake(by=recycler_operator, code=battery.code, facility=recycler_site)
    document, _raw, count = build(ReportContext(battery_ids=[battery.pk]))
    validate(document)
    assert count == 1
    assert events_of(document)[0]["epcList"] == ["https://id.gs1.org/01/09506000134352/21/1A%2F2"]


def test_the_date_range_keeps_events_from_its_start_up_to_its_end(journey):
    events = CustodyEvent.objects.filter(battery=journey["pack"])
    first, last = (
        min(events.values_list("occurred_at", flat=True)),
        max(events.values_list("occurred_at", flat=True)),
    )

    def seqs(**bounds: Any) -> list[int]:
        document, _raw, _count = build(ReportContext(battery_ids=[journey["pack"].pk], **bounds))
        return [event["vt:seq"] for event in events_of(document)]

    assert seqs(date_from=first, date_to=last + timedelta(seconds=1)) == list(range(6))
    assert seqs(date_from=last + timedelta(seconds=1)) == []
    assert seqs(date_to=first) == []  # the end is exclusive


def test_the_writer_streams_subject_by_subject_with_a_fixed_number_of_queries_per_batch(journey, monkeypatch):
    ctx = scope(journey)
    whole, _raw, _count = build(ctx)
    ticks: list[int] = []
    monkeypatch.setattr(epcis, "BATCH", 1)
    with CaptureQueriesContext(connection) as one_per_batch:
        small, _raw, _count = build(scope(journey, tick=ticks.append))
    assert [event["eventID"] for event in events_of(small)] == [
        event["eventID"] for event in events_of(whole)
    ]
    assert ticks == [1, 2, 3, 4, 5]  # one tick per subject: two batteries, three lots
    monkeypatch.setattr(epcis, "BATCH", 200)
    with CaptureQueriesContext(connection) as one_batch:
        build(ctx)
    # Two queries a batch (events, then the inputs they consumed), however many subjects it holds.
    assert len(one_batch.captured_queries) == 4  # a battery batch and a lot batch
    assert len(one_per_batch.captured_queries) == 10


def test_an_empty_scope_is_a_valid_document_without_events(db):
    document, _raw, count = build(ReportContext(battery_ids=[]))
    validate(document)
    assert count == 0
    assert events_of(document) == []
