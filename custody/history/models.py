"""History requests: the request row (its status), its append-only event log and its deliveries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from accounts.querysets import VisibleToQuerySet
from core.db import AppendOnlyModel, AppendOnlyQuerySet
from passport.models import Battery


class HistoryRequestQuerySet(VisibleToQuerySet):
    """Requests: the requesting organisation, the custodian asked, and the battery's current custodian
    see them (authorities see all, as with every disclosure record)."""

    def scope_for(self, organisation: Organisation) -> Q:
        return (
            Q(requester=organisation) | Q(custodian=organisation) | Q(battery__current_custodian=organisation)
        )

    def pending(self) -> HistoryRequestQuerySet:
        return self.filter(status=HistoryRequest.Status.REQUESTED)


class HistoryRequest(models.Model):
    """One organisation's request to a battery's custodian for the battery's documented BMS history."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("requested")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        DELIVERED = "delivered", _("delivered")

    battery = models.ForeignKey(
        Battery, on_delete=models.PROTECT, related_name="history_requests", verbose_name=_("battery")
    )
    requester = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by user"),
    )
    custodian = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("custodian asked"),
        help_text=_("The battery's custodian when the request was made."),
    )
    purpose = models.TextField(_("purpose"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    decided_at = models.DateTimeField(
        _("decided at"),
        null=True,
        blank=True,
        help_text=_("An approved history covers data up to this time."),
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_reason = models.TextField(_("reason for the decision"), blank=True)
    delivered_at = models.DateTimeField(_("first delivered at"), null=True, blank=True)
    # The last refused delivery, shown to the buyer until a delivery succeeds (the event log keeps all).
    refused_at = models.DateTimeField(_("last refused at"), null=True, blank=True)
    refusal_code = models.CharField(_("refusal code"), max_length=60, blank=True)
    refusal_reason = models.TextField(_("refusal reason"), blank=True)

    objects = HistoryRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("BMS history request")
        verbose_name_plural = _("BMS history requests")
        indexes = [models.Index(fields=["custodian", "status"], name="history_request_inbox")]
        constraints = [
            # One open request per battery and requester: the backstop behind the 409.
            models.UniqueConstraint(
                fields=["battery", "requester"],
                condition=Q(status="requested"),
                name="history_request_one_pending",
            ),
            models.CheckConstraint(
                condition=~Q(requester=models.F("custodian")), name="history_request_not_to_self"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["requested", "approved", "rejected", "delivered"]),
                name="history_request_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="requested") | Q(decided_at__isnull=False),
                name="history_request_decided_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.battery} → {self.requester}"

    @property
    def downloadable(self) -> bool:
        return self.status in (self.Status.APPROVED, self.Status.DELIVERED)


class HistoryRequestEvent(AppendOnlyModel):
    """One step of a request: asked, approved, rejected, a delivery refused, or delivered."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", _("requested")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        REFUSED = "refused", _("delivery refused")
        DELIVERED = "delivered", _("delivered")

    request = models.ForeignKey(HistoryRequest, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("organisation")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    reason = models.TextField(_("reason"), blank=True)
    code = models.CharField(_("code"), max_length=60, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("BMS history request event")
        verbose_name_plural = _("BMS history request events")

    def __str__(self) -> str:
        return f"{self.request_id} {self.kind}"


class HistoryDelivery(AppendOnlyModel):
    """One signed history handed to the requester: what it covered, its hash and how it was cleared."""

    request = models.ForeignKey(HistoryRequest, on_delete=models.PROTECT, related_name="deliveries")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", verbose_name=_("delivered to")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    delivered_at = models.DateTimeField(_("delivered at"), default=timezone.now)
    as_of = models.DateTimeField(_("history as of"))
    snapshot_count = models.PositiveIntegerField(_("snapshots"))
    payload_sha256 = models.CharField(_("SHA-256 of the signed payload"), max_length=64)
    key_id = models.CharField(_("signing key id"), max_length=64)
    data_jurisdiction = models.CharField(_("data jurisdiction"), max_length=2)
    recipient_country = models.CharField(_("recipient country"), max_length=2)
    cross_border = models.BooleanField(_("cross-border"))
    clearance = models.JSONField(
        _("clearance"), default=dict, blank=True, help_text=_("The approval and scan that released it.")
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-delivered_at", "-id"]
        verbose_name = _("BMS history delivery")
        verbose_name_plural = _("BMS history deliveries")

    def __str__(self) -> str:
        return f"{self.request_id} {self.delivered_at:%Y-%m-%d %H:%M}"
