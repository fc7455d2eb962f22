"""The nightly self-audit: recompute every chain and the log, and compare them with the signed checkpoints.

Everything streams (server-side cursors, fixed memory): each event body is hashed again and compared
with its stored hash, its fields with the body, its `prev_hash` with the previous event of the subject
and its sequence number with the one before; the leaves are folded into roots at every checkpoint's
size and compared with the signed roots; each checkpoint's signature is verified; consecutive recent
checkpoints are proven consistent from the stored interior nodes; events and leaves are matched both
ways with set-based queries. The first broken link found is named in the alert and in the JobRun.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification, Organisation
from accounts.notifications import notify_organisation, notify_platform_admins
from core.canonical import CanonicalizationError, canonicalize
from core.models import JobRun
from custody.checkpoint import NoteError, verify_checkpoint
from custody.events.models import CustodyEvent
from custody.merkle import ProofError, consistency_proof, node_hash, verify_consistency
from custody.transparency.keys import log_signer
from custody.transparency.models import Checkpoint, LogLeaf, LogState, PendingLeaf
from custody.transparency.store import StoredTree

JOB_NAME = "custody.self_audit"
CHUNK = 5000
# Consistency proofs are read from the stored nodes for the most recent checkpoints only; every older
# checkpoint's root is still recomputed from the leaves, which proves the same for them.
RECENT_CHECKPOINTS = 100


@dataclass
class AuditReport:
    """What the audit counted and the problems it found, first one first."""

    counts: dict[str, int] = field(
        default_factory=lambda: {
            "events": 0,
            "chains": 0,
            "leaves": 0,
            "checkpoints": 0,
            "mismatches": 0,
        }
    )
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.counts["mismatches"] += 1
        if len(self.problems) < 20:
            self.problems.append(message)

    @property
    def ok(self) -> bool:
        return not self.counts["mismatches"]

    def as_counts(self) -> dict[str, Any]:
        return {**self.counts, "first_broken_link": self.problems[0] if self.problems else None}


# ---------------------------------------------------------------------------------------------------
# Chains
# ---------------------------------------------------------------------------------------------------
def _rows(kind: str) -> Iterator[tuple[Any, ...]]:
    subject = "battery" if kind == "battery" else "lot"
    return (
        CustodyEvent.objects.filter(**{f"{subject}__isnull": False})
        .order_by(f"{subject}_id", "seq")
        .values_list("id", f"{subject}_id", f"{subject}__code", "seq", "type", "prev_hash", "hash", "body")
        .iterator(chunk_size=CHUNK)
    )


def audit_chains(report: AuditReport) -> None:
    """Recompute every event hash and every link of every battery's and lot's chain."""
    for kind in ("battery", "lot"):
        previous_subject: int | None = None
        previous_hash: bytes | None = None
        previous_seq = -1
        for event_id, subject_id, code, seq, event_type, prev_hash, stored_hash, body in _rows(kind):
            report.counts["events"] += 1
            where = _("event %(id)d (%(kind)s %(code)s #%(seq)d, %(type)s)") % {
                "id": event_id,
                "kind": kind,
                "code": code,
                "seq": seq,
                "type": event_type,
            }
            if subject_id != previous_subject:
                report.counts["chains"] += 1
                previous_subject, previous_hash, previous_seq = subject_id, None, -1
            stored_hash = bytes(stored_hash)
            prev_hash = bytes(prev_hash) if prev_hash is not None else None
            raw = body.encode("utf-8")
            if hashlib.sha256(raw).digest() != stored_hash:
                report.fail(_("The body of %(where)s no longer matches its hash.") % {"where": where})
            else:
                _check_body(
                    report, where, raw, kind=kind, code=code, seq=seq, event_type=event_type, prev=prev_hash
                )
            if seq != previous_seq + 1:
                report.fail(
                    _("%(where)s follows #%(previous)d: the chain has a gap or a repeat.")
                    % {"where": where, "previous": previous_seq}
                )
            if prev_hash != previous_hash:
                report.fail(_("%(where)s does not link to the event before it.") % {"where": where})
            previous_seq, previous_hash = seq, stored_hash


def _check_body(
    report: AuditReport,
    where: str,
    raw: bytes,
    *,
    kind: str,
    code: str,
    seq: int,
    event_type: str,
    prev: bytes | None,
) -> None:
    try:
        body = json.loads(raw)
        canonical = canonicalize(body) == raw
    except (ValueError, CanonicalizationError):
        report.fail(_("The body of %(where)s is not valid JSON.") % {"where": where})
        return
    expected = {
        "seq": seq,
        "type": event_type,
        "subject": {"kind": kind, "code": code},
        "prev_hash": prev.hex() if prev is not None else None,
    }
    if not canonical or any(body.get(name) != value for name, value in expected.items()):
        report.fail(_("The stored fields of %(where)s differ from its hashed body.") % {"where": where})


# ---------------------------------------------------------------------------------------------------
# The log
# ---------------------------------------------------------------------------------------------------
class _RootFolder:
    """Folds leaf hashes one by one and answers the root of the leaves seen so far (RFC 9162 MTH)."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []
        self.size = 0

    def add(self, leaf: bytes) -> None:
        level, current = 0, leaf
        while self.stack and self.stack[-1][0] == level:
            current = node_hash(self.stack.pop()[1], current)
            level += 1
        self.stack.append((level, current))
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return hashlib.sha256(b"").digest()
        root = self.stack[-1][1]
        for _level, left in reversed(self.stack[:-1]):
            root = node_hash(left, root)
        return root


def audit_log(report: AuditReport) -> None:
    """Fold the leaves into the roots the checkpoints signed; match events and leaves both ways."""
    signer = log_signer()
    checkpoints = list(
        Checkpoint.objects.order_by("tree_size", "id").values_list("id", "tree_size", "root_hash", "note")
    )
    report.counts["checkpoints"] = len(checkpoints)
    for checkpoint_id, size, root, note in checkpoints:
        try:
            signed = verify_checkpoint(note, signer.verifier)
        except NoteError as error:
            report.fail(
                _("Checkpoint %(id)d (size %(size)d) does not verify: %(reason)s")
                % {"id": checkpoint_id, "size": size, "reason": error}
            )
            continue
        if signed.tree_size != size or signed.root_hash != bytes(root):
            report.fail(_("Checkpoint %(id)d differs from the note it signed.") % {"id": checkpoint_id})

    folder = _RootFolder()
    pending = iter(checkpoints)
    due = next(pending, None)
    while due is not None and due[1] == 0:
        due = next(pending, None)
    leaves = LogLeaf.objects.order_by("index").values_list("index", "event_hash").iterator(chunk_size=CHUNK)
    for index, event_hash in leaves:
        if index != folder.size:
            report.fail(
                _("Leaf %(index)d comes where leaf %(expected)d should: the log has a gap or a repeat.")
                % {"index": index, "expected": folder.size}
            )
        folder.add(hashlib.sha256(b"\x00" + bytes(event_hash)).digest())
        while due is not None and due[1] == folder.size:
            if folder.root() != bytes(due[2]):
                report.fail(
                    _("The leaves do not fold into the root that checkpoint %(id)d (size %(size)d) signed.")
                    % {"id": due[0], "size": due[1]}
                )
            due = next(pending, None)
    report.counts["leaves"] = folder.size
    if due is not None:
        report.fail(
            _("Checkpoint %(id)d signed %(size)d leaves, but the log holds %(count)d.")
            % {"id": due[0], "size": due[1], "count": folder.size}
        )
    state = LogState.objects.filter(pk=LogState.SINGLETON).values_list("tree_size", "root_hash").first()
    if state is not None and (state[0] != folder.size or bytes(state[1]) != folder.root()):
        report.fail(_("The log's recorded size and root differ from its leaves."))

    recent = [row for row in checkpoints if row[1] > 0][-RECENT_CHECKPOINTS:]
    tree = StoredTree()
    for (first_id, first, first_root, _n1), (second_id, second, second_root, _n2) in pairwise(recent):
        if first == second:
            continue
        try:
            verify_consistency(
                first=first,
                second=second,
                first_root=bytes(first_root),
                second_root=bytes(second_root),
                proof=consistency_proof(tree, first, second),
            )
        except (ProofError, LookupError) as error:
            report.fail(
                _("Checkpoints %(first)d and %(second)d are not consistent in the stored tree: %(reason)s")
                % {"first": first_id, "second": second_id, "reason": error}
            )

    in_log = LogLeaf.objects.filter(event_hash=OuterRef("hash"))
    queued = PendingLeaf.objects.filter(event_hash=OuterRef("hash"))
    missing = CustodyEvent.objects.exclude(Exists(in_log)).exclude(Exists(queued))
    for event_id, event_hash in missing.order_by("id").values_list("id", "hash")[:20]:
        report.fail(
            _("Event %(id)d (hash %(hash)s…) is neither in the log nor queued for it.")
            % {"id": event_id, "hash": bytes(event_hash).hex()[:16]}
        )
    foreign = LogLeaf.objects.exclude(Exists(CustodyEvent.objects.filter(hash=OuterRef("event_hash"))))
    for index, event_hash in foreign.order_by("index").values_list("index", "event_hash")[:20]:
        report.fail(
            _("Leaf %(index)d (hash %(hash)s…) is no recorded event.")
            % {"index": index, "hash": bytes(event_hash).hex()[:16]}
        )


# ---------------------------------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------------------------------
def self_audit() -> AuditReport:
    """Recompute every chain and the log; nothing is written."""
    report = AuditReport()
    audit_chains(report)
    audit_log(report)
    return report


def _alert(report: AuditReport, run: JobRun) -> None:
    subject = _("Custody integrity self-audit found %(count)d mismatch(es)") % {
        "count": report.counts["mismatches"]
    }
    body = "\n".join([_("First broken link:"), *report.problems])
    key = f"custody-self-audit-{run.pk}"
    notify_platform_admins(subject=subject, body=body, dedup_key=key, level=Notification.Level.ALERT)
    for auditor in Organisation.objects.filter(kind=Organisation.Kind.AUDITOR):
        notify_organisation(
            organisation=auditor,
            roles=("admin", "operator", "viewer"),
            subject=subject,
            body=body,
            link="/custody/audit/",
            dedup_key=key,
            level=Notification.Level.ALERT,
        )


def run_self_audit() -> JobRun:
    """The nightly job: audit, alert platform admins and auditors on any mismatch, record a JobRun.

    Not `core.jobs.run_job`: that records either counts or an error, and a failed audit needs both
    (the counts, and the first broken link as the run's error so the run shows as failed).
    """
    run = JobRun.objects.create(job=JOB_NAME, started_at=timezone.now())
    try:
        report = self_audit()
    except Exception as exc:
        run.finish(error=f"{type(exc).__name__}: {exc}")
        raise
    if report.ok:
        run.finish(counts=report.as_counts())
        return run
    run.finish(counts=report.as_counts(), error=report.problems[0])
    _alert(report, run)
    return run
