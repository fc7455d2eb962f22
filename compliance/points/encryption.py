"""Point 4: stored telemetry is encrypted to a named standard, under keys the platform still holds.

Two queries: the sealed snapshots in scope grouped by cipher and key-encryption key (a handful of
rows whatever the volume), and the last key rotation recorded by `manage.py rotate_keys` (a `JobRun`).
The key ring itself comes from settings (`core.envelope.keyring`): ids only, never key material.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils.translation import gettext as _

from compliance.checklist import AMBER, GREEN, RED, EvidenceLink, Point, Scope
from compliance.thresholds import KEY_ROTATION_MAX_DAYS, ROTATION_JOB
from core.envelope import CIPHERS, keyring
from core.models import JobRun
from passport.snapshots.models import Snapshot

# The standard each cipher name stands for, as the report names it.
STANDARDS = {
    "AES-256-GCM": "AES-256 (FIPS 197) in GCM (NIST SP 800-38D)",
    "SM4-GCM": "SM4 (GB/T 32907-2016) in GCM (GB/T 36624-2018)",
}


def evaluate(scope: Scope, at: datetime) -> Point:
    """Red: a payload stored without a recognised cipher, ciphertext or wrapped key (plaintext), or under
    a key-encryption key no longer in the ring. Amber: payloads under an older key of the ring (rotation
    pending), or a key protecting data older than a year with no rotation in the last year."""
    ring = keyring()
    rows = list(
        Snapshot.objects.filter(scope.snapshot_filter(), shredded_at__isnull=True)
        .values("payload_cipher", "payload_kek_id")
        .annotate(
            count=Count("id"),
            unsealed=Count(
                "id", filter=Q(payload_ciphertext__isnull=True) | Q(payload_wrapped_key__isnull=True)
            ),
            oldest=Min("received_at"),
        )
        .order_by("payload_kek_id", "payload_cipher")
    )
    last_rotation = (
        JobRun.objects.filter(job=ROTATION_JOB, status=JobRun.Status.SUCCEEDED)
        .order_by("-started_at")
        .values("started_at", "counts")
        .first()
    )
    by_key: dict[str, int] = {}
    by_cipher: dict[str, int] = {}
    plaintext = retired = old_key = 0
    oldest: datetime | None = None
    for row in rows:
        by_key[row["payload_kek_id"]] = by_key.get(row["payload_kek_id"], 0) + row["count"]
        by_cipher[row["payload_cipher"]] = by_cipher.get(row["payload_cipher"], 0) + row["count"]
        if row["payload_cipher"] not in CIPHERS:
            plaintext += row["count"]
        else:
            plaintext += row["unsealed"]
        if row["payload_kek_id"] not in ring:
            retired += row["count"]
        elif row["payload_kek_id"] != ring.current_id:
            old_key += row["count"]
        if oldest is None or (row["oldest"] is not None and row["oldest"] < oldest):
            oldest = row["oldest"]
    sealed = sum(by_key.values())
    rotated_at = last_rotation["started_at"] if last_rotation else None
    stale_after = at - timedelta(days=KEY_ROTATION_MAX_DAYS)
    rotation_overdue = bool(
        sealed
        and oldest is not None
        and oldest < stale_after
        and (rotated_at is None or rotated_at < stale_after)
    )
    figures: dict[str, Any] = {
        "cipher_configured": settings.TELEMETRY_CIPHER,
        "standard": STANDARDS.get(settings.TELEMETRY_CIPHER, settings.TELEMETRY_CIPHER),
        "sealed_payloads": sealed,
        "payloads_by_cipher": by_cipher,
        "payloads_by_key": by_key,
        "current_key": ring.current_id,
        "keys_in_ring": list(ring.ids),
        "payloads_under_older_keys": old_key,
        "payloads_under_retired_keys": retired,
        "plaintext_payloads": plaintext,
        "last_rotation": rotated_at,
        "rotation_max_days": KEY_ROTATION_MAX_DAYS,
    }
    findings: list[str] = []
    if plaintext:
        findings.append(_("Payloads stored without encryption: %(count)d.") % {"count": plaintext})
    for kek_id, count in sorted(by_key.items()):
        if kek_id not in ring:
            findings.append(
                _("Payloads wrapped by key %(key)s, which is no longer in the key ring: %(count)d.")
                % {"count": count, "key": kek_id}
            )
    if old_key:
        findings.append(
            _("Payloads still wrapped by an older key (run manage.py rotate_keys): %(count)d.")
            % {"count": old_key}
        )
    if rotation_overdue:
        findings.append(
            _("No key rotation in the last %(days)d days, while the key protects older data.")
            % {"days": KEY_ROTATION_MAX_DAYS}
        )
    if plaintext or retired:
        status, rule_code = RED, "TELEMETRY_NOT_PROTECTED"
        rule = _(
            "Red: a payload is stored without a recognised cipher, ciphertext or wrapped data key, or under "
            "a key-encryption key that is no longer in the key ring."
        )
    elif old_key or rotation_overdue:
        status, rule_code = AMBER, "KEY_ROTATION_PENDING"
        rule = _(
            "Amber: every payload is sealed, but some are wrapped by an older key, or no rotation happened "
            "in the last %(days)d days while the key protects older data."
        ) % {"days": KEY_ROTATION_MAX_DAYS}
    else:
        status, rule_code = GREEN, "TELEMETRY_SEALED"
        rule = _("Green: every stored payload is sealed under the current key-encryption key of the ring.")
    summary = _(
        "Payloads sealed: %(count)d, with %(cipher)s; key-encryption keys in use: %(keys)d; current key "
        "%(current)s; last rotation: %(rotation)s."
    ) % {
        "count": sealed,
        "cipher": ", ".join(sorted(by_cipher)) or settings.TELEMETRY_CIPHER,
        "keys": len(by_key),
        "current": ring.current_id,
        "rotation": f"{rotated_at:%Y-%m-%d}" if rotated_at else _("never"),
    }
    return Point(
        number=4,
        key="encryption",
        title=_("Stored telemetry encrypted to a named standard"),
        status=status,
        summary=summary,
        rule=rule,
        rule_code=rule_code,
        figures=figures,
        findings=tuple(findings),
        evidence=(
            EvidenceLink(
                _("Retention report (sealed and shredded payloads)"),
                "passport:retention",
                query=(("organisation", scope.organisation.pk),),
            ),
        ),
    )
