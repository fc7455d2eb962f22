"""The offline bundle verifier: a valid bundle passes, tampering fails and is named, no Django needed."""

from __future__ import annotations

import ast
import base64
import copy
import json
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.canonical import CanonicalizationError, canonicalize_slow
from custody import verify
from custody.checkpoint import NoteSigner, format_checkpoint_body, format_note, sign_cosignature
from custody.verify import UNAUTHENTICATED, UNCOVERED, UnusableInput, parse_bundle, verify_bundle
from tests.custody.bundle_fixtures import (
    LOG_ORIGIN,
    SECOND_SITE_LICENCE,
    T0,
    BundleKit,
    build_bundle,
    ed25519_key,
    utc_text,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kit() -> BundleKit:
    return build_bundle(batteries=3, events_per_battery=7, lots=1, witnesses=2, cosigned_note=True)


@pytest.fixture
def fresh() -> BundleKit:
    return build_bundle(batteries=3, events_per_battery=7, lots=1, witnesses=1)


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "custody.verify", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def failure_of(kit: BundleKit, key: str | None = None) -> verify.Failure:
    report = verify_bundle(kit.bundle, key or kit.log_vkey)
    assert not report.ok, "the tampered bundle passed"
    assert report.failure is not None
    return report.failure


def event_position(kit: BundleKit, code_suffix: str, seq: int) -> int:
    for position, entry in enumerate(kit.events):
        body = entry["body"]
        if body["subject"]["code"].endswith(code_suffix) and body["seq"] == seq:
            return position
    raise LookupError((code_suffix, seq))


# Valid bundles


def test_verify_bundle_accepts_a_bundle_holding_every_leaf(kit: BundleKit) -> None:
    report = verify_bundle(kit.bundle, kit.log_vkey)
    assert report.ok, report.failure
    assert report.passed == ["checkpoint", "events", "inclusion", "inputs", "snapshots", "licences"]
    assert report.inclusion == "tree"
    assert report.tree_size == len(kit.events) == report.events
    assert report.subjects == 4
    assert [item.witness for item in report.cosignatures] == ["witness-0.test", "witness-1.test"]
    assert report.inputs_resolved == 3
    assert report.snapshots == 6
    assert report.snapshots_verified == 4
    assert len(report.snapshots_withheld) == 2
    assert report.licensed_events == sum(1 for entry in kit.events if entry["body"]["licence_id"] is not None)


def test_verify_bundle_checks_each_path_when_the_tree_has_leaves_outside_the_bundle() -> None:
    kit = build_bundle(foreign_leaves=7)
    report = verify_bundle(kit.bundle, kit.log_vkey)
    assert report.ok, report.failure
    assert report.inclusion == "proofs"
    assert report.tree_size == len(kit.events) + 7


@pytest.mark.parametrize(
    ("batteries", "events_per_battery", "lots"), [(1, 1, 0), (1, 2, 0), (2, 3, 0), (5, 7, 2)]
)
def test_verify_bundle_accepts_trees_of_every_shape(
    batteries: int, events_per_battery: int, lots: int
) -> None:
    kit = build_bundle(batteries=batteries, events_per_battery=events_per_battery, lots=lots)
    report = verify_bundle(kit.bundle, kit.log_vkey)
    assert report.ok, report.failure
    assert report.inclusion == "tree"


def test_verify_bundle_reports_withheld_payloads_without_failing(kit: BundleKit) -> None:
    report = verify_bundle(kit.bundle, kit.log_vkey)
    withheld = [item["payload_hash"] for item in kit.bundle["snapshots"] if item["payload"] is None]
    assert report.ok
    assert report.snapshots_withheld == withheld
    for position, item in enumerate(kit.bundle["snapshots"]):
        if item["payload"] is None:
            assert f"snapshots[{position}].signature" in report.uncovered
    assert "payload withheld: " + withheld[0] in report.summary()


def test_verify_bundle_accepts_the_log_key_as_pem(kit: BundleKit) -> None:
    assert verify_bundle(kit.bundle, kit.log_signer.verifier.public_key_pem()).ok


@pytest.mark.parametrize("foreign_leaves", [0, 1, 5])
def test_both_inclusion_checks_accept_every_leaf_of_trees_of_every_size(foreign_leaves: int) -> None:
    for events in range(1, 34):
        kit = build_bundle(batteries=events, events_per_battery=1, lots=0, foreign_leaves=foreign_leaves)
        report = verify_bundle(kit.bundle, kit.log_vkey)
        assert report.ok, (events, report.failure)
        assert report.inclusion == ("tree" if foreign_leaves == 0 else "proofs")


@pytest.mark.parametrize("foreign_leaves", [0, 5])
def test_both_inclusion_checks_name_the_event_whose_path_was_altered(foreign_leaves: int) -> None:
    rng = random.Random(foreign_leaves)
    for events in (2, 3, 7, 8, 9, 21):
        kit = build_bundle(batteries=events, events_per_battery=1, lots=0, foreign_leaves=foreign_leaves)
        position = rng.randrange(events)
        proof = kit.events[position]["inclusion_proof_b64"]
        number = rng.randrange(len(proof))
        proof[number] = base64.b64encode(bytes(32)).decode("ascii")
        failure = failure_of(kit)
        assert (failure.check, failure.path) == ("inclusion", f"events[{position}].inclusion_proof_b64"), (
            events
        )
        assert failure.event_hash == kit.events[position]["hash"]


def test_a_path_that_meets_a_proven_one_must_agree_with_it_above_the_meeting_point() -> None:
    kit = build_bundle(batteries=6, events_per_battery=3, lots=0, foreign_leaves=4)
    last = kit.events[-1]["inclusion_proof_b64"]
    last[-1] = base64.b64encode(bytes(range(32))).decode("ascii")
    failure = failure_of(kit)
    assert (failure.check, failure.path) == (
        "inclusion",
        f"events[{len(kit.events) - 1}].inclusion_proof_b64",
    )
    assert "does not prove leaf" in failure.message


def test_a_path_longer_or_shorter_than_the_tree_is_deep_is_refused() -> None:
    for foreign_leaves in (0, 3):
        kit = build_bundle(batteries=4, events_per_battery=2, lots=0, foreign_leaves=foreign_leaves)
        kit.events[2]["inclusion_proof_b64"].append(kit.events[2]["inclusion_proof_b64"][0])
        assert "longer than the tree is deep" in failure_of(kit).message
        kit.events[2]["inclusion_proof_b64"][-2:] = []
        assert "shorter than the tree is deep" in failure_of(kit).message


# RFC 8785 bytes of event bodies

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(body=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6))
@settings(max_examples=300, deadline=None)
def test_event_bytes_equal_the_reference_rfc8785_writer(body: dict[str, Any]) -> None:
    assert_like_the_reference_writer(body)


def assert_like_the_reference_writer(body: dict[Any, Any]) -> None:
    try:
        expected = canonicalize_slow(body)
    except CanonicalizationError:
        with pytest.raises(CanonicalizationError):
            verify._event_bytes(body)
        return
    assert verify._event_bytes(body) == expected


# The usual members with the usual kinds of value, and now and then any JSON value instead.
def mostly(strategy: Any) -> Any:
    return st.integers(min_value=0, max_value=9).flatmap(lambda draw: JSON_VALUES if draw == 0 else strategy)


INTEGERS = st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)  # JSON_VALUES adds unsafe ones
TEXTS = st.none() | st.text(max_size=12)
NAMES = st.integers(min_value=0, max_value=4).flatmap(
    lambda draw: st.text(max_size=6) if draw == 0 else st.text(alphabet="abcdefgh_", max_size=6)
)
USUAL_BODY = st.fixed_dictionaries(
    {
        **{name: mostly(INTEGERS) for name in ("v", "seq", "actor_id")},
        **{name: mostly(st.none() | INTEGERS) for name in ("facility_id", "licence_id")},
        **{
            name: mostly(TEXTS | st.booleans())
            for name in (
                "type",
                "prev_hash",
                "occurred_at",
                "recorded_at",
                "actor",
                "activity",
                "licence_status",
            )
        },
        "subject": st.fixed_dictionaries({"kind": mostly(TEXTS), "code": mostly(TEXTS)}),
        "snapshots": st.lists(mostly(TEXTS), max_size=3),
        "inputs": st.lists(mostly(st.dictionaries(NAMES, mostly(TEXTS), max_size=3)), max_size=2),
        "data": st.dictionaries(NAMES, mostly(TEXTS), max_size=4),
    }
)


@given(body=USUAL_BODY)
@settings(max_examples=400, deadline=None)
def test_event_bytes_of_bodies_with_the_usual_members_equal_the_reference_writer(
    body: dict[str, Any],
) -> None:
    """The shortcut for the usual members checks their values field by field: any value at all there."""
    assert_like_the_reference_writer(body)


@pytest.mark.parametrize(
    "body",
    [
        {"é": 1, "z": 2, "a": {"\U0001f600": 1, "\uffff": 2}},
        {"mass": 22.0, "ratio": 1e-05, "big": 2**53 - 1},
        {"tuple": (1, 2), "nested": [[{"b": True, "a": None}]]},
        {"text": 'line\nbreak \u2028 \x7f \u00e9 "quoted" \\'},
    ],
)
def test_event_bytes_handle_what_the_shortcut_leaves_to_canonicalize(body: dict[str, Any]) -> None:
    assert verify._event_bytes(body) == canonicalize_slow(body)


@pytest.mark.parametrize(
    "body", [{"n": 2**53}, {"s": "\ud800"}, {1: "not a string key"}, {"d": Decimal("1.5")}]
)
def test_event_bytes_refuse_what_has_no_rfc8785_form(body: dict[Any, Any]) -> None:
    with pytest.raises(CanonicalizationError):
        verify._event_bytes(body)


def test_an_event_body_without_an_rfc8785_form_is_named(fresh: BundleKit) -> None:
    fresh.events[2]["body"]["data"]["mass_kg"] = 2**60
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("event_hash", "events[2].body.data.mass_kg")


# Command line


def test_cli_prints_a_summary_and_exits_zero_for_a_valid_bundle(kit: BundleKit, tmp_path: Path) -> None:
    path = kit.write(tmp_path / "bundle.json")
    key_file = tmp_path / "log.vkey"
    key_file.write_text(kit.log_vkey + "\n")
    result = run_cli(str(path), "--log-key", str(key_file))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"tree size {len(kit.events)}" in out
    assert kit.bundle["checkpoint"]["root_hash_b64"] in out
    assert "cosignatures  2 verified: witness-0.test" in out
    assert f"events        {len(kit.events)} in 4 subjects" in out
    assert "payloads withheld" in out
    assert "licences      2 checked" in out
    assert out.rstrip().endswith("PASS: every check passed.")


def test_cli_accepts_the_log_key_inline_or_as_a_pem_file(kit: BundleKit, tmp_path: Path) -> None:
    path = kit.write(tmp_path / "bundle.json")
    pem = tmp_path / "log.pem"
    pem.write_text(kit.log_signer.verifier.public_key_pem())
    assert run_cli(str(path), "--log-key", kit.log_vkey).returncode == 0
    assert run_cli(str(path), "--log-key", str(pem)).returncode == 0


def test_cli_json_output_is_machine_readable(kit: BundleKit, tmp_path: Path) -> None:
    path = kit.write(tmp_path / "bundle.json")
    result = run_cli(str(path), "--log-key", kit.log_vkey, "--json")
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["failure"] is None
    assert document["tree_size"] == len(kit.events)
    assert document["cosignatures"][0]["witness"] == "witness-0.test"
    assert set(document["timings"]) == {
        "checkpoint",
        "events",
        "inclusion",
        "inputs",
        "snapshots",
        "licences",
    }


def test_cli_names_the_first_failure_and_exits_one(fresh: BundleKit, tmp_path: Path) -> None:
    position = event_position(fresh, "00000001", 2)
    fresh.events[position]["body"]["data"]["grade"] = "A"
    path = fresh.write(tmp_path / "bundle.json")
    result = run_cli(str(path), "--log-key", fresh.log_vkey)
    assert result.returncode == 1
    digest = fresh.events[position]["hash"]
    assert f"FAIL [event_hash] events[{position}].hash (event {digest})" in result.stdout
    as_json = json.loads(run_cli(str(path), "--log-key", fresh.log_vkey, "--json").stdout)
    assert as_json["failure"]["check"] == "event_hash"
    assert as_json["failure"]["event_hash"] == digest
    assert as_json["failure"]["path"] == f"events[{position}].hash"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, "UNREADABLE"),
        (b"{not json", "NOT_JSON"),
        (b'{"format": "voltrace.custody-bundle/1", "format": "x"}', "NOT_JSON"),
        (b"[1, 2]", "NOT_A_BUNDLE"),
        (b'{"format": "voltrace.custody-bundle/2"}', "WRONG_FORMAT"),
        (b"\xff\xfe", "NOT_JSON"),
    ],
)
def test_cli_exits_two_on_unusable_input(
    kit: BundleKit, tmp_path: Path, content: bytes | None, code: str
) -> None:
    path = tmp_path / "bundle.json"
    if content is not None:
        path.write_bytes(content)
    result = run_cli(str(path), "--log-key", kit.log_vkey)
    assert result.returncode == 2
    assert f"UNUSABLE INPUT [{code}]" in result.stderr
    as_json = json.loads(run_cli(str(path), "--log-key", kit.log_vkey, "--json").stdout)
    assert as_json["error"]["code"] == code


def test_cli_exits_two_on_an_unusable_log_key(kit: BundleKit, tmp_path: Path) -> None:
    path = kit.write(tmp_path / "bundle.json")
    result = run_cli(str(path), "--log-key", "not-a-key")
    assert result.returncode == 2
    assert "BAD_LOG_KEY" in result.stderr


# Standalone: no Django, nothing but the standard library and cryptography

ALLOWED_FIRST_PARTY = {"core.canonical", "core.signing", "custody.merkle", "custody.checkpoint"}


def test_verify_module_imports_only_the_standard_library_cryptography_and_the_pure_modules() -> None:
    tree = ast.parse((REPO / "custody" / "verify.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    third_party = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    assert {name for name in third_party if name.split(".")[0] != "cryptography"} <= ALLOWED_FIRST_PARTY
    assert (REPO / "custody" / "__init__.py").read_text() == ""


def test_verifier_runs_in_a_process_where_django_cannot_be_imported(kit: BundleKit, tmp_path: Path) -> None:
    path = kit.write(tmp_path / "bundle.json")
    script = f"""
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("django", "rest_framework", "nacl", "config"):
            raise ImportError("blocked for this test: " + name)
        return None
sys.meta_path.insert(0, Refuse())
from custody.verify import main
status = main([{str(path)!r}, "--log-key", {kit.log_vkey!r}])
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("django", "rest_framework", "nacl"))
assert not loaded, loaded
first_party = sorted(
    name for name in sys.modules
    if name.split(".")[0] in ("core", "custody", "accounts", "passport", "licensing")
)
print("MODULES", first_party)
sys.exit(status)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS: every check passed." in result.stdout
    modules = result.stdout.split("MODULES ", 1)[1]
    assert set(ast.literal_eval(modules.strip())) == {
        "core",
        "core.canonical",
        "core.signing",
        "custody",
        "custody.checkpoint",
        "custody.merkle",
        "custody.verify",
    }


# Targeted tampering


def test_a_removed_event_breaks_its_chain(fresh: BundleKit) -> None:
    position = event_position(fresh, "00000000", 2)
    del fresh.events[position]
    failure = failure_of(fresh)
    following = event_position(fresh, "00000000", 3)
    assert failure.check == "chain"
    assert failure.path == f"events[{following}].body.seq"
    assert failure.event_hash == fresh.events[following]["hash"]
    assert "not contiguous" in failure.message


def test_reordered_events_break_the_chain(fresh: BundleKit) -> None:
    first, second = event_position(fresh, "00000001", 1), event_position(fresh, "00000001", 2)
    fresh.events[first], fresh.events[second] = fresh.events[second], fresh.events[first]
    failure = failure_of(fresh)
    assert failure.check == "chain"
    assert failure.path == f"events[{first}].body.seq"


def test_a_swapped_prev_hash_breaks_the_event_hash(fresh: BundleKit) -> None:
    first, second = event_position(fresh, "00000002", 3), event_position(fresh, "00000002", 4)
    one, two = fresh.events[first]["body"], fresh.events[second]["body"]
    one["prev_hash"], two["prev_hash"] = two["prev_hash"], one["prev_hash"]
    failure = failure_of(fresh)
    assert failure.check == "event_hash"
    assert failure.path == f"events[{first}].hash"


def test_a_swapped_prev_hash_is_caught_even_when_the_log_signed_it(fresh: BundleKit) -> None:
    first, second = event_position(fresh, "00000002", 3), event_position(fresh, "00000002", 4)
    one, two = fresh.events[first]["body"], fresh.events[second]["body"]
    one["prev_hash"], two["prev_hash"] = two["prev_hash"], one["prev_hash"]
    fresh.reseal()
    failure = failure_of(fresh)
    assert failure.check == "chain"
    assert failure.path == f"events[{first}].body.prev_hash"
    assert failure.event_hash == fresh.events[first]["hash"]


def test_a_wrong_tree_size_beside_the_note_is_refused(fresh: BundleKit) -> None:
    fresh.bundle["checkpoint"]["tree_size"] += 1
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("checkpoint", "checkpoint.tree_size")


def test_a_signed_checkpoint_with_a_wrong_tree_size_fails_the_inclusion_proofs(fresh: BundleKit) -> None:
    checkpoint = fresh.bundle["checkpoint"]
    size = checkpoint["tree_size"] + 1
    root = base64.b64decode(checkpoint["root_hash_b64"])
    body = format_checkpoint_body(LOG_ORIGIN, size, root)
    checkpoint.update(
        note=format_note(body, [fresh.log_signer.sign_line(body)]), tree_size=size, cosignatures=[]
    )
    failure = failure_of(fresh)
    # Paths inside the left complete subtree do not depend on the size; the last leaf's path does.
    last = max(range(len(fresh.events)), key=lambda position: fresh.events[position]["leaf_index"])
    assert failure.check == "inclusion"
    assert failure.path == f"events[{last}].inclusion_proof_b64"


def test_a_checkpoint_signed_by_another_key_is_refused(fresh: BundleKit) -> None:
    genuine = fresh.log_vkey
    fresh.log_signer = NoteSigner(LOG_ORIGIN, ed25519_key(99, "impostor"))
    fresh.reseal()
    failure = failure_of(fresh, genuine)
    assert (failure.check, failure.path) == ("checkpoint", "log.vkey")
    fresh.bundle["log"]["vkey"] = genuine  # claim the genuine key, keep the impostor's signature
    failure = failure_of(fresh, genuine)
    assert (failure.check, failure.path) == ("checkpoint", "checkpoint.note")
    assert "does not verify" in failure.message


def test_a_cosignature_over_another_checkpoint_is_refused(fresh: BundleKit) -> None:
    name, private = fresh.witnesses[0]
    other = format_checkpoint_body(LOG_ORIGIN, 1, bytes(32))
    fresh.bundle["checkpoint"]["cosignatures"][0]["line"] = sign_cosignature(
        name=name, private_key=private, body=other, timestamp=1_790_000_000
    )
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("cosignature", "checkpoint.cosignatures[0].line")


def test_a_note_line_from_an_unlisted_witness_is_refused(fresh: BundleKit) -> None:
    checkpoint = fresh.bundle["checkpoint"]
    body = checkpoint["note"].split("\n\n")[0] + "\n"
    stranger = sign_cosignature(
        name="stranger.test", private_key=ed25519_key(5, "stranger"), body=body, timestamp=1_790_000_000
    )
    checkpoint["note"] += stranger + "\n"
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("checkpoint", "checkpoint.note")
    assert "stranger.test" in failure.message


def test_a_proof_element_with_flipped_padding_bits_is_refused() -> None:
    for kit in (build_bundle(), build_bundle(foreign_leaves=3)):
        proof = kit.events[4]["inclusion_proof_b64"]
        element = proof[1]
        # 32 bytes use 2 of the last character's 6 bits as padding: base64 still decodes to the same hash.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        proof[1] = element[:-2] + alphabet[alphabet.index(element[-2]) ^ 1] + "="
        assert base64.b64decode(proof[1]) == base64.b64decode(element)
        failure = failure_of(kit)
        assert (failure.check, failure.path) == ("inclusion", "events[4].inclusion_proof_b64[1]")
        assert "canonical" in failure.message


def test_a_tampered_proof_is_named_in_both_inclusion_modes() -> None:
    for kit in (build_bundle(), build_bundle(foreign_leaves=3)):
        proof = kit.events[6]["inclusion_proof_b64"]
        proof[0], proof[1] = proof[1], proof[0]
        failure = failure_of(kit)
        assert (failure.check, failure.path) == ("inclusion", "events[6].inclusion_proof_b64")
        assert failure.event_hash == kit.events[6]["hash"]


def test_a_device_key_revoked_before_a_capture_is_refused(fresh: BundleKit) -> None:
    snapshot = next(item for item in fresh.bundle["snapshots"] if item["payload"] is not None)
    position = next(
        index
        for index, key in enumerate(fresh.bundle["keys"])
        if key["key_id"] == snapshot["signature"]["key_id"]
    )
    fresh.bundle["keys"][position]["revocations"] = [
        {"effective_at": utc_text(T0 - timedelta(days=1)), "reason": "compromised"}
    ]
    failure = failure_of(fresh)
    assert failure.check == "snapshot"
    assert failure.path == f"keys[{position}].revocations[0].effective_at"
    assert failure.key_id == snapshot["signature"]["key_id"]
    assert failure.snapshot == snapshot["payload_hash"]
    assert "revoked" in failure.message


def test_a_licence_interval_that_does_not_cover_an_event_is_refused(fresh: BundleKit) -> None:
    licence = next(item for item in fresh.bundle["licences"] if item["id"] == SECOND_SITE_LICENCE)
    licence["intervals"][0]["from"] = utc_text(T0 + timedelta(days=30))
    first = next(
        index
        for index, entry in enumerate(fresh.events)
        if entry["body"]["licence_id"] == SECOND_SITE_LICENCE
    )
    failure = failure_of(fresh)
    assert failure.check == "licence"
    assert failure.path == f"events[{first}].body.occurred_at"
    assert failure.licence_id == SECOND_SITE_LICENCE
    assert failure.event_hash == fresh.events[first]["hash"]


def test_a_licence_status_that_disagrees_with_the_licence_is_refused(fresh: BundleKit) -> None:
    position = event_position(fresh, "00000000", 1)
    fresh.events[position]["body"]["licence_status"] = "suspended"
    fresh.reseal(relink=True)
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("licence", f"events[{position}].body.licence_status")


def test_an_unlicensed_step_is_refused(fresh: BundleKit) -> None:
    position = event_position(fresh, "00000001", 1)
    fresh.events[position]["body"].update(licence_id=None, licence_status=None)
    fresh.reseal(relink=True)
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("licence", f"events[{position}].body.licence_id")


def test_a_missing_snapshot_is_named_with_the_event_that_needs_it(fresh: BundleKit) -> None:
    removed = fresh.bundle["snapshots"].pop(0)
    position = next(
        index
        for index, entry in enumerate(fresh.events)
        if removed["payload_hash"] in entry["body"]["snapshots"]
    )
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("snapshot", f"events[{position}].body.snapshots[0]")
    assert failure.snapshot == removed["payload_hash"]


def test_an_altered_payload_fails_its_hash(fresh: BundleKit) -> None:
    position = next(
        index for index, item in enumerate(fresh.bundle["snapshots"]) if item["payload"] is not None
    )
    fresh.bundle["snapshots"][position]["payload"]["soh_pct"] = 99.0
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("snapshot", f"snapshots[{position}].payload_hash")


def test_an_input_naming_the_wrong_subject_is_refused(fresh: BundleKit) -> None:
    position = next(index for index, entry in enumerate(fresh.events) if entry["body"]["inputs"])
    fresh.events[position]["body"]["inputs"][0]["code"] = "SOMETHING-ELSE"
    fresh.reseal(relink=True)
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("inputs", f"events[{position}].body.inputs[0]")


def test_a_repeated_event_is_refused(fresh: BundleKit) -> None:
    fresh.events.append(copy.deepcopy(fresh.events[0]))
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("event_hash", f"events[{len(fresh.events) - 1}]")


def test_an_unknown_field_is_refused(fresh: BundleKit) -> None:
    fresh.events[3]["comment"] = "added later"
    failure = failure_of(fresh)
    assert (failure.check, failure.path) == ("event_hash", "events[3].comment")


def test_a_bundle_of_another_format_is_unusable(fresh: BundleKit) -> None:
    fresh.bundle["format"] = "voltrace.custody-bundle/0"
    with pytest.raises(UnusableInput) as raised:
        verify_bundle(fresh.bundle, fresh.log_vkey)
    assert raised.value.code == "WRONG_FORMAT"


# Flipping bytes of the bundle file

Span = tuple[int, int, str, str]  # start, end, JSON path, "container" | "key" | "value"


def json_spans(raw: bytes) -> list[Span]:
    """Every container, member name and scalar of a JSON document with its byte range and path."""
    spans: list[Span] = []
    whitespace = b" \t\r\n"

    def skip(at: int) -> int:
        while at < len(raw) and raw[at] in whitespace:
            at += 1
        return at

    def string_end(at: int) -> int:
        at += 1
        while raw[at] != 0x22:
            at += 2 if raw[at] == 0x5C else 1
        return at + 1

    def value(at: int, path: str) -> int:
        at = skip(at)
        start = at
        if raw[at] == 0x7B:  # {
            at = skip(at + 1)
            while raw[at] != 0x7D:
                key_end = string_end(at)
                name = json.loads(raw[at:key_end])
                member = f"{path}.{name}" if path else name
                spans.append((at, key_end, member, "key"))
                at = skip(key_end) + 1  # the colon
                at = skip(value(at, member))
                if raw[at] == 0x2C:
                    at = skip(at + 1)
            spans.append((start, at + 1, path, "container"))
            return at + 1
        if raw[at] == 0x5B:  # [
            at = skip(at + 1)
            index = 0
            while raw[at] != 0x5D:
                at = skip(value(at, f"{path}[{index}]"))
                index += 1
                if raw[at] == 0x2C:
                    at = skip(at + 1)
            spans.append((start, at + 1, path, "container"))
            return at + 1
        if raw[at] == 0x22:
            at = string_end(at)
        else:
            while at < len(raw) and raw[at] not in b",]} \t\r\n":
                at += 1
        spans.append((start, at, path, "value"))
        return at

    value(0, "")
    return spans


@dataclass(frozen=True)
class Position:
    offset: int
    path: str  # the innermost value, member name or container holding the byte
    kind: str


def positions_of(raw: bytes) -> list[Position]:
    owner: list[tuple[str, str]] = [("", "container")] * len(raw)
    # Containers are listed after their contents, so paint them first and by size, largest first.
    spans = json_spans(raw)
    for start, end, path, kind in sorted(
        (span for span in spans if span[3] == "container"), key=lambda span: span[0] - span[1]
    ):
        owner[start:end] = [(path, kind)] * (end - start)
    for start, end, path, kind in spans:
        if kind != "container":
            owner[start:end] = [(path, kind)] * (end - start)
    return [Position(offset, path, kind) for offset, (path, kind) in enumerate(owner)]


def pattern(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(path).replace(r"\[\*\]", r"\[[0-9]+\]") + r"(?=$|[.\[])")


def excluded(position: Position, uncovered: list[re.Pattern[str]]) -> bool:
    """Whether the byte lies inside content the verifier declares uncovered or unauthenticated.

    The name of a member is itself covered (renaming a field fails the strict schema), unless the member
    sits inside an uncovered value; a value or container is excluded when its own path is uncovered.
    """
    path = position.path
    if position.kind == "key":
        path = path.rsplit(".", 1)[0] if "." in path else ""
    return any(rule.match(path) for rule in uncovered)


SECTION_CHECKS = {
    "log": {"checkpoint"},
    "checkpoint": {"checkpoint", "cosignature"},
    "snapshots": {"snapshot"},
    "keys": {"key", "snapshot"},
    "licences": {"licence"},
}


def flipped_outcome(raw: bytes, offset: int, mask: int, log_vkey: str) -> tuple[bytes, str, Any]:
    mutated = bytearray(raw)
    mutated[offset] ^= mask
    try:
        report = verify_bundle(parse_bundle(bytes(mutated)), log_vkey)
    except UnusableInput as unusable:
        return bytes(mutated), "unusable", unusable
    return bytes(mutated), "report", report


def test_flipping_any_covered_byte_of_the_bundle_file_fails_and_is_named() -> None:
    """Sampled single-byte flips across the whole file; each either changes nothing or is caught.

    Rule for what is sampled but not asserted to fail: (1) a flip after which the file parses to the
    same JSON value (whitespace between tokens turned into other whitespace) is neutral, and the verifier
    must still pass; (2) a flip inside a value the verifier declares uncovered or unauthenticated
    (`verify.UNCOVERED`, `verify.UNAUTHENTICATED` and the report's concrete paths, such as the unsigned
    metadata of withheld snapshots) is skipped. Every other flip must fail with exit status 1 or 2
    semantics and name what failed.
    """
    kit = build_bundle(
        batteries=3, events_per_battery=7, lots=1, witnesses=2, cosigned_note=True, foreign_leaves=0
    )
    raw = kit.dumps()
    original = json.loads(raw)
    baseline = verify_bundle(parse_bundle(raw), kit.log_vkey)
    assert baseline.ok
    uncovered = [pattern(path) for path in (*UNCOVERED, *UNAUTHENTICATED, *baseline.uncovered)]
    positions = positions_of(raw)
    rng = random.Random(20261125)
    # A spread over the whole file plus a few bytes inside each kind of covered field.
    chosen = set(rng.sample(range(len(raw)), 1500))
    for region in (
        r"events\[\d+\]\.hash",
        r"events\[\d+\]\.leaf_index",
        r"events\[\d+\]\.inclusion_proof_b64\[\d+\]",
        r"events\[\d+\]\.body\..*",
        r"checkpoint\.note",
        r"checkpoint\.(tree_size|root_hash_b64)",
        r"checkpoint\.cosignatures\[\d+\]\.(line|vkey|witness)",
        r"log\.(vkey|origin)",
        r"snapshots\[\d+\]\.(payload_hash|payload\..*)",
        r"snapshots\[\d+\]\.signature\.(value|key_id|alg)",
        r"keys\[\d+\]\.(key_id|public_key_pem|algorithm)",
        r"licences\[\d+\]\.(id|facility_id)",
        r"format",
    ):
        inside = [
            item.offset for item in positions if item.kind == "value" and re.fullmatch(region, item.path)
        ]
        assert inside, region
        chosen.update(rng.sample(inside, min(12, len(inside))))
    asserted = neutral = skipped = 0
    for offset in sorted(chosen):
        position = positions[offset]
        masks = [0x01, 0x20, rng.randrange(1, 256)]
        if raw[offset] in b" \n":
            masks.append(
                raw[offset] ^ (0x09 if raw[offset] == 0x20 else 0x0D)
            )  # to a tab or a carriage return
        for mask in masks:
            mutated, kind, outcome = flipped_outcome(raw, offset, mask, kit.log_vkey)
            try:
                same = json.loads(mutated) == original
            except (ValueError, UnicodeDecodeError):
                same = False
            if same:
                neutral += 1
                assert kind == "report", (offset, mask, outcome)
                assert outcome.ok, (offset, mask, outcome.failure)
                continue
            if excluded(position, uncovered):
                skipped += 1
                continue
            asserted += 1
            where = f"byte {offset} ({position.path}, {position.kind}) ^ {mask:#04x}"
            if kind == "unusable":
                assert outcome.code in {"NOT_JSON", "WRONG_FORMAT", "NOT_A_BUNDLE"}, where
                assert outcome.message, where
                continue
            assert not outcome.ok, f"{where} was not detected"
            failure = outcome.failure
            assert failure.check, where
            assert failure.path, where
            assert failure.message, where
            section = re.match(r"[a-z_]+", position.path or "format")
            section_name = section.group(0) if section else ""
            described = failure.describe()
            if section_name == "events":
                index = re.match(r"events\[(\d+)\]", position.path)
                if index is not None:
                    number = int(index.group(1))
                    named = f"events[{number}]" in described or kit.events[number]["hash"] in described
                    assert named, f"{where}: {described}"
            elif section_name in SECTION_CHECKS and position.kind != "key":
                assert failure.check in SECTION_CHECKS[section_name] | {"bundle"}, f"{where}: {described}"
    assert asserted > 3000
    assert neutral > 0
    assert skipped < asserted


def test_the_exclusion_rule_leaves_every_kind_of_signed_field_in_the_sample() -> None:
    kit = build_bundle(batteries=2, events_per_battery=3, lots=0)
    raw = kit.dumps()
    report = verify_bundle(parse_bundle(raw), kit.log_vkey)
    uncovered = [pattern(path) for path in (*UNCOVERED, *UNAUTHENTICATED, *report.uncovered)]
    covered_paths = {
        position.path
        for position in positions_of(raw)
        if position.kind == "value" and not excluded(position, uncovered)
    }
    assert "checkpoint.note" in covered_paths
    assert "events[0].body.prev_hash" in covered_paths
    assert "keys[0].public_key_pem" in covered_paths
    assert "licences[0].id" in covered_paths
    assert not any(path.startswith(("scope", "generated_at")) for path in covered_paths)
    assert not any(".intervals" in path or ".valid_from" in path for path in covered_paths)


def test_cli_exit_status_for_flipped_bytes(kit: BundleKit, tmp_path: Path) -> None:
    raw = kit.dumps()
    text = raw.decode("utf-8")
    path = tmp_path / "bundle.json"
    # A digit of a hash: exit 1, naming the event; the bracket of the events array: exit 2.
    digest = kit.events[2]["hash"]
    offset = len(text[: text.index(digest)].encode("utf-8")) + 10
    mutated = bytearray(raw)
    mutated[offset] ^= 0x01
    path.write_bytes(bytes(mutated))
    result = run_cli(str(path), "--log-key", kit.log_vkey)
    assert result.returncode == 1
    assert "FAIL [event_hash] events[2].hash" in result.stdout
    offset = text.index('"events": [') + len('"events": ')
    mutated = bytearray(raw)
    mutated[offset] ^= 0x01
    path.write_bytes(bytes(mutated))
    result = run_cli(str(path), "--log-key", kit.log_vkey)
    assert result.returncode == 2
    assert "NOT_JSON" in result.stderr
