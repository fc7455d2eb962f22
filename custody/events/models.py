"""Custody events: one append-only, hash-chained row per change of state or custodian.

Each battery and each material lot has its own chain: `seq` counts from 0, `prev_hash` is the hash of
the subject's previous event, and `hash` is SHA-256 of `body`, the RFC 8785 canonical JSON text of
the event body (the exact bytes hashed, kept as text so a bundle reproduces them byte for byte; see
`custody.events.body`). A unique (subject, seq) pair means two writers can never fork a chain.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from core.db import AppendOnlyModel, AppendOnlyQuerySet
from licensing.models import Activity, Facility, Licence
from passport.models import Battery

HASH_SIZE = 32


class EventType(models.TextChoices):
    """What happened to the subject; the state machine in `custody.events.machine` says when each may."""

    REGISTERED = "registered", _("registered")
    RETIRED = "retired", _("retired from use")
    INTAKE = "intake", _("taken in")
    GRADED = "graded", _("graded")
    TRANSFER_INITIATED = "transfer_initiated", _("transfer initiated")
    TRANSFER_ACCEPTED = "transfer_accepted", _("transfer accepted")
    TRANSFER_REJECTED = "transfer_rejected", _("transfer rejected")
    TRANSFER_EXPIRED = "transfer_expired", _("transfer expired")
    TRANSFER_CANCELLED = "transfer_cancelled", _("transfer cancelled")
    DISMANTLED = "dismantled", _("dismantled")
    REPURPOSED = "repurposed", _("repurposed")
    RECYCLED = "recycled", _("recycled")
    LOT_CREATED = "lot_created", _("lot created")
    LOT_SPLIT = "lot_split", _("lot split")
    LOT_MERGED = "lot_merged", _("lot merged")
    EXPORTED = "exported", _("exported")
    DISPOSED = "disposed", _("disposed")


class CustodyEventQuerySet(AppendOnlyQuerySet):
    """Events: append-only; `of_battery` / `of_lot` in chain order."""

    def of_battery(self, battery: Battery | int) -> CustodyEventQuerySet:
        return self.filter(battery=battery).order_by("seq")

    def of_lot(self, lot: object) -> CustodyEventQuerySet:
        return self.filter(lot=lot).order_by("seq")


def _is_hash(field: str) -> Exact:
    return Exact(Length(field), HASH_SIZE)


class CustodyEvent(AppendOnlyModel):
    """One link of a battery's or a material lot's custody chain, covered by a licence when it needs one."""

    class SubjectKind(models.TextChoices):
        BATTERY = "battery", _("battery")
        LOT = "lot", _("material lot")

    type = models.CharField(_("type"), max_length=24, choices=EventType.choices)
    battery = models.ForeignKey(
        Battery,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="custody_events",
        verbose_name=_("battery"),
    )
    lot = models.ForeignKey(
        "custody.MaterialLot",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("material lot"),
    )
    seq = models.PositiveIntegerField(_("sequence number"))
    actor = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("organisation")
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="custody_events",
        verbose_name=_("facility"),
    )
    activity = models.CharField(_("licensed activity"), max_length=20, choices=Activity.choices, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    recorded_at = models.DateTimeField(_("recorded at"))
    licence = models.ForeignKey(
        Licence,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="custody_events",
        verbose_name=_("licence"),
    )
    licence_status = models.CharField(_("licence status then"), max_length=12, blank=True)
    transfer = models.ForeignKey(
        "custody.Transfer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("transfer"),
    )
    snapshots = models.ManyToManyField(
        "passport.Snapshot",
        through="custody.EventSnapshot",
        related_name="custody_events",
        verbose_name=_("snapshots"),
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True)
    request_fingerprint = models.CharField(_("request fingerprint"), max_length=64, blank=True)
    prev_hash = models.BinaryField(_("previous hash"), max_length=HASH_SIZE, null=True, blank=True)
    hash = models.BinaryField(_("hash"), max_length=HASH_SIZE, unique=True)
    body = models.TextField(_("canonical body"))

    objects = CustodyEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name = _("custody event")
        verbose_name_plural = _("custody events")
        constraints = [
            models.CheckConstraint(
                condition=Q(battery__isnull=False, lot__isnull=True)
                | Q(battery__isnull=True, lot__isnull=False),
                name="custody_event_one_subject",
            ),
            # Concurrent writers of one chain: the second insert of a sequence number fails.
            models.UniqueConstraint(
                fields=["battery", "seq"],
                condition=Q(battery__isnull=False),
                name="custody_event_battery_seq",
            ),
            models.UniqueConstraint(
                fields=["lot", "seq"], condition=Q(lot__isnull=False), name="custody_event_lot_seq"
            ),
            models.UniqueConstraint(
                fields=["actor", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="custody_event_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(seq=0, prev_hash__isnull=True) | Q(seq__gt=0, prev_hash__isnull=False),
                name="custody_event_prev_hash_follows_seq",
            ),
            models.CheckConstraint(condition=_is_hash("hash"), name="custody_event_hash_size"),
            models.CheckConstraint(condition=Q(type__in=EventType.values), name="custody_event_type_valid"),
        ]
        indexes = [
            models.Index(fields=["facility", "occurred_at"], name="custody_event_site_time"),
            models.Index(fields=["licence"], name="custody_event_licence"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_code} #{self.seq} {self.type}"

    @property
    def subject_kind(self) -> str:
        return self.SubjectKind.BATTERY if self.battery_id else self.SubjectKind.LOT

    @property
    def subject_code(self) -> str:
        subject = self.battery if self.battery_id else self.lot
        return subject.code if subject is not None else ""

    @property
    def hash_hex(self) -> str:
        return bytes(self.hash).hex()

    @property
    def prev_hash_hex(self) -> str | None:
        return bytes(self.prev_hash).hex() if self.prev_hash is not None else None


class EventSnapshot(AppendOnlyModel):
    """A signed BMS snapshot an event relies on (what the intake or grading saw)."""

    event = models.ForeignKey(CustodyEvent, on_delete=models.PROTECT, related_name="+")
    snapshot = models.ForeignKey("passport.Snapshot", on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("event snapshot")
        verbose_name_plural = _("event snapshots")
        constraints = [
            models.UniqueConstraint(fields=["event", "snapshot"], name="custody_event_snapshot_once")
        ]


class EventInput(AppendOnlyModel):
    """What a transforming event consumed: a battery or lot, by the event of that subject that records it.

    Kept beside the body's `inputs` so that the lawful-origin trace of a lot is one recursive query.
    """

    event = models.ForeignKey(CustodyEvent, on_delete=models.PROTECT, related_name="inputs")
    position = models.PositiveSmallIntegerField(_("position"))
    input_event = models.ForeignKey(CustodyEvent, on_delete=models.PROTECT, related_name="consumed_by")
    input_battery = models.ForeignKey(
        Battery, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    input_lot = models.ForeignKey(
        "custody.MaterialLot", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    mass_kg = models.DecimalField(_("mass (kg)"), max_digits=14, decimal_places=3, null=True, blank=True)

    class Meta:
        ordering = ["event_id", "position"]
        verbose_name = _("event input")
        verbose_name_plural = _("event inputs")
        constraints = [
            models.UniqueConstraint(fields=["event", "position"], name="custody_event_input_position"),
            models.CheckConstraint(
                condition=Q(input_battery__isnull=False, input_lot__isnull=True)
                | Q(input_battery__isnull=True, input_lot__isnull=False),
                name="custody_event_input_one_subject",
            ),
        ]
        indexes = [models.Index(fields=["input_event"], name="custody_input_source")]


class BundleExport(AppendOnlyModel):
    """One verification bundle handed out: who asked, for what, at which tier (every export is logged)."""

    class Channel(models.TextChoices):
        API = "api", _("API")
        COMMAND = "command", _("command line")
        WEB = "web", _("web")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    scope = models.JSONField(_("scope"))
    tier = models.CharField(_("tier"), max_length=24)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("bundle export")
        verbose_name_plural = _("bundle exports")

    def __str__(self) -> str:
        return f"{self.channel} {self.created_at:%Y-%m-%d %H:%M}"
