"""Two-party transfers: the sender proposes, the receiver accepts or rejects, or the offer expires."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from accounts.querysets import VisibleToQuerySet
from licensing.models import Facility
from passport.models import Battery


class TransferQuerySet(VisibleToQuerySet):
    """Transfers: the sending and the receiving organisation see them."""

    def scope_for(self, organisation: Organisation) -> Q:
        return Q(from_organisation=organisation) | Q(to_organisation=organisation)

    def pending(self) -> TransferQuerySet:
        return self.filter(status=Transfer.Status.PENDING)

    def due_to_expire(self, at: object) -> TransferQuerySet:
        return self.pending().filter(expires_at__lte=at)


class Transfer(models.Model):
    """A handover of one battery or material lot from one organisation's site to another's."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        ACCEPTED = "accepted", _("accepted")
        REJECTED = "rejected", _("rejected")
        EXPIRED = "expired", _("expired")
        CANCELLED = "cancelled", _("cancelled")

    battery = models.ForeignKey(
        Battery, on_delete=models.PROTECT, null=True, blank=True, related_name="transfers"
    )
    lot = models.ForeignKey(
        "custody.MaterialLot", on_delete=models.PROTECT, null=True, blank=True, related_name="transfers"
    )
    from_organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("from")
    )
    from_facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from site"),
    )
    to_organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("to")
    )
    to_facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="+", verbose_name=_("to site")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    initiated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    initiate_key = models.CharField(_("idempotency key of the offer"), max_length=100, null=True, blank=True)
    decision_key = models.CharField(_("idempotency key of the answer"), max_length=100, null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    objects = TransferQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        indexes = [models.Index(fields=["status", "expires_at"], name="transfer_due")]
        constraints = [
            models.CheckConstraint(
                condition=Q(battery__isnull=False, lot__isnull=True)
                | Q(battery__isnull=True, lot__isnull=False),
                name="transfer_one_subject",
            ),
            models.CheckConstraint(
                condition=~Q(from_organisation=models.F("to_organisation")), name="transfer_not_to_self"
            ),
            # At most one open offer per battery or lot: the backstop behind the row lock.
            models.UniqueConstraint(
                fields=["battery"], condition=Q(status="pending"), name="transfer_one_pending_per_battery"
            ),
            models.UniqueConstraint(
                fields=["lot"], condition=Q(status="pending"), name="transfer_one_pending_per_lot"
            ),
            models.UniqueConstraint(
                fields=["from_organisation", "initiate_key"],
                condition=Q(initiate_key__isnull=False),
                name="transfer_initiate_key_once",
            ),
            models.UniqueConstraint(
                fields=["to_organisation", "decision_key"],
                condition=Q(decision_key__isnull=False),
                name="transfer_decision_key_once",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "accepted", "rejected", "expired", "cancelled"]),
                name="transfer_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_code} → {self.to_organisation}"

    @property
    def subject_code(self) -> str:
        subject = self.battery if self.battery_id else self.lot
        return subject.code if subject is not None else ""

    @property
    def subject_kind(self) -> str:
        return "battery" if self.battery_id else "lot"
