"""The CBV 2.0 EPCIS event hash reproduces the reference implementation's published vectors
(../shared/refdata/epcis-event-hash), and does not depend on how an event happens to be written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from reports.formats.epcis_hash import canonical_digital_link, event_hash, normal_time, pre_hash

EXAMPLES = (
    Path(__file__).resolve().parents[3] / "shared" / "refdata" / "epcis-event-hash" / "tests" / "examples"
)

# Vectors left out, and why. Every other file with expected hashes is tested, event by event.
SKIPPED = {
    # XML documents without a JSON-LD twin: Voltrace writes EPCIS as JSON-LD only, so it parses no XML.
    "SensorDataExamples.xml": "XML input only",
    "epcisDocWith2DifferentTransformationEvents.xml": "XML input only",
    "epcisDocWithTransformationEventWithExtension.xml": "XML input only",
    "epcisDocWithTransformationEventWithMultipleExtensions.xml": "XML input only",
    "epcisXmlDocHavingEventWithIgnoreFields.xml": "XML input only (its JSON-LD twin is tested)",
    "epcisXmlQueryDocHavingEventWithIgnoreFields.xml": "XML input only (its JSON-LD twin is tested)",
    # A pre-hash string with neither an input document nor an expected hash: nothing to reproduce.
    "epcisDocHavingTooManyUserExtensions.prehashes": "no input and no expected hash",
}
# .prehashes lines that are garbled in the reference repository (their SHA-256 is not the expected
# hash): for these events only the hash is compared.
GARBLED_PREHASHES = {
    ("epcisDocWithAllGS1Keys", 0),
    ("epcisDocWithCustomSchemaInContext", 1),
    ("epcisDocWithDefaultSchemaInContext", 1),
}
IGNORE_FIELDS = "repository-x:ignoreFields"  # the reference's convention for fields a repository added


def _events(document: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    body = document["epcisBody"]
    ignore = document.get(IGNORE_FIELDS, [])
    if "queryResults" in body:
        results = body["queryResults"]
        ignore = results.get(IGNORE_FIELDS, ignore)
        return results["resultsBody"]["eventList"], ignore
    return body["eventList"], ignore


def _vectors() -> list[Any]:
    cases = []
    for path in sorted(EXAMPLES.glob("*.jsonld")):
        document = json.loads(path.read_text(encoding="utf-8"))
        events, ignore = _events(document)
        hashes = path.with_suffix(".hashes").read_text(encoding="utf-8").splitlines()
        prehash_file = path.with_suffix(".prehashes")
        prehashes = prehash_file.read_text(encoding="utf-8").splitlines() if prehash_file.exists() else []
        assert len(events) == len(hashes), path.name
        for index, (event, expected) in enumerate(zip(events, hashes, strict=True)):
            garbled = (path.stem, index) in GARBLED_PREHASHES or index >= len(prehashes)
            cases.append(
                pytest.param(
                    event,
                    document["@context"],
                    ignore,
                    expected,
                    None if garbled else prehashes[index],
                    id=f"{path.stem}[{index}]",
                )
            )
    return cases


VECTORS = _vectors()


def test_every_vector_is_tested_or_listed_as_skipped():
    tested = {path.stem for path in EXAMPLES.glob("*.jsonld")}
    expected = {path.stem for path in EXAMPLES.iterdir() if path.suffix in {".hashes", ".prehashes"}}
    assert expected - tested == {Path(name).stem for name in SKIPPED}
    assert len(VECTORS) == 43


@pytest.mark.parametrize(("event", "context", "ignore", "expected", "prehash"), VECTORS)
def test_the_reference_vectors_are_reproduced(event, context, ignore, expected, prehash):
    if prehash is not None:
        assert hashlib.sha256(prehash.encode()).hexdigest() in expected  # the vector is consistent
        assert pre_hash(event, context, ignore=ignore) == prehash
    assert event_hash(event, context, ignore=ignore) == expected


EVENT = {
    "type": "ObjectEvent",
    "eventTime": "2026-03-02T16:00:00+08:00",
    "eventTimeZoneOffset": "+08:00",
    "epcList": ["urn:epc:id:sgtin:4012345.011111.9876", "https://passport.test/p/HNCPBAB1234567T2M0000001"],
    "action": "OBSERVE",
    "bizStep": "receiving",
    "disposition": "in_progress",
    "readPoint": {"id": "https://passport.test/facilities/3/"},
    "vt:seq": 1,
    "vt:licence": {"vt:number": "GZ-2025-0042", "vt:status": "active"},
}
CONTEXT = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"vt": "https://passport.test/ns/epcis/"},
]


def test_the_hash_does_not_depend_on_how_the_event_is_written():
    reference = event_hash(EVENT, CONTEXT)
    rewritten = {
        **{key: EVENT[key] for key in reversed(list(EVENT))},
        "eventTime": "2026-03-02T08:00:00.000Z",
        "epcList": [
            "https://passport.test/p/HNCPBAB1234567T2M0000001",
            "https://id.gs1.org/01/04012345111118/21/9876",
        ],
        "bizStep": "https://ref.gs1.org/cbv/BizStep-receiving",
        "disposition": "urn:epcglobal:cbv:disp:in_progress",
    }
    renamed = {key.replace("vt:", "voltrace:"): value for key, value in EVENT.items()}
    renamed["voltrace:licence"] = {"voltrace:number": "GZ-2025-0042", "voltrace:status": "active"}
    assert event_hash(rewritten, CONTEXT) == reference
    assert event_hash(renamed, [CONTEXT[0], {"voltrace": "https://passport.test/ns/epcis/"}]) == reference
    assert (
        event_hash({**EVENT, "eventID": "urn:uuid:x", "recordTime": "2026-03-03T00:00:00Z"}, CONTEXT)
        == reference
    )


@pytest.mark.parametrize(
    "change",
    [
        {"eventTime": "2026-03-02T16:00:01+08:00"},
        {"bizStep": "inspecting"},
        {"vt:seq": 2},
        {"vt:licence": {"vt:number": "GZ-2025-0042", "vt:status": "suspended"}},
        {"readPoint": {"id": "https://passport.test/facilities/4/"}},
    ],
)
def test_any_change_of_what_happened_changes_the_hash(change):
    assert event_hash({**EVENT, **change}, CONTEXT) != event_hash(EVENT, CONTEXT)


def test_values_are_normalised_as_the_standard_requires():
    assert normal_time("2023-02-02T11:04:03.1415Z") == "2023-02-02T11:04:03.142Z"
    assert normal_time("2019-10-21T00:05:00-06:00") == "2019-10-21T06:05:00.000Z"
    assert normal_time("2026-01-01T23:59:59.9996+00:00") == "2026-01-02T00:00:00.000Z"
    assert canonical_digital_link("urn:epc:id:sgln:4012345.00005.0") == "https://id.gs1.org/414/4012345000054"
    assert canonical_digital_link("https://example.com/gtin/9780345418913/ser/7?x=1") == (
        "https://id.gs1.org/01/09780345418913/21/7"
    )
    assert canonical_digital_link("https://passport.test/p/HNCPBAB1234567T2M0000001") is None
    assert pre_hash({"type": "ObjectEvent", "quantityList": [{"epcClass": "x:y", "quantity": 452.0}]}) == (
        "eventType=ObjectEventquantityListquantityElementepcClass=x:yquantity=452"
    )
