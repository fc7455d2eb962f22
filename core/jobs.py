"""Running a job so that it always leaves a JobRun behind, whether it succeeds or fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.models import JobRun


def run_job(name: str, work: Callable[[], dict[str, Any]]) -> JobRun:
    """Run `work`, which returns its counts, and record the run; errors are recorded and re-raised."""
    run = JobRun.objects.create(job=name)
    try:
        counts = work()
    except Exception as exc:
        run.finish(error=f"{type(exc).__name__}: {exc}")
        raise
    run.finish(counts=counts)
    return run
