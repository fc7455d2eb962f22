"""Organisations, their users and what role each user holds."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.querysets import VisibleToQuerySet


class Organisation(models.Model):
    """A company or authority taking part in the battery chain; its country decides jurisdiction."""

    class Kind(models.TextChoices):
        OEM = "oem", _("OEM (battery or vehicle maker)")
        RECYCLER = "recycler", _("Recycler")
        SECOND_LIFE = "second_life", _("Second-life integrator")
        BUYER = "buyer", _("Buyer")
        TEST_LAB = "test_lab", _("Evaluation institution")
        AUDITOR = "auditor", _("Auditor")
        REGULATOR = "regulator", _("Regulator")
        LOGISTICS = "logistics", _("Logistics")

    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    country = models.CharField(
        _("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2 code, e.g. CN or DE.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = VisibleToQuerySet.as_manager()
    organisation_path = "pk"

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    kind__in=[
                        "oem",
                        "recycler",
                        "second_life",
                        "buyer",
                        "test_lab",
                        "auditor",
                        "regulator",
                        "logistics",
                    ]
                ),
                name="organisation_kind_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(country__regex=r"^[A-Z]{2}$"), name="organisation_country_iso"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_authority(self) -> bool:
        """Auditors and regulators see everything in their remit."""
        return self.kind in {self.Kind.AUDITOR, self.Kind.REGULATOR}


class User(AbstractUser):
    """A person who signs in; belongs to one organisation through a membership."""

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    @property
    def membership_or_none(self) -> Membership | None:
        try:
            return self.membership
        except Membership.DoesNotExist:
            return None

    @property
    def organisation(self) -> Organisation | None:
        membership = self.membership_or_none
        return membership.organisation if membership else None

    @property
    def role(self) -> str | None:
        membership = self.membership_or_none
        return membership.role if membership else None


class Membership(models.Model):
    """A user's place in an organisation: one organisation per user, with a role."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        OPERATOR = "operator", _("Operator")
        VIEWER = "viewer", _("Viewer")

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="membership")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = VisibleToQuerySet.as_manager()
    organisation_path = "organisation"

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=["admin", "operator", "viewer"]), name="membership_role_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation} ({self.role})"


class Notification(models.Model):
    """An in-app message to one user (licence warnings, clone alerts, integrity alarms).

    `dedup_key` makes sending idempotent: the same key is never delivered twice to one user.
    """

    class Level(models.TextChoices):
        INFO = "info", _("Information")
        WARNING = "warning", _("Warning")
        ALERT = "alert", _("Alert")

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, default=Level.INFO)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    link = models.CharField(_("link"), max_length=500, blank=True)
    dedup_key = models.CharField(_("deduplication key"), max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(fields=["recipient", "dedup_key"], name="notification_once_per_recipient")
        ]

    def __str__(self) -> str:
        return self.subject
