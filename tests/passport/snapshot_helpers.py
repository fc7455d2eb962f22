"""Shared helpers of the snapshot tests: ingest as an organisation, and old (expired) snapshots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from passport.snapshots.ingest import ingest_documents
from passport.snapshots.models import Snapshot
from tests.conftest import register_test_device_key
from tests.factories import lfp_battery
from tests.snapshot_builders import OTHER_BATTERY_CODE, lfp_payload, sign_envelope

OLD_CODE = OTHER_BATTERY_CODE


def ingest(payloads: list[dict[str, Any]], organisation: Any, user: Any, **sign: Any) -> list[Any]:
    """Sign each payload (device key 1 unless told) and ingest them; the per-item results."""
    return ingest_documents(
        [sign_envelope(payload, **sign) for payload in payloads], organisation=organisation, user=user
    )


def stored(payload: dict[str, Any], organisation: Any, user: Any, **sign: Any) -> Snapshot:
    """Ingest one payload and return the stored snapshot (fails the test if it was refused)."""
    (result,) = ingest([payload], organisation, user, **sign)
    assert result.stored, result.as_dict()
    return Snapshot.objects.get(pk=result.snapshot_id)


def expired_snapshots(oem: Any, user: Any, count: int = 2) -> list[Snapshot]:
    """Snapshots captured in 2016 (retained until 2024, so expired now) of a battery made in 2015."""
    battery = lfp_battery(oem, code=OLD_CODE, production_date=date(2015, 6, 1))
    register_test_device_key(oem, user, 9, valid_from=datetime(2015, 1, 1, tzinfo=UTC), device_serial="OLD-9")
    from tests.snapshot_builders import device_key

    start = datetime(2016, 3, 1, tzinfo=UTC)
    return [
        stored(
            lfp_payload(
                battery_code=battery.code,
                device_id="OLD-9",
                captured_at=start + timedelta(days=index),
                sequence=index + 1,
                cycle_count=100 + index,
                seed=index,
            ),
            oem,
            user,
            key=device_key(9),
        )
        for index in range(count)
    ]
