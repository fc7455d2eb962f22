"""Turning a lost race at the database into the same 409 a caller would have got a moment later.

The services lock subject rows before they check anything, so these constraints fire only when a caller
skipped the lock or two requests reused one idempotency key for different subjects at the same instant.
SQLite names the columns of a failed unique index, PostgreSQL the constraint: both are recognised.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import IntegrityError
from django.utils.translation import gettext as _

from core.errors import Conflict
from custody.errors import ChainConflict, IdempotencyKeyReused

P = ParamSpec("P")
R = TypeVar("R")

_RULES: tuple[tuple[tuple[str, ...], Callable[[], Conflict]], ...] = (
    (
        ("custody_event_idempotency_key", "idempotency_key", "transfer_initiate_key_once", "initiate_key",
         "transfer_decision_key_once", "decision_key"),
        lambda: IdempotencyKeyReused(
            _("This idempotency key was used a moment ago for another request; use a new key."),
            field="idempotency_key",
        ),
    ),
    (
        ("transfer_one_pending_per_battery", "transfer_one_pending_per_lot", "custody_transfer.battery_id",
         "custody_transfer.lot_id"),
        lambda: Conflict(
            _("Another transfer of this subject was opened a moment ago."), code="TRANSFER_PENDING"
        ),
    ),
    (
        ("custody_event_battery_seq", "custody_event_lot_seq", ".seq"),
        lambda: ChainConflict(_("Another step of this subject was recorded a moment ago; try again.")),
    ),
)  # fmt: skip


def conflict_from(error: IntegrityError) -> Conflict | None:
    """The 409 a known constraint violation stands for, or None for anything else."""
    text = str(error)
    for needles, make in _RULES:
        if any(needle in text for needle in needles):
            return make()
    return None


def translate_conflicts(service: Callable[P, R]) -> Callable[P, R]:
    """Wrap a transactional service: a known unique-constraint violation leaves as its 409."""

    @functools.wraps(service)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return service(*args, **kwargs)
        except IntegrityError as error:
            conflict = conflict_from(error)
            if conflict is None:
                raise
            raise conflict from error

    return wrapper
