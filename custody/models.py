"""Custody models. The transparency log's rows live in custody.transparency; events join them here."""

from __future__ import annotations

from custody.transparency.models import (
    Checkpoint,
    Cosignature,
    LogLeaf,
    LogNode,
    LogState,
    PendingLeaf,
    WitnessKey,
)

__all__ = [
    "Checkpoint",
    "Cosignature",
    "LogLeaf",
    "LogNode",
    "LogState",
    "PendingLeaf",
    "WitnessKey",
]
