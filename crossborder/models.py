"""Transfer approvals (the legal basis for sending data abroad), their revocations, and the export log.

All three are append-only: an approval is never edited (a changed approval is a new record, the old
one revoked), and the log is evidence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Organisation
from accounts.querysets import VisibleToQuerySet
from core.db import AppendOnlyModel, AppendOnlyQuerySet


class DataClass(models.TextChoices):
    """What a transfer carries (DESIGN.md, "Data leaving the jurisdiction")."""

    PUBLIC = "public", _("public")
    RESTRICTED = "restricted", _("restricted (legitimate interest)")
    TELEMETRY = "telemetry", _("telemetry (raw BMS data)")
    PERSONAL = "personal", _("personal (vehicle and owner identifiers)")


# Only these need an approval to leave their jurisdiction.
SENSITIVE_CLASSES = frozenset({DataClass.TELEMETRY.value, DataClass.PERSONAL.value})
# What an approval may name ("restricted" is allowed for the record, though the gate never asks for it).
APPROVABLE_CLASSES = frozenset({DataClass.RESTRICTED.value, *SENSITIVE_CLASSES})


class Channel(models.TextChoices):
    """The known ways data leaves; the log accepts other lower-case slugs for new channels."""

    API_READ = "api_read", _("API read")
    REPORT = "report", _("report")
    REPORT_DOWNLOAD = "report_download", _("report download")
    BUNDLE = "bundle", _("verification bundle")
    HISTORY = "history", _("data-history request")
    COMPLIANCE_REPORT = "compliance_report", _("compliance report")
    ANONYMISED_EXPORT = "anonymised_export", _("anonymised export")


class ApprovalQuerySet(AppendOnlyQuerySet, VisibleToQuerySet):
    """Approvals are seen by authorities and by the two organisations they concern."""

    def scope_for(self, organisation: Organisation) -> models.Q:
        return models.Q(holder=organisation.pk) | models.Q(recipient=organisation.pk)

    def for_recipient(self, recipient: Organisation) -> ApprovalQuerySet:
        return self.filter(recipient=recipient)

    def in_force(self, moment: datetime) -> ApprovalQuerySet:
        """Live at `moment`: within its validity (both ends inclusive) and not revoked by then."""
        return self.filter(valid_from__lte=moment, valid_until__gte=moment).exclude(
            revocation__at__lte=moment
        )


class TransferApproval(AppendOnlyModel):
    """The recorded legal basis for a holder to send classes of data to one recipient in one country.

    `holder` is the data exporter (whose data leaves); `reference` is the approval number from the
    regulator's portal, the standard-contract filing number, the certificate number or the legal
    provision of an exemption.
    """

    class Basis(models.TextChoices):
        REGULATOR_APPROVAL = "regulator_approval", _("regulator's approval (security assessment)")
        STANDARD_CONTRACT = "standard_contract", _("standard contract filing")
        CERTIFICATION = "certification", _("personal information protection certification")
        EXEMPTION = "exemption", _("exemption under a legal provision")

    class Status(models.TextChoices):
        PENDING = "pending", _("not yet valid")
        IN_FORCE = "in_force", _("in force")
        EXPIRED = "expired", _("expired")
        REVOKED = "revoked", pgettext_lazy("approval", "revoked")

    holder = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="transfer_approvals_given",
        verbose_name=_("data holder"),
    )
    recipient = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="transfer_approvals_received",
        verbose_name=_("recipient"),
    )
    destination_country = models.CharField(_("destination country"), max_length=2)
    data_classes = models.JSONField(_("data classes"), default=list)
    basis = models.CharField(_("legal basis"), max_length=30, choices=Basis.choices)
    reference = models.CharField(_("reference"), max_length=100)
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    notes = models.TextField(_("notes"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_by_organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    objects = ApprovalQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        verbose_name = _("transfer approval")
        verbose_name_plural = _("transfer approvals")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__gt=models.F("valid_from")),
                name="crossborder_approval_period_forward",
            ),
            models.CheckConstraint(
                condition=models.Q(destination_country__regex=r"^[A-Z]{2}$"),
                name="crossborder_approval_country_iso",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    basis__in=["regulator_approval", "standard_contract", "certification", "exemption"]
                ),
                name="crossborder_approval_basis_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(holder=models.F("recipient")), name="crossborder_approval_two_parties"
            ),
            models.UniqueConstraint(
                fields=["holder", "recipient", "reference"], name="crossborder_approval_reference_once"
            ),
        ]
        indexes = [models.Index(fields=["recipient", "valid_until"], name="crossborder_approval_recip")]

    def __str__(self) -> str:
        return f"{self.reference}: {self.holder} -> {self.recipient} ({self.destination_country})"

    def revocation_or_none(self) -> ApprovalRevocation | None:
        try:
            return self.revocation
        except ApprovalRevocation.DoesNotExist:
            return None

    def status_at(self, moment: datetime | None = None) -> str:
        """pending, in_force, expired or revoked at `moment` (default: now)."""
        moment = moment or timezone.now()
        revocation = self.revocation_or_none()
        if revocation is not None and revocation.at <= moment:
            return self.Status.REVOKED
        if moment < self.valid_from:
            return self.Status.PENDING
        if moment > self.valid_until:
            return self.Status.EXPIRED
        return self.Status.IN_FORCE

    @property
    def status(self) -> str:
        return self.status_at()

    def get_status_display(self) -> Any:
        return self.Status(self.status).label


class ApprovalRevocation(AppendOnlyModel):
    """The end of an approval before its term: from `at` on it no longer matches any transfer."""

    approval = models.OneToOneField(TransferApproval, on_delete=models.PROTECT, related_name="revocation")
    reason = models.TextField(_("reason"))
    at = models.DateTimeField(_("revoked at"), default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    by_organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("approval revocation")
        verbose_name_plural = _("approval revocations")

    def __str__(self) -> str:
        return f"{self.approval.reference} revoked {self.at:%Y-%m-%d}"


class ExportLogQuerySet(AppendOnlyQuerySet, VisibleToQuerySet):
    """Authorities see every entry; an organisation those where it acted, received or held the data."""

    def scope_for(self, organisation: Organisation) -> models.Q:
        return (
            models.Q(organisation=organisation.pk)
            | models.Q(recipient=organisation.pk)
            | models.Q(holder=organisation.pk)
        )


class ExportLogEntry(AppendOnlyModel):
    """One decision of the export gate or one release scan: who sent what where, why, and the answer.

    `scan` holds a scan's summary only (bytes read, hit counts by kind, line:column locations), never
    an identifier or a masked form of it.
    """

    class Outcome(models.TextChoices):
        ALLOWED = "allowed", _("allowed (approval on record)")
        NOT_REQUIRED = "not_required", _("no approval needed")
        REFUSED = "refused", _("refused")
        BLOCKED = "blocked", _("blocked by the scanner")

    at = models.DateTimeField(_("at"), default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor's organisation"),
    )
    holder = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("data holder"),
    )
    recipient = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    destination_country = models.CharField(_("destination country"), max_length=2, blank=True)
    data_jurisdiction = models.CharField(_("data jurisdiction"), max_length=2)
    data_classes = models.JSONField(_("data classes"), default=list)
    channel = models.CharField(_("channel"), max_length=40)
    subject = models.CharField(_("subject"), max_length=300)
    purpose = models.TextField(_("purpose"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    approval = models.ForeignKey(
        TransferApproval, on_delete=models.PROTECT, null=True, blank=True, related_name="exports"
    )
    code = models.CharField(_("code"), max_length=60, blank=True)
    message = models.TextField(_("message"), blank=True)
    scanned = models.BooleanField(_("scanned before release"), default=False)
    scan = models.JSONField(_("scan summary"), default=dict, blank=True)

    objects = ExportLogQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("export log entry")
        verbose_name_plural = _("export log entries")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=["allowed", "not_required", "refused", "blocked"]),
                name="crossborder_export_outcome_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(outcome="allowed") | models.Q(approval__isnull=False),
                name="crossborder_export_allowed_has_approval",
            ),
        ]
        indexes = [
            models.Index(fields=["-at"], name="crossborder_export_at"),
            models.Index(fields=["outcome", "-at"], name="crossborder_export_outcome"),
            models.Index(fields=["recipient", "-at"], name="crossborder_export_recipient"),
            models.Index(fields=["holder", "-at"], name="crossborder_export_holder"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.channel} {self.outcome}"
