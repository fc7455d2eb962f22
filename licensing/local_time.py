"""A facility's local calendar: licence dates are whole local days, stored as UTC instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from django.utils.dateparse import parse_date, parse_datetime


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_time_zone(name: str) -> bool:
    """A real IANA zone name known to this system's zoneinfo database."""
    return name in _zone_names()


def start_of_day(day: date, zone: str) -> datetime:
    """The instant (UTC) local midnight opens `day` in `zone`."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def end_of_day(day: date, zone: str) -> datetime:
    """The instant (UTC) at which `day` is over in `zone`: the next local midnight, exclusive."""
    return start_of_day(day + timedelta(days=1), zone)


def local_date(instant: datetime, zone: str) -> date:
    return instant.astimezone(ZoneInfo(zone)).date()


def parse_instant(text: str, zone: str) -> datetime | None:
    """An ISO 8601 instant with an offset, or a date meaning its local midnight; None when neither.

    A date-time without an offset is refused (None): on a licence's last day the hour decides.
    """
    text = text.strip()
    if len(text) == 10:
        try:
            day = parse_date(text)
        except ValueError:
            return None
        return start_of_day(day, zone) if day else None
    try:
        instant = parse_datetime(text)
    except ValueError:
        return None
    if instant is None or instant.tzinfo is None:
        return None
    return instant.astimezone(UTC)
