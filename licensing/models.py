"""Facilities, the licences they hold and the append-only history that decides each licence's status."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.db import AppendOnlyModel
from licensing.querysets import (
    ActivityListField,
    FacilityQuerySet,
    LicenceEventQuerySet,
    LicenceEvidenceQuerySet,
    LicenceQuerySet,
)

DEFAULT_TIMEZONE = "Asia/Shanghai"


class Activity(models.TextChoices):
    """What a licence may permit a facility to do with batteries."""

    INTAKE = "intake", _("Intake")
    STORAGE = "storage", _("Storage")
    DISMANTLING = "dismantling", _("Dismantling")
    SECOND_LIFE = "second_life", _("Second-life repurposing")
    MATERIAL_RECOVERY = "material_recovery", _("Material recovery")


class Facility(models.Model):
    """A site run by an organisation where batteries are taken in, stored, dismantled or repurposed."""

    organisation = models.ForeignKey(
        "accounts.Organisation",
        on_delete=models.PROTECT,
        related_name="facilities",
        verbose_name=_("organisation"),
    )
    name = models.CharField(_("name"), max_length=200)
    address = models.TextField(_("address"), blank=True)
    province = models.CharField(
        _("province"), max_length=6, help_text=_("ISO 3166-2 subdivision code, e.g. CN-JX.")
    )
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2 code, e.g. CN."))
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        default=DEFAULT_TIMEZONE,
        help_text=_("IANA time zone whose calendar the facility's licences follow, e.g. Asia/Shanghai."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = FacilityQuerySet.as_manager()
    organisation_path = "organisation"

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("facility")
        verbose_name_plural = _("facilities")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name"], name="facility_name_unique_per_organisation"
            ),
            models.CheckConstraint(condition=Q(country__regex=r"^[A-Z]{2}$"), name="facility_country_iso"),
            models.CheckConstraint(
                condition=Q(province__regex=r"^[A-Z]{2}-[A-Z0-9]{1,3}$"), name="facility_province_iso"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Licence(AppendOnlyModel):
    """A licence, permit or white-list listing held by a facility.

    Its fields are the values at issuance and never change: renewals, scope changes, suspensions and
    revocations are `LicenceEvent` rows, and the status at any instant follows from them.
    `starts_at` and `ends_at` are `valid_from`/`valid_until` resolved on the facility's calendar
    (the local midnights that open and close the window), stored so the database can compare instants.
    """

    class Kind(models.TextChoices):
        MIIT_SECOND_LIFE = "miit_second_life", _("MIIT white-list listing (second-life use)")
        MIIT_RECYCLING = "miit_recycling", _("MIIT white-list listing (recycling)")
        ELV_DISMANTLING = "elv_dismantling", _("Provincial end-of-life vehicle dismantling qualification")
        HAZARDOUS_WASTE = "hazardous_waste", _("Hazardous-waste business permit")
        POLLUTANT_DISCHARGE = "pollutant_discharge", _("Pollutant-discharge permit")

    class Status(models.TextChoices):
        """Derived from the history at an instant (see `LicenceQuerySet.with_state`), never stored."""

        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")
        PENDING = "pending", _("Not yet valid")

    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="licences", verbose_name=_("facility")
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    issuing_authority = models.CharField(_("issuing authority"), max_length=200)
    number = models.CharField(_("number"), max_length=100)
    activities = ActivityListField(_("permitted activities"), default=list)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(
        _("valid until"), null=True, blank=True, help_text=_("Empty: no fixed term.")
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    evidence = models.FileField(
        _("evidence"), upload_to="licensing/evidence/%Y/%m/", blank=True, max_length=300
    )
    evidence_sha256 = models.CharField(_("evidence SHA-256"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = LicenceQuerySet.as_manager()
    organisation_path = "facility__organisation"

    class Meta:
        ordering = ["facility_id", "kind", "id"]
        verbose_name = _("licence")
        verbose_name_plural = _("licences")
        constraints = [
            models.UniqueConstraint(
                fields=["issuing_authority", "number"], name="licence_number_unique_per_authority"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="licence_valid_until_not_before_valid_from",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="licence_ends_after_it_starts",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "miit_second_life",
                        "miit_recycling",
                        "elv_dismantling",
                        "hazardous_waste",
                        "pollutant_discharge",
                    ]
                ),
                name="licence_kind_valid",
            ),
        ]
        indexes = [models.Index(fields=["ends_at"], name="licence_ends_at")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number}"

    def activity_labels(self) -> list[str]:
        """Translated names of the activities in force (after `with_state`), else the issued ones."""
        chosen = getattr(self, "current_activities", None) or self.activities
        return [str(Activity(value).label) for value in chosen if value in Activity.values]

    def state_label(self) -> str:
        """The translated status after `with_state`."""
        state = getattr(self, "state", None)
        return str(self.Status(state).label) if state else ""

    def badge_class(self) -> str:
        return {"active": "badge-ok", "pending": "badge-none"}.get(getattr(self, "state", ""), "badge-bad")


class LicenceEvent(AppendOnlyModel):
    """One entry of a licence's history, effective at an instant; the history is never rewritten."""

    class Kind(models.TextChoices):
        ISSUED = "issued", _("Issued")
        RENEWED = "renewed", _("Renewed")
        SCOPE_CHANGED = "scope_changed", _("Scope changed")
        SUSPENDED = "suspended", _("Suspended")
        REINSTATED = "reinstated", _("Reinstated")
        REVOKED = "revoked", _("Revoked")
        EXPIRED = "expired", _("Expired")

    licence = models.ForeignKey(
        Licence, on_delete=models.PROTECT, related_name="events", verbose_name=_("licence")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    effective_at = models.DateTimeField(_("effective at"))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    reason = models.TextField(_("reason"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
        help_text=_("Empty when the daily expiry job recorded the event."),
    )
    evidence = models.FileField(
        _("evidence"), upload_to="licensing/evidence/%Y/%m/", blank=True, max_length=300
    )
    evidence_sha256 = models.CharField(_("evidence SHA-256"), max_length=64, blank=True)
    new_valid_until = models.DateField(_("new valid until"), null=True, blank=True)
    new_ends_at = models.DateTimeField(_("new end"), null=True, blank=True)
    new_activities = ActivityListField(_("new permitted activities"), null=True, blank=True)

    objects = LicenceEventQuerySet.as_manager()
    organisation_path = "licence__facility__organisation"

    class Meta:
        ordering = ["effective_at", "id"]
        verbose_name = _("licence event")
        verbose_name_plural = _("licence events")
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "issued",
                        "renewed",
                        "scope_changed",
                        "suspended",
                        "reinstated",
                        "revoked",
                        "expired",
                    ]
                ),
                name="licence_event_kind_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind="renewed")
                | (Q(new_valid_until__isnull=False) & Q(new_ends_at__isnull=False)),
                name="licence_event_renewal_has_new_end",
            ),
            models.CheckConstraint(
                condition=~Q(kind="scope_changed") | Q(new_activities__isnull=False),
                name="licence_event_scope_change_has_activities",
            ),
            # The expiry job inserts with ON CONFLICT DO NOTHING against these: a rerun adds nothing.
            models.UniqueConstraint(
                fields=["licence"], condition=Q(kind="issued"), name="licence_issued_once"
            ),
            models.UniqueConstraint(
                fields=["licence"], condition=Q(kind="revoked"), name="licence_revoked_once"
            ),
            models.UniqueConstraint(
                fields=["licence", "effective_at"],
                condition=Q(kind="expired"),
                name="licence_expired_once_per_end",
            ),
        ]
        indexes = [
            models.Index(fields=["licence", "kind", "effective_at"], name="licence_event_fold"),
            models.Index(fields=["kind", "effective_at"], name="licence_event_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.licence} {self.kind} @ {self.effective_at:%Y-%m-%d %H:%M}"

    @property
    def is_retroactive(self) -> bool:
        """Recorded after it took effect (beyond a minute of clock slack)."""
        return (self.recorded_at - self.effective_at).total_seconds() > 60


class LicenceEvidence(AppendOnlyModel):
    """A document a facility submitted for a licence (typically renewal evidence), kept as uploaded."""

    licence = models.ForeignKey(
        Licence, on_delete=models.PROTECT, related_name="submissions", verbose_name=_("licence")
    )
    file = models.FileField(_("file"), upload_to="licensing/submissions/%Y/%m/", max_length=300)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveIntegerField(_("size in bytes"))
    content_type = models.CharField(_("content type"), max_length=50)
    original_name = models.CharField(_("original file name"), max_length=255)
    note = models.TextField(_("note"), blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("uploaded by")
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    objects = LicenceEvidenceQuerySet.as_manager()
    organisation_path = "licence__facility__organisation"

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        verbose_name = _("licence evidence")
        verbose_name_plural = _("licence evidence")
        constraints = [
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="licence_evidence_sha256_hex"
            )
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.sha256[:12]})"
