"""Custody writes, split by concept; the public names are re-exported here."""

from custody.services.audit import run_self_audit, self_audit
from custody.services.batch import IntakeItem, record_intakes
from custody.services.common import Outcome
from custody.services.intake_import import run_intake_import, start_intake_import
from custody.services.lots import dispose_lot, export_lot, merge_lots, record_recycling, split_lot
from custody.services.steps import (
    record_dismantling,
    record_disposal,
    record_grading,
    record_intake,
    record_registrations,
    record_repurposing,
    record_retirement,
)
from custody.services.transfers import (
    TransferOutcome,
    accept_transfer,
    cancel_transfer,
    expire_transfers,
    initiate_transfer,
    reject_transfer,
    run_transfer_expiry,
)

__all__ = [
    "IntakeItem",
    "Outcome",
    "TransferOutcome",
    "accept_transfer",
    "cancel_transfer",
    "dispose_lot",
    "expire_transfers",
    "export_lot",
    "initiate_transfer",
    "merge_lots",
    "record_dismantling",
    "record_disposal",
    "record_grading",
    "record_intake",
    "record_intakes",
    "record_recycling",
    "record_registrations",
    "record_repurposing",
    "record_retirement",
    "reject_transfer",
    "run_intake_import",
    "run_self_audit",
    "run_transfer_expiry",
    "self_audit",
    "split_lot",
    "start_intake_import",
]
