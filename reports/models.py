"""Reports: one requested file in one format over a resolved scope, its files, and who downloaded them.

A report is built once, in the background, by `reports.services.build_report`; its files live under
MEDIA_ROOT/reports/<storage key>/ until they expire (REPORT_TTL_HOURS), when the files are deleted and
the report is marked expired. The downloads log is append-only.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from core.db import AppendOnlyModel, AppendOnlyQuerySet


class ReportQuerySet(models.QuerySet):
    """Reports are private to the organisation that asked for them, authorities included."""

    def visible_to(self, user: Any) -> ReportQuerySet:
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        organisation = getattr(user, "organisation", None)
        if organisation is None:
            return self.none()
        return self.filter(organisation=organisation)


class Report(models.Model):
    """A custody report: who asked for what scope in which format, and how far building it got."""

    class Format(models.TextChoices):
        PDF = "pdf", _("PDF for people")
        CSV = "csv", _("CSV table of custody events")
        BUNDLE = "bundle", _("Verification bundle (JSON)")
        EPCIS = "epcis", _("GS1 EPCIS 2.0 (JSON-LD)")

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("done")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")
        EXPIRED = "expired", _("expired")

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("organisation")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    format = models.CharField(_("format"), max_length=10, choices=Format.choices)
    scope = models.JSONField(_("scope"), default=dict, help_text=_("The scope as requested."))
    subjects = models.JSONField(
        _("subjects"), default=dict, help_text=_("The resolved battery and lot ids the report covers.")
    )
    subject_count = models.PositiveIntegerField(_("subjects"), default=0)
    anonymised = models.BooleanField(_("anonymised"), default=False)
    language = models.CharField(_("language"), max_length=10, default="en")
    purpose = models.CharField(_("purpose"), max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    percent = models.PositiveSmallIntegerField(_("percent done"), default=0)
    done_count = models.PositiveIntegerField(_("subjects done"), default=0)
    total_count = models.PositiveIntegerField(_("subjects in all"), default=0)
    unit_count = models.PositiveIntegerField(
        _("units written"), default=0, help_text=_("Rows, events or pages the format wrote.")
    )
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    error_code = models.CharField(_("error code"), max_length=60, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    storage_key = models.CharField(_("storage key"), max_length=64, unique=True)
    manifest = models.JSONField(_("signed manifest"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        indexes = [
            models.Index(fields=["organisation", "-created_at"], name="report_organisation_recent"),
            models.Index(fields=["status", "expires_at"], name="report_status_expiry"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "succeeded", "failed", "cancelled", "expired"]),
                name="report_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(format__in=["pdf", "csv", "bundle", "epcis"]), name="report_format_valid"
            ),
            models.CheckConstraint(condition=Q(percent__lte=100), name="report_percent_at_most_100"),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.get_format_display()} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status not in {self.Status.PENDING, self.Status.RUNNING}

    @property
    def can_cancel(self) -> bool:
        return not self.is_finished and not self.cancel_requested


class ReportFile(models.Model):
    """One file of a built report (the report itself, or its signed manifest) with its SHA-256."""

    class Kind(models.TextChoices):
        MAIN = "main", _("report")
        MANIFEST = "manifest", _("signed manifest")

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="files")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=200)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    path = models.CharField(_("path in storage"), max_length=500, help_text=_("Relative to MEDIA_ROOT."))
    content_type = models.CharField(_("content type"), max_length=100)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["report_id", "kind", "name"]
        verbose_name = _("report file")
        verbose_name_plural = _("report files")
        constraints = [
            models.UniqueConstraint(fields=["report", "name"], name="report_file_name_unique"),
            models.CheckConstraint(condition=Q(kind__in=["main", "manifest"]), name="report_file_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class ReportDownload(AppendOnlyModel):
    """One download of a report file: by whom, for which organisation, when and why (never edited)."""

    class Channel(models.TextChoices):
        API = "api", _("API")
        WEB = "web", _("web")

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="downloads")
    file = models.ForeignKey(ReportFile, on_delete=models.PROTECT, related_name="downloads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=300, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("report download")
        verbose_name_plural = _("report downloads")

    def __str__(self) -> str:
        return f"{self.file} {self.at:%Y-%m-%d %H:%M}"
