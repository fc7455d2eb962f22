"""Custody models. The transparency log's rows live in custody.transparency; events join them here."""

from __future__ import annotations

from custody.events.models import BundleExport, CustodyEvent, EventInput, EventSnapshot, EventType
from custody.history.models import HistoryDelivery, HistoryRequest, HistoryRequestEvent
from custody.intake.models import IntakeImport
from custody.lots.models import Material, MaterialLot
from custody.transfers.models import Transfer
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
    "BundleExport",
    "Checkpoint",
    "Cosignature",
    "CustodyEvent",
    "EventInput",
    "EventSnapshot",
    "EventType",
    "HistoryDelivery",
    "HistoryRequest",
    "HistoryRequestEvent",
    "IntakeImport",
    "LogLeaf",
    "LogNode",
    "LogState",
    "Material",
    "MaterialLot",
    "PendingLeaf",
    "Transfer",
    "WitnessKey",
]
