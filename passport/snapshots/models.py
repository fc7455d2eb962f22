"""Signed BMS snapshots at rest, their plausibility flags, certifications, legal holds and access logs.

A `Snapshot` keeps in clear only what queries, the plausibility rules and the legitimate-interest tier
need (measurements, counts, fault and thermal-event summaries without free text, hashes, the
signature); the whole payload as signed, vehicle and owner block included, is sealed with
`core.envelope.seal`. The associated data of the seal is `snapshot_aad(payload_hash)`: the payload
hash is unique and never changes, so a ciphertext moved to another row fails to open.

Retention: a snapshot may not be deleted, and its payload may not be crypto-shredded, before
`retention_until` or while a legal hold covers it. The ORM refuses here; triggers written in
migration 0002 refuse raw SQL on PostgreSQL and SQLite.

Imported at the end of `passport/models.py`, so Django registers these models in the passport app.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from accounts.querysets import VisibleToQuerySet
from core.db import AppendOnlyModel, AppendOnlyQuerySet
from core.errors import AppendOnlyViolation
from passport.models import Battery, DeviceKey, Job

SNAPSHOT_AAD_PREFIX = b"voltrace.snapshot/1|"

# Columns of a snapshot that may still change: the wrapped data key (key rotation) and, once retention
# is over, the ciphertext and wrapped key (crypto-shredding). Everything else is written once.
SNAPSHOT_MUTABLE_COLUMNS = (
    "payload_kek_id",
    "payload_wrapped_key",
    "payload_wrap_nonce",
    "payload_ciphertext",
    "shredded_at",
)


def snapshot_aad(payload_hash: str) -> bytes:
    """The associated data binding a sealed payload to its snapshot: prefix and the payload hash."""
    return SNAPSHOT_AAD_PREFIX + payload_hash.encode("ascii")


class RetentionViolation(AppendOnlyViolation):
    """An attempt to delete or shred a snapshot before its retention ends or while it is held."""

    default_code = "RETENTION_ACTIVE"


def _live_grants(organisation: Organisation, battery_ref: str) -> Exists:
    grants = (
        apps.get_model("passport", "AccessGrant")
        .objects.live()
        .filter(battery=OuterRef(battery_ref), grantee=organisation)
    )
    return Exists(grants)


class SnapshotQuerySet(VisibleToQuerySet):
    """Snapshots: the uploader, and whoever holds legitimate interest in the battery, see them."""

    def scope_for(self, organisation: Organisation) -> Q:
        return (
            Q(uploaded_by=organisation)
            | Q(battery__oem=organisation)
            | Q(battery__current_custodian=organisation)
            | Q(_live_grants(organisation, "battery"))
        )

    def unshredded(self) -> SnapshotQuerySet:
        return self.filter(shredded_at__isnull=True)

    def under_hold(self, at: Any = None) -> SnapshotQuerySet:
        """Snapshots a live legal hold covers (a battery-wide hold covers all of the battery's)."""
        return self.filter(
            Exists(LegalHold.objects.active().covering(OuterRef("pk"), OuterRef("battery_id")))
        )

    def not_under_hold(self) -> SnapshotQuerySet:
        return self.exclude(
            Exists(LegalHold.objects.active().covering(OuterRef("pk"), OuterRef("battery_id")))
        )

    def retained_at(self, moment: Any) -> SnapshotQuerySet:
        return self.filter(retention_until__gt=moment)

    def update(self, **kwargs: Any) -> int:
        frozen = sorted(set(kwargs) - set(SNAPSHOT_MUTABLE_COLUMNS))
        if frozen:
            raise AppendOnlyViolation(
                _("Snapshot fields %(fields)s are written once and never changed.")
                % {"fields": ", ".join(frozen)}
            )
        shredding = any(
            name in kwargs and kwargs[name] is None for name in ("payload_ciphertext", "payload_wrapped_key")
        )
        if shredding:
            self._refuse_if_retained()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._refuse_if_retained()
        return super().delete()

    def _refuse_if_retained(self) -> None:
        now = timezone.now()
        if self.retained_at(now).exists():
            raise RetentionViolation(
                _("Snapshots are kept until their retention period ends; some of these are still retained.")
            )
        if self.under_hold().exists():
            raise RetentionViolation(_("Some of these snapshots are under a legal hold."))


class Snapshot(models.Model):
    """One signed BMS snapshot: queryable metadata in clear, the signed payload sealed beside it."""

    battery = models.ForeignKey(
        Battery, on_delete=models.PROTECT, related_name="snapshots", verbose_name=_("battery")
    )
    device_key = models.ForeignKey(
        DeviceKey, on_delete=models.PROTECT, related_name="snapshots", verbose_name=_("signing key")
    )
    uploaded_by = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("reported by")
    )
    uploaded_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    device_id = models.CharField(_("device id"), max_length=128)
    sequence = models.BigIntegerField(_("device sequence number"), null=True, blank=True)
    captured_at = models.DateTimeField(_("captured at"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    soc_pct = models.FloatField(_("state of charge (%)"))
    soh_pct = models.FloatField(_("state of health (%)"))
    cycle_count = models.PositiveIntegerField(_("cycle count"))
    throughput_kwh = models.FloatField(_("energy throughput (kWh)"), null=True, blank=True)
    pack_voltage_v = models.FloatField(_("pack voltage (V)"))
    cell_voltage_min_v = models.FloatField(_("lowest cell voltage (V)"))
    cell_voltage_max_v = models.FloatField(_("highest cell voltage (V)"))
    cell_temp_min_c = models.FloatField(_("lowest cell temperature (°C)"))
    cell_temp_max_c = models.FloatField(_("highest cell temperature (°C)"))
    insulation_resistance_kohm = models.FloatField(_("insulation resistance (kΩ)"))
    # What the plausibility rules need of the cell list, so re-evaluation never decrypts.
    cell_count = models.PositiveSmallIntegerField(_("cells listed"), null=True, blank=True)
    cell_voltage_sum_v = models.FloatField(_("sum of cell voltages (V)"), null=True, blank=True)
    cells_fingerprint = models.CharField(_("cell voltages fingerprint"), max_length=64, null=True, blank=True)
    alarms = models.JSONField(_("alarm flags"), default=dict, blank=True)
    soh_recalibrated = models.BooleanField(_("SOH recalibrated"), default=False)
    latest_event_at = models.DateTimeField(_("latest fault or event time"), null=True, blank=True)
    # Fault and thermal-event summaries for the legitimate-interest tier: codes, times, severities and
    # temperatures, never the free text (that stays in the sealed payload).
    fault_count = models.PositiveIntegerField(_("faults"), default=0)
    max_fault_severity = models.PositiveSmallIntegerField(_("worst fault severity"), null=True, blank=True)
    faults = models.JSONField(_("fault summary"), default=list, blank=True)
    thermal_event_count = models.PositiveIntegerField(_("thermal events"), default=0)
    thermal_events = models.JSONField(_("thermal event summary"), default=list, blank=True)

    payload_hash = models.CharField(
        _("payload SHA-256"), max_length=64, unique=True, help_text=_("Of the RFC 8785 bytes signed.")
    )
    shape_hash = models.CharField(_("measurement hash"), max_length=64, db_index=True)
    payload_size = models.PositiveIntegerField(_("payload size (bytes)"))
    signature_alg = models.CharField(_("signature algorithm"), max_length=12)
    signature_value = models.CharField(_("signature (base64)"), max_length=100)

    payload_cipher = models.CharField(_("cipher"), max_length=12)
    payload_kek_id = models.CharField(_("key-encryption key id"), max_length=64)
    payload_wrapped_key = models.BinaryField(_("wrapped data key"), null=True, blank=True)
    payload_wrap_nonce = models.BinaryField(_("wrap nonce"))
    payload_nonce = models.BinaryField(_("nonce"))
    payload_ciphertext = models.BinaryField(_("sealed payload"), null=True, blank=True)

    retention_until = models.DateTimeField(_("retained until"))
    shredded_at = models.DateTimeField(_("crypto-shredded at"), null=True, blank=True)

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["battery_id", "captured_at", "id"]
        verbose_name = _("BMS snapshot")
        verbose_name_plural = _("BMS snapshots")
        indexes = [
            models.Index(fields=["battery", "captured_at"], name="snapshot_battery_captured"),
            # The retention job reads only expired, unshredded rows: its cost follows them, not the table.
            models.Index(
                fields=["retention_until"],
                condition=Q(shredded_at__isnull=True),
                name="snapshot_retention_due",
            ),
            models.Index(
                fields=["battery"], condition=Q(thermal_event_count__gt=0), name="snapshot_thermal_events"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["device_key", "device_id", "sequence"],
                condition=Q(sequence__isnull=False),
                name="snapshot_device_sequence_unique",
            ),
            models.CheckConstraint(
                condition=Q(
                    shredded_at__isnull=True,
                    payload_ciphertext__isnull=False,
                    payload_wrapped_key__isnull=False,
                )
                | Q(
                    shredded_at__isnull=False,
                    payload_ciphertext__isnull=True,
                    payload_wrapped_key__isnull=True,
                ),
                name="snapshot_sealed_or_shredded",
            ),
            models.CheckConstraint(
                condition=Q(retention_until__gt=models.F("captured_at")),
                name="snapshot_retention_after_capture",
            ),
            models.CheckConstraint(
                condition=Q(soc_pct__gte=0, soc_pct__lte=100, soh_pct__gte=0, soh_pct__lte=120),
                name="snapshot_soc_soh_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.battery_id}@{self.captured_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is None or set(fields) - set(SNAPSHOT_MUTABLE_COLUMNS):
                raise AppendOnlyViolation(_("Snapshot fields are written once and never changed."))
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        Snapshot.objects.filter(pk=self.pk)._refuse_if_retained()
        return super().delete(*args, **kwargs)

    @property
    def is_shredded(self) -> bool:
        return self.shredded_at is not None

    @property
    def aad(self) -> bytes:
        return snapshot_aad(self.payload_hash)


class BatterySnapshotSummary(models.Model):
    """Counts of a battery's BMS history, kept current at ingest: what the public passport shows.

    Derived data, recomputed from the snapshots, flags and certifications of the battery in the same
    transaction that changes them, so the scan page reads it with the battery in one query.
    """

    battery = models.OneToOneField(
        Battery, on_delete=models.CASCADE, primary_key=True, related_name="snapshot_summary"
    )
    snapshot_count = models.PositiveIntegerField(_("snapshots"), default=0)
    first_captured_at = models.DateTimeField(_("first captured at"), null=True, blank=True)
    last_captured_at = models.DateTimeField(_("last captured at"), null=True, blank=True)
    critical_flags = models.PositiveIntegerField(_("critical flags"), default=0)
    warning_flags = models.PositiveIntegerField(_("warnings"), default=0)
    info_flags = models.PositiveIntegerField(_("informational flags"), default=0)
    thermal_event_count = models.PositiveIntegerField(_("distinct thermal events"), default=0)
    certification_count = models.PositiveIntegerField(_("certifications"), default=0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("BMS history summary")
        verbose_name_plural = _("BMS history summaries")

    def __str__(self) -> str:
        return f"{self.battery_id}: {self.snapshot_count}"

    @property
    def flag_counts(self) -> dict[str, int]:
        return {"info": self.info_flags, "warning": self.warning_flags, "critical": self.critical_flags}


class SnapshotFlag(models.Model):
    """A plausibility rule a snapshot trips; replaced whenever the battery's history is re-evaluated.

    The message is rendered when read, in the reader's language, from `rule_id` and `details`.
    """

    class Severity(models.TextChoices):
        INFO = "info", _("information")
        WARNING = "warning", _("warning")
        CRITICAL = "critical", _("critical")

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="flags")
    battery = models.ForeignKey(Battery, on_delete=models.PROTECT, related_name="+")
    rule_id = models.CharField(_("rule"), max_length=60)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    details = models.JSONField(_("details"), default=dict, blank=True)
    evaluated_at = models.DateTimeField(_("evaluated at"), default=timezone.now)

    class Meta:
        ordering = ["snapshot_id", "rule_id", "id"]
        verbose_name = _("plausibility flag")
        verbose_name_plural = _("plausibility flags")
        indexes = [models.Index(fields=["battery", "severity"], name="snapshot_flag_battery")]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.snapshot_id}"

    @property
    def message(self) -> str:
        from passport.snapshots.plausibility import RULES, message_for

        if self.rule_id not in RULES:
            return self.rule_id
        return message_for(self.rule_id, self.details)

    @property
    def title(self) -> str:
        from passport.snapshots.plausibility import RULES

        rule = RULES.get(self.rule_id)
        return str(rule.title) if rule is not None else self.rule_id


class LegalHoldQuerySet(VisibleToQuerySet):
    """Holds: authorities see all; the battery's OEM and custodian see those on their batteries."""

    def scope_for(self, organisation: Organisation) -> Q:
        return Q(battery__oem=organisation) | Q(battery__current_custodian=organisation)

    def active(self) -> LegalHoldQuerySet:
        return self.filter(lifted_at__isnull=True)

    def covering(self, snapshot_id: Any, battery_id: Any) -> LegalHoldQuerySet:
        return self.filter(Q(snapshot__isnull=True) | Q(snapshot=snapshot_id), battery=battery_id)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyViolation(_("Legal holds are lifted, never deleted."))


class LegalHold(models.Model):
    """A legal hold on a battery's snapshots (or one snapshot): while active, nothing of it is destroyed."""

    battery = models.ForeignKey(Battery, on_delete=models.PROTECT, related_name="legal_holds")
    snapshot = models.ForeignKey(
        Snapshot,
        on_delete=models.PROTECT,
        related_name="legal_holds",
        null=True,
        blank=True,
        help_text=_("Empty: the hold covers every snapshot of the battery, later ones too."),
    )
    reason = models.TextField(_("reason"))
    reference = models.CharField(_("case reference"), max_length=100, blank=True)
    placed_by = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    placed_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(_("placed at"), default=timezone.now)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lift_reason = models.TextField(_("reason for lifting"), blank=True)

    objects = LegalHoldQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at", "-id"]
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        indexes = [
            models.Index(fields=["battery"], condition=Q(lifted_at__isnull=True), name="legal_hold_active")
        ]

    def __str__(self) -> str:
        return f"{self.battery_id}: {self.reason[:40]}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyViolation(_("Legal holds are lifted, never deleted."))


class LegalHoldEvent(AppendOnlyModel):
    """The append-only history of a legal hold: placed, then possibly lifted, each with who and why."""

    class Action(models.TextChoices):
        PLACED = "placed", _("placed")
        LIFTED = "lifted", _("lifted")

    hold = models.ForeignKey(LegalHold, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    reason = models.TextField(_("reason"))
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("legal hold event")
        verbose_name_plural = _("legal hold events")


class SnapshotShred(AppendOnlyModel):
    """The append-only record that a snapshot's payload was crypto-shredded, and when."""

    snapshot = models.OneToOneField(Snapshot, on_delete=models.PROTECT, related_name="shred")
    battery = models.ForeignKey(Battery, on_delete=models.PROTECT, related_name="+")
    retention_until = models.DateTimeField(_("retained until"))
    shredded_at = models.DateTimeField(_("shredded at"))

    class Meta:
        ordering = ["shredded_at", "id"]
        verbose_name = _("snapshot shredding")
        verbose_name_plural = _("snapshot shreddings")


class TelemetryAccessLog(AppendOnlyModel):
    """Every attempt to read a decrypted snapshot payload: who, for which organisation, why, the answer."""

    class Outcome(models.TextChoices):
        GRANTED = "granted", _("granted")
        REFUSED = "refused", _("refused")

    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="access_log")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    purpose = models.TextField(_("purpose"))
    tier = models.CharField(_("tier"), max_length=30)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    refusal_code = models.CharField(_("refusal code"), max_length=40, blank=True)
    refusal_reason = models.TextField(_("refusal reason"), blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("telemetry access")
        verbose_name_plural = _("telemetry accesses")
        indexes = [models.Index(fields=["snapshot", "-at"], name="telemetry_access_snapshot")]


class LabDesignation(AppendOnlyModel):
    """A regulator's designation of an evaluation institution (test lab) for a period."""

    lab = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="lab_designations",
        limit_choices_to={"kind": Organisation.Kind.TEST_LAB},
        verbose_name=_("evaluation institution"),
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    reference = models.CharField(_("designation reference"), max_length=100, blank=True)
    scope = models.TextField(_("scope"), blank=True)
    designated_by = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("designated by")
    )
    designated_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["lab_id", "-valid_from", "-id"]
        verbose_name = _("lab designation")
        verbose_name_plural = _("lab designations")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="lab_designation_window_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.lab} from {self.valid_from:%Y-%m-%d}"


class LabDesignationWithdrawal(AppendOnlyModel):
    """A designation withdrawn from `effective_at` on: the lab certifies nothing tested after that."""

    designation = models.ForeignKey(LabDesignation, on_delete=models.PROTECT, related_name="withdrawals")
    effective_at = models.DateTimeField(_("effective at"))
    reason = models.TextField(_("reason"))
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["effective_at", "id"]
        verbose_name = _("lab designation withdrawal")
        verbose_name_plural = _("lab designation withdrawals")


class CertificationQuerySet(AppendOnlyQuerySet):
    def visible_to(self, user: Any) -> CertificationQuerySet:
        """Certifications of batteries the user may see, and the lab's own."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        organisation = getattr(user, "organisation", None)
        if user.is_superuser or (organisation is not None and organisation.is_authority):
            return self.all()
        if organisation is None:
            return self.none()
        return self.filter(
            Q(lab=organisation)
            | Q(battery__oem=organisation)
            | Q(battery__current_custodian=organisation)
            | Q(_live_grants(organisation, "battery"))
        )


class Certification(AppendOnlyModel):
    """A designated lab's signed statement about a snapshot or a grading result of a battery."""

    lab = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="certifications")
    key = models.ForeignKey(DeviceKey, on_delete=models.PROTECT, related_name="certifications")
    designation = models.ForeignKey(LabDesignation, on_delete=models.PROTECT, related_name="certifications")
    battery = models.ForeignKey(Battery, on_delete=models.PROTECT, related_name="certifications")
    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.PROTECT, null=True, blank=True, related_name="certifications"
    )
    grading_reference = models.CharField(_("grading reference"), max_length=128, blank=True)
    result = models.CharField(_("result"), max_length=200)
    tested_at = models.DateTimeField(_("tested at"))
    statement = models.JSONField(_("signed statement"))
    statement_hash = models.CharField(_("statement SHA-256"), max_length=64, unique=True)
    signature_alg = models.CharField(_("signature algorithm"), max_length=12)
    signature_value = models.CharField(_("signature (base64)"), max_length=100)
    recorded_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    objects = CertificationQuerySet.as_manager()

    class Meta:
        ordering = ["-tested_at", "-id"]
        verbose_name = _("certification")
        verbose_name_plural = _("certifications")

    def __str__(self) -> str:
        return f"{self.lab}: {self.result}"


class SnapshotUpload(Job):
    """A file of snapshots uploaded in the browser (JSON, JSON Lines or a zip), ingested in the background."""

    file = models.FileField(_("file"), upload_to="passport/snapshots/%Y/%m/", max_length=300)
    original_name = models.CharField(_("original file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    item_count = models.PositiveIntegerField(_("snapshots in the file"), default=0)
    processed_count = models.PositiveIntegerField(_("processed"), default=0)
    stored_count = models.PositiveIntegerField(_("stored"), default=0)
    refused_count = models.PositiveIntegerField(_("refused"), default=0)
    refusals = models.JSONField(_("refused items"), default=list, blank=True)
    battery_codes = models.JSONField(_("batteries reported on"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("snapshot upload")
        verbose_name_plural = _("snapshot uploads")

    def __str__(self) -> str:
        return self.original_name
