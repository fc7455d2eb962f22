"""Custody reads, split by concept; the public names are re-exported here."""

from custody.selectors.events import events_of, produced_from, produced_list, timeline, with_proof_status
from custody.selectors.preview import IntakePreview, intake_preview
from custody.selectors.trace import LotTrace, lot_trace, reachable_subjects

__all__ = [
    "IntakePreview",
    "LotTrace",
    "events_of",
    "intake_preview",
    "lot_trace",
    "produced_from",
    "produced_list",
    "reachable_subjects",
    "timeline",
    "with_proof_status",
]
