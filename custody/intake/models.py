"""Batch intake from a CSV file: stored, checked whole, then recorded whole or not at all."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from licensing.models import Facility
from passport.models import Job


class IntakeImport(Job):
    """A CSV of batteries taken in at one site; a background job checks every row, then records them all."""

    file = models.FileField(_("file"), upload_to="custody/intake/%Y/%m/", max_length=300)
    original_name = models.CharField(_("original file name"), max_length=255)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+", verbose_name=_("site"))
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    recorded_count = models.PositiveIntegerField(_("recorded"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    report = models.JSONField(_("per-row report"), default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("intake import")
        verbose_name_plural = _("intake imports")

    def __str__(self) -> str:
        return self.original_name
