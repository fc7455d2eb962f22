"""Bulk seeding shared by the benchmarks: a licensed recycler site and hash-chained custody events.

The benchmarks seed hundreds of thousands of events; the services write one event per transaction, so
here the bodies are built exactly as custody builds them (`event_body`, RFC 8785, SHA-256) and written
with COPY, then queued for the transparency log like any other event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

ACTIVITIES = ["intake", "storage", "dismantling", "second_life", "material_recovery"]
# A battery's chain: registered by the OEM, taken in at the recycler's licensed site, then graded there.
STEPS: tuple[tuple[str, str | None, dict[str, Any]], ...] = (
    ("registered", None, {}),
    ("intake", "intake", {"note": ""}),
    ("graded", "storage", {"grade": "B", "method": "capacity test at 0.5C", "lab": None, "note": ""}),
)
_EVENT_COLUMNS = (
    "type, battery_id, seq, actor_id, facility_id, activity, occurred_at, recorded_at, licence_id, "
    "licence_status, request_fingerprint, prev_hash, hash, body"
)


@dataclass(frozen=True)
class Site:
    oem: Any
    recycler: Any
    facility: Any
    licence: Any


def licensed_site(oem: Any, recycler: Any, *, since: date) -> Site:
    """A recycler's plant holding a hazardous-waste licence for every activity from `since` on."""
    from licensing import local_time
    from licensing.models import Facility, Licence, LicenceEvent

    facility = Facility.objects.create(
        organisation=recycler, name="Bench plant", province="CN-JX", country="CN"
    )
    starts = local_time.start_of_day(since, facility.timezone)
    licence = Licence.objects.create(
        facility=facility, kind="hazardous_waste", issuing_authority="Bench authority", number="BENCH-1",
        activities=ACTIVITIES, valid_from=since, starts_at=starts,
    )  # fmt: skip
    LicenceEvent.objects.create(
        licence=licence, kind="issued", effective_at=starts, new_activities=ACTIVITIES
    )
    return Site(oem=oem, recycler=recycler, facility=facility, licence=licence)


def copy_event_chains(
    batteries: Iterable[tuple[int, str]],
    site: Site,
    *,
    events_per_battery: int,
    start: datetime,
    stagger: timedelta,
) -> int:
    """Write a chain of `events_per_battery` events for each (battery id, code), the n-th battery's
    starting at `start + n * stagger` with a day between its steps, and queue every hash for the log.
    Returns the number of events."""
    from django.db import connection

    from core.canonical import canonicalize
    from custody.events.body import event_body

    hashes: list[bytes] = []
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY custody_custodyevent ({_EVENT_COLUMNS}) FROM STDIN") as copy:
            for number, (battery_id, code) in enumerate(batteries):
                previous: bytes | None = None
                for seq in range(events_per_battery):
                    at = start + number * stagger + timedelta(days=seq)
                    kind, activity, data = STEPS[min(seq, len(STEPS) - 1)]
                    actor = site.oem if activity is None else site.recycler
                    facility = site.facility.pk if activity else None
                    licence = site.licence.pk if activity else None
                    status = "active" if licence else None
                    body = event_body(
                        type=kind, subject_kind="battery", subject_code=code, seq=seq, prev_hash=previous,
                        occurred_at=at, recorded_at=at, actor=actor.name, actor_id=actor.pk,
                        facility_id=facility, activity=activity, licence_id=licence, licence_status=status,
                        snapshots=[], inputs=[], data=data,
                    )  # fmt: skip
                    canonical = canonicalize(body)
                    digest = hashlib.sha256(canonical).digest()
                    copy.write_row(
                        (kind, battery_id, seq, actor.pk, facility, activity or "", at, at, licence,
                         status or "", "", previous, digest, canonical.decode("utf-8"))
                    )  # fmt: skip
                    hashes.append(digest)
                    previous = digest
        with cursor.cursor.copy("COPY custody_pendingleaf (event_hash, enqueued_at) FROM STDIN") as copy:
            now = datetime.now(UTC)
            for digest in hashes:
                copy.write_row((digest, now))
    return len(hashes)
