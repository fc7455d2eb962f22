from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from passport import attributes

REFDATA = Path(__file__).resolve().parents[3] / "shared" / "refdata"
TIERS = {
    "Public": attributes.PUBLIC,
    "persons with a legitimate interest": attributes.LEGITIMATE_INTEREST,
    "persons with a legitimate interest and the Commission": attributes.LEGITIMATE_INTEREST,
    "Notified bodies, market surveillance authorities and the Commission": attributes.AUTHORITY,
}


def _csv_rows() -> list[dict[str, str]]:
    path = REFDATA / "batterypass-datamodel/derived/attribute_access_rights_v1.2.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _battery_pass_properties() -> set[str]:
    names: set[str] = set()
    for ttl in (REFDATA / "batterypass-datamodel/BatteryPass").rglob("*.ttl"):
        raw = ttl.read_bytes()
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8")
        names.update(re.findall(r"^:(\w+) a samm:Property", text, re.MULTILINE))
    return names


def test_access_rights_table_matches_the_battery_pass_csv():
    rows = _csv_rows()
    assert len(attributes.ACCESS_RIGHTS) == len(rows) == 93
    for row, committed in zip(rows, attributes.ACCESS_RIGHTS, strict=True):
        assert committed.number == int(row["no"])
        assert committed.chapter == row["din_dke_99100_chapter"]
        assert committed.attribute == row["attribute"]
        assert committed.access_group == row["access_rights"]
        assert committed.tier == TIERS[row["access_rights"]], row["attribute"]


def test_access_rights_names_are_battery_pass_properties():
    properties = _battery_pass_properties()
    for row in attributes.ACCESS_RIGHTS:
        assert row.name.split(".", 1)[0] in properties, row.name
    assert len({row.name for row in attributes.ACCESS_RIGHTS}) == len(attributes.ACCESS_RIGHTS)


def test_served_attributes_take_their_tier_from_the_table_where_it_names_them():
    by_name = attributes.ACCESS_RIGHTS_BY_NAME
    for attribute in attributes.SERVED:
        if attribute.is_extension:
            assert attribute.extension_tier in attributes.TIER_ORDER, attribute.name
        else:
            assert attribute.tier == by_name[attribute.name].tier
            assert not attribute.extension_tier, f"{attribute.name} must not override the table's tier"
    assert attributes.SERVED_BY_NAME["expectedLifetime"].tier == attributes.LEGITIMATE_INTEREST
    assert attributes.SERVED_BY_NAME["expectedNumberOfCycles"].tier == attributes.PUBLIC
    assert attributes.SERVED_BY_NAME["batteryStatus"].tier == attributes.LEGITIMATE_INTEREST
    assert attributes.SERVED_BY_NAME["batteryChemistry"].tier == attributes.PUBLIC


def _catenax_paths() -> set[str]:
    example = json.loads(
        (
            REFDATA / "catenax-semantic-models/io.catenax.battery.battery_pass/6.1.0/gen/BatteryPass.json"
        ).read_text()
    )
    paths: set[str] = set()

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                path = f"{prefix}.{key}" if prefix else key
                paths.add(path)
                walk(value, path)
        elif isinstance(node, list) and node:
            walk(node[0], prefix)

    walk(example, "")
    return paths


def test_catenax_paths_exist_in_the_catenax_battery_pass_model():
    paths = _catenax_paths()
    for attribute in attributes.SERVED:
        if attribute.catenax:
            assert re.sub(r"\[[^\]]*\]", "", attribute.catenax) in paths, attribute.catenax


def test_served_for_widens_with_the_tier():
    public = {attribute.name for attribute in attributes.served_for(attributes.PUBLIC)}
    interest = {attribute.name for attribute in attributes.served_for(attributes.LEGITIMATE_INTEREST)}
    authority = {attribute.name for attribute in attributes.served_for(attributes.AUTHORITY)}
    assert public < interest <= authority
    assert "batteryStatus" not in public
    assert "batteryStatus" in interest
