"""Material lots: black mass, scrap and recovered salts, with their mass and their own custody chain."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from accounts.querysets import VisibleToQuerySet
from licensing.models import Facility


class Material(models.TextChoices):
    BLACK_MASS = "black_mass", _("black mass")
    CATHODE_SCRAP = "cathode_scrap", _("cathode scrap")
    COBALT_SALT = "cobalt_salt", _("recovered cobalt salt")
    NICKEL_SALT = "nickel_salt", _("recovered nickel salt")
    LITHIUM_SALT = "lithium_salt", _("recovered lithium salt")
    MANGANESE_SALT = "manganese_salt", _("recovered manganese salt")


class MaterialLotQuerySet(VisibleToQuerySet):
    """Lots: their custodian and the organisation that produced them see them (authorities see all)."""

    def scope_for(self, organisation: Organisation) -> Q:
        return Q(current_custodian=organisation) | Q(produced_by=organisation)


class MaterialLot(models.Model):
    """A quantity of one recovered material, produced by a recycling step, split, merged or transferred."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SPLIT = "split", _("split into smaller lots")
        MERGED = "merged", _("merged into another lot")
        CONSUMED = "consumed", _("consumed by further recovery")
        EXPORTED = "exported", _("exported")
        DISPOSED = "disposed", _("disposed")

    code = models.CharField(_("code"), max_length=32, unique=True)
    material = models.CharField(_("material"), max_length=20, choices=Material.choices)
    mass_kg = models.DecimalField(_("mass (kg)"), max_digits=14, decimal_places=3)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    current_custodian = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("current custodian")
    )
    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="material_lots",
        verbose_name=_("site"),
    )
    produced_by = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("produced by")
    )
    produced_at = models.DateTimeField(_("produced at"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = MaterialLotQuerySet.as_manager()

    class Meta:
        ordering = ["-produced_at", "code"]
        verbose_name = _("material lot")
        verbose_name_plural = _("material lots")
        indexes = [models.Index(fields=["current_custodian", "status"], name="lot_custodian_status")]
        constraints = [
            models.CheckConstraint(condition=Q(mass_kg__gt=0), name="lot_mass_positive"),
            models.CheckConstraint(condition=Q(material__in=Material.values), name="lot_material_valid"),
        ]

    def __str__(self) -> str:
        return self.code
