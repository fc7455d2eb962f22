"""What every report format receives, and how it says how far it got.

A format is a function `write(ctx, out) -> int` that streams one file to the binary file `out` and
returns how many units it wrote (rows, pages, events). It reads the scope from `ctx` in bounded
chunks (server-side cursors, `.iterator(chunk_size=...)`), never the whole scope at once, and calls
`ctx.tick(done)` after each subject so the report shows progress and can be cancelled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import DomainError


class ReportCancelled(DomainError):
    """Raised by `ReportContext.tick` when the requester cancelled the report; the file is discarded."""

    status_code = 409
    default_code = "REPORT_CANCELLED"


def _no_progress(done: int) -> None:
    """The default tick: nothing to report to and nothing can cancel (benchmarks, tests)."""


@dataclass
class ReportContext:
    """A resolved scope: its subjects were already checked against what the requester may see."""

    battery_ids: list[int]
    lot_ids: list[int] = field(default_factory=list)
    date_from: datetime | None = None  # events with date_from <= occurred_at < date_to
    date_to: datetime | None = None
    user: Any = None  # the requester: decides tiers (None = a command-line run, authority tier)
    anonymised: bool = False  # no personal data, timestamps coarsened to the day, codes pseudonymised
    language: str = "en"  # "en" or "zh-hans": formats render their human text in it
    generated_at: datetime | None = None
    tick: Callable[[int], None] = _no_progress  # call with the number of subjects done so far

    @property
    def subject_count(self) -> int:
        return len(self.battery_ids) + len(self.lot_ids)
