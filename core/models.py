"""Rows several apps share: the record every periodic or long job writes."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class JobRun(models.Model):
    """One run of a periodic or long job: when, how it ended, what it counted."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    job = models.CharField(_("job"), max_length=100, db_index=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["job", "-started_at"], name="jobrun_job_started")]

    def __str__(self) -> str:
        return f"{self.job} {self.status} {self.started_at:%Y-%m-%d %H:%M}"

    def finish(self, *, counts: dict[str, Any] | None = None, error: str = "") -> None:
        self.status = self.Status.FAILED if error else self.Status.SUCCEEDED
        self.finished_at = timezone.now()
        if counts is not None:
            self.counts = counts
        self.error = error
        self.save(update_fields=["status", "finished_at", "counts", "error"])
