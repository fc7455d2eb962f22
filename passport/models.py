"""Batteries, the OEMs' registry behind them, the keys that sign for them and who may read them."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from accounts.querysets import VisibleToQuerySet
from core.db import AppendOnlyModel, AppendOnlyQuerySet
from passport.querysets import AccessGrantQuerySet, BatteryQuerySet, DeviceKeyQuerySet

MANUFACTURER_CODE_FORMAT = RegexValidator(r"^[A-Z0-9]{3}$", _("A manufacturer code is 3 letters or digits."))


class ProductType(models.TextChoices):
    PACK = "P", _("pack")
    MODULE = "M", _("module")
    CELL = "C", _("cell")


class Chemistry(models.TextChoices):
    LFP = "lfp", _("lithium iron phosphate (LFP)")
    NMC = "nmc", _("nickel manganese cobalt (NMC)")
    NCA = "nca", _("nickel cobalt aluminium (NCA)")
    LMO = "lmo", _("lithium manganese oxide (LMO)")
    LTO = "lto", _("lithium titanate (LTO)")
    LCO = "lco", _("lithium cobalt oxide (LCO)")
    SODIUM_ION = "sodium_ion", _("sodium-ion")


# Typical cell-voltage windows (discharge cut-off, charge cut-off) used when a model gives none.
CELL_VOLTAGE_WINDOWS: dict[str, tuple[Decimal, Decimal]] = {
    Chemistry.LFP: (Decimal("2.500"), Decimal("3.650")),
    Chemistry.NMC: (Decimal("2.800"), Decimal("4.250")),
    Chemistry.NCA: (Decimal("2.700"), Decimal("4.200")),
    Chemistry.LMO: (Decimal("3.000"), Decimal("4.200")),
    Chemistry.LTO: (Decimal("1.500"), Decimal("2.850")),
    Chemistry.LCO: (Decimal("3.000"), Decimal("4.200")),
    Chemistry.SODIUM_ION: (Decimal("1.500"), Decimal("4.000")),
}


class ManufacturerCode(models.Model):
    """A GB/T 34014 three-character manufacturer code and the OEM it is allocated to."""

    code = models.CharField(_("code"), max_length=3, unique=True, validators=[MANUFACTURER_CODE_FORMAT])
    oem = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="manufacturer_codes",
        limit_choices_to={"kind": Organisation.Kind.OEM},
        verbose_name=_("OEM"),
    )
    allocated_at = models.DateTimeField(_("allocated at"), default=timezone.now)

    objects = VisibleToQuerySet.as_manager()
    organisation_path = "oem"

    class Meta:
        ordering = ["code"]
        verbose_name = _("manufacturer code")
        verbose_name_plural = _("manufacturer codes")
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z0-9]{3}$"), name="manufacturer_code_format")
        ]

    def __str__(self) -> str:
        return self.code


class BatteryModel(models.Model):
    """An OEM's battery design: chemistry, ratings and the cell-voltage window of its chemistry."""

    oem = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="battery_models", verbose_name=_("OEM")
    )
    name = models.CharField(_("model designation"), max_length=100)
    chemistry = models.CharField(_("chemistry"), max_length=20, choices=Chemistry.choices)
    product_type = models.CharField(_("product type"), max_length=1, choices=ProductType.choices)
    rated_capacity_ah = models.DecimalField(_("rated capacity (Ah)"), max_digits=10, decimal_places=3)
    nominal_voltage_v = models.DecimalField(_("nominal voltage (V)"), max_digits=9, decimal_places=3)
    rated_energy_kwh = models.DecimalField(_("rated energy (kWh)"), max_digits=10, decimal_places=3)
    mass_kg = models.DecimalField(_("mass (kg)"), max_digits=10, decimal_places=3)
    cell_count = models.PositiveIntegerField(_("cell count"), validators=[MinValueValidator(1)])
    configuration = models.CharField(
        _("cell configuration"), max_length=30, blank=True, help_text=_("Series and parallel, e.g. 96S2P.")
    )
    expected_cycle_life = models.PositiveIntegerField(_("expected cycle life"), null=True, blank=True)
    expected_lifetime_years = models.PositiveSmallIntegerField(
        _("expected lifetime (years)"), null=True, blank=True
    )
    cell_voltage_min_v = models.DecimalField(_("cell voltage minimum (V)"), max_digits=5, decimal_places=3)
    cell_voltage_max_v = models.DecimalField(_("cell voltage maximum (V)"), max_digits=5, decimal_places=3)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = VisibleToQuerySet.as_manager()
    organisation_path = "oem"

    class Meta:
        ordering = ["oem", "name"]
        verbose_name = _("battery model")
        verbose_name_plural = _("battery models")
        constraints = [
            models.UniqueConstraint(fields=["oem", "name"], name="battery_model_name_unique_per_oem"),
            models.CheckConstraint(
                condition=Q(cell_voltage_min_v__lt=models.F("cell_voltage_max_v")),
                name="battery_model_cell_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(
                    rated_capacity_ah__gt=0, nominal_voltage_v__gt=0, rated_energy_kwh__gt=0, mass_kg__gt=0
                ),
                name="battery_model_ratings_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def series_count(self) -> int | None:
        """Cells in series, read from a configuration such as 96S2P."""
        head = self.configuration.upper().split("S", 1)[0]
        return int(head) if "S" in self.configuration.upper() and head.isdigit() and int(head) > 0 else None


class Battery(models.Model):
    """One physical unit (pack, module or cell) under its printed identifier."""

    class Status(models.TextChoices):
        REGISTERED = "registered", _("registered")
        IN_USE = "in_use", _("in use")
        RETIRED = "retired", _("retired")
        IN_CUSTODY = "in_custody", _("in custody of a recycler")
        GRADED = "graded", _("graded")
        DISMANTLED = "dismantled", _("dismantled")
        REPURPOSED = "repurposed", _("repurposed")
        RECYCLED = "recycled", _("recycled")
        DISPOSED = "disposed", _("disposed")

    class Origin(models.TextChoices):
        VERIFIED = "verified", _("verified by the OEM")
        CLAIMED = "claimed", _("claimed")
        DISPUTED = "disputed", _("disputed")

    class Scheme(models.TextChoices):
        GBT34014 = "gbt34014", _("GB/T 34014")
        GBT34014_RECODED = "gbt34014-recoded", _("GB/T 34014 (re-coded)")
        GS1 = "gs1", _("GS1 GTIN + serial")

    code = models.CharField(_("code"), max_length=40, unique=True)
    scheme = models.CharField(_("scheme"), max_length=20, choices=Scheme.choices)
    gs1_gtin = models.CharField(_("GTIN"), max_length=14, null=True, blank=True)
    gs1_serial = models.CharField(_("GS1 serial"), max_length=20, null=True, blank=True)
    manufacturer_code = models.CharField(_("manufacturer code"), max_length=3, blank=True)
    product_type = models.CharField(_("product type"), max_length=1, choices=ProductType.choices)
    battery_type = models.CharField(_("battery type"), max_length=1, blank=True)
    spec_code = models.CharField(_("specification code"), max_length=2, blank=True)
    traceability_code = models.CharField(_("traceability code"), max_length=7, blank=True)
    serial = models.CharField(_("serial"), max_length=7, blank=True)
    production_date = models.DateField(_("production date"))
    oem = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("OEM"))
    battery_model = models.ForeignKey(
        BatteryModel,
        on_delete=models.PROTECT,
        related_name="batteries",
        null=True,
        blank=True,
        verbose_name=_("battery model"),
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        related_name="children",
        null=True,
        blank=True,
        verbose_name=_("part of"),
    )
    original = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        related_name="recodings",
        null=True,
        blank=True,
        verbose_name=_("re-coded from"),
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.REGISTERED)
    current_custodian = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("current custodian")
    )
    origin = models.CharField(_("origin"), max_length=10, choices=Origin.choices)
    registered_by = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("registered by")
    )
    registered_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    registered_at = models.DateTimeField(_("registered at"), default=timezone.now)
    registration_key = models.ForeignKey(
        "DeviceKey",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="registrations",
        verbose_name=_("registration signed with"),
    )
    registration_record = models.JSONField(_("signed registration record"), null=True, blank=True)

    objects = BatteryQuerySet.as_manager()

    class Meta:
        ordering = ["-registered_at", "code"]
        verbose_name = _("battery")
        verbose_name_plural = _("batteries")
        indexes = [
            models.Index(fields=["oem", "-registered_at"], name="battery_oem_recent"),
            models.Index(fields=["current_custodian", "status"], name="battery_custodian_status"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["gs1_gtin", "gs1_serial"],
                condition=Q(gs1_gtin__isnull=False),
                name="battery_gs1_unique",
            ),
            models.CheckConstraint(
                condition=Q(product_type__in=["P", "M", "C"]), name="battery_product_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(origin__in=["verified", "claimed", "disputed"]), name="battery_origin_valid"
            ),
            models.CheckConstraint(condition=~Q(parent=models.F("id")), name="battery_not_own_parent"),
            models.CheckConstraint(
                condition=Q(scheme="gs1", gs1_gtin__isnull=False, gs1_serial__isnull=False)
                | Q(~Q(scheme="gs1"), gs1_gtin__isnull=True, gs1_serial__isnull=True),
                name="battery_gs1_fields_match_scheme",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_gs1(self) -> bool:
        return self.scheme == self.Scheme.GS1


class DeviceKey(models.Model):
    """A registered public key: a BMS test device, an OEM's registration signer or a lab's certifier."""

    class Algorithm(models.TextChoices):
        ED25519 = "Ed25519", "Ed25519"
        ECDSA_P256 = "ECDSA-P256", "ECDSA P-256"

    class Purpose(models.TextChoices):
        BMS_DEVICE = "bms_device", _("BMS test device")
        REGISTRATION = "registration", _("OEM registration signing")
        CERTIFICATION = "certification", _("certification by an evaluation institution")

    key_id = models.CharField(
        _("key id"), max_length=64, unique=True, help_text=_("Hex SHA-256 of the raw public key.")
    )
    algorithm = models.CharField(_("algorithm"), max_length=12, choices=Algorithm.choices)
    public_key_pem = models.TextField(_("public key (PEM)"))
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="device_keys", verbose_name=_("organisation")
    )
    facility = models.ForeignKey(
        "licensing.Facility",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="device_keys",
        verbose_name=_("facility"),
    )
    device_serial = models.CharField(_("device serial"), max_length=100, blank=True)
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    label = models.CharField(_("label"), max_length=200, blank=True)
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = DeviceKeyQuerySet.as_manager()
    organisation_path = "organisation"

    class Meta:
        ordering = ["organisation", "-created_at"]
        verbose_name = _("device key")
        verbose_name_plural = _("device keys")
        constraints = [
            models.CheckConstraint(
                condition=Q(key_id__regex=r"^[0-9a-f]{64}$"), name="device_key_id_hex_sha256"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="device_key_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_id[:16]}… ({self.get_purpose_display()})"


class DeviceKeyRevocation(AppendOnlyModel):
    """A key's revocation: from `effective_at` on, nothing it signs is accepted."""

    key = models.ForeignKey(
        DeviceKey, on_delete=models.PROTECT, related_name="revocations", verbose_name=_("key")
    )
    effective_at = models.DateTimeField(_("effective at"))
    reason = models.TextField(_("reason"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["effective_at"]
        verbose_name = _("device key revocation")
        verbose_name_plural = _("device key revocations")


class AccessGrant(models.Model):
    """Legitimate-interest access to one battery, granted by its custodian to another organisation."""

    battery = models.ForeignKey(Battery, on_delete=models.PROTECT, related_name="access_grants")
    grantee = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="passport_grants", verbose_name=_("granted to")
    )
    granted_by = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("granted by")
    )
    granted_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revocation_reason = models.CharField(_("revocation reason"), max_length=300, blank=True)

    objects = AccessGrantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("access grant")
        verbose_name_plural = _("access grants")
        indexes = [models.Index(fields=["battery", "grantee"], name="access_grant_lookup")]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gt=models.F("valid_from")), name="access_grant_window_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"{self.battery} → {self.grantee}"

    def is_live(self, at: object | None = None) -> bool:
        moment = at or timezone.now()
        return self.revoked_at is None and self.valid_from <= moment < self.valid_until  # type: ignore[operator]


class CloneAlert(AppendOnlyModel):
    """An attempt to register a code that is already registered: a possible cloned label."""

    code = models.CharField(_("code"), max_length=40, db_index=True)
    battery = models.ForeignKey(Battery, on_delete=models.PROTECT, related_name="clone_alerts")
    attempted_by = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("attempted by")
    )
    attempted_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=20)
    detected_at = models.DateTimeField(_("detected at"), default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-detected_at"]
        verbose_name = _("clone alert")
        verbose_name_plural = _("clone alerts")

    def __str__(self) -> str:
        return self.code


class Job(models.Model):
    """Shared shape of a long-running web job polled by the browser: status, percent and counts."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("done")
        FAILED = "failed", _("failed")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    percent = models.PositiveSmallIntegerField(_("percent done"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = VisibleToQuerySet.as_manager()
    organisation_path = "organisation"

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}


class RegistrationImport(Job):
    """A bulk CSV registration: validated whole, then imported whole or not at all."""

    file = models.FileField(_("file"), upload_to="passport/imports/%Y/%m/", max_length=300)
    original_name = models.CharField(_("original file name"), max_length=255)
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    imported_count = models.PositiveIntegerField(_("imported"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("registration import")
        verbose_name_plural = _("registration imports")

    def __str__(self) -> str:
        return self.original_name


class LabelSheet(Job):
    """A printable A4 PDF of QR labels for a selection of batteries."""

    codes = models.JSONField(_("codes"), default=list)
    file = models.FileField(_("file"), upload_to="passport/labels/%Y/%m/", max_length=300, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("label sheet")
        verbose_name_plural = _("label sheets")

    def __str__(self) -> str:
        return f"{len(self.codes)} labels"


from passport.snapshots import models as snapshot_models  # noqa: E402,F401  (registers them in this app)
