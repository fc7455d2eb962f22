"""Rows of the transparency log: the leaf queue, leaves, complete subtrees, checkpoints, witnesses."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from accounts.querysets import VisibleToQuerySet
from core.db import AppendOnlyModel, AppendOnlyQuerySet
from custody.checkpoint import SIGNATURE_TYPE_COSIGNATURE_V1, VerifierKey
from custody.checkpoint import Cosignature as SignedCosignature
from custody.merkle import EMPTY_ROOT, HASH_SIZE


def _is_hash(field: str) -> Exact:
    return Exact(Length(field), HASH_SIZE)


class LogState(models.Model):
    """The log's single mutable row: its size and root; every sequencer and publisher locks it first."""

    SINGLETON = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON)
    tree_size = models.BigIntegerField(_("tree size"), default=0)
    root_hash = models.BinaryField(_("root hash"), max_length=HASH_SIZE, default=EMPTY_ROOT)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("log state")
        verbose_name_plural = _("log states")
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="custody_logstate_singleton"),
            models.CheckConstraint(condition=models.Q(tree_size__gte=0), name="custody_logstate_size_valid"),
        ]

    def __str__(self) -> str:
        return f"log of {self.tree_size} leaves"


class PendingLeaf(models.Model):
    """An event hash written by a committed transaction and not yet given a leaf index."""

    event_hash = models.BinaryField(_("event hash"), max_length=HASH_SIZE, unique=True)
    enqueued_at = models.DateTimeField(_("enqueued at"), default=timezone.now)

    class Meta:
        verbose_name = _("pending leaf")
        verbose_name_plural = _("pending leaves")
        constraints = [
            models.CheckConstraint(condition=_is_hash("event_hash"), name="custody_pending_hash_size")
        ]

    def __str__(self) -> str:
        return bytes(self.event_hash).hex()


class LogLeaf(AppendOnlyModel):
    """One leaf of the log: the event hash at a contiguous index, each hash at most once."""

    index = models.BigIntegerField(_("index"), primary_key=True)
    event_hash = models.BinaryField(_("event hash"), max_length=HASH_SIZE, unique=True)
    sequenced_at = models.DateTimeField(_("sequenced at"), default=timezone.now)

    class Meta:
        verbose_name = _("log leaf")
        verbose_name_plural = _("log leaves")
        constraints = [
            models.CheckConstraint(condition=models.Q(index__gte=0), name="custody_logleaf_index_valid"),
            models.CheckConstraint(condition=_is_hash("event_hash"), name="custody_logleaf_hash_size"),
        ]

    def __str__(self) -> str:
        return f"{self.index}: {bytes(self.event_hash).hex()}"


class LogNode(AppendOnlyModel):
    """The hash of a complete subtree of level >= 1: leaves [index * 2**level, (index + 1) * 2**level).

    Level 0 (the leaf hashes) is derived from LogLeaf, so it is not stored twice.
    """

    pk = models.CompositePrimaryKey("level", "index")
    level = models.PositiveSmallIntegerField(_("level"))
    index = models.BigIntegerField(_("index"))
    hash = models.BinaryField(_("hash"), max_length=HASH_SIZE)

    class Meta:
        verbose_name = _("log node")
        verbose_name_plural = _("log nodes")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level__gte=1, level__lte=63, index__gte=0),
                name="custody_lognode_position_valid",
            ),
            models.CheckConstraint(condition=_is_hash("hash"), name="custody_lognode_hash_size"),
        ]

    def __str__(self) -> str:
        return f"({self.level}, {self.index})"


class Checkpoint(AppendOnlyModel):
    """A signed tree head published as a C2SP checkpoint note."""

    origin = models.CharField(_("origin"), max_length=200)
    tree_size = models.BigIntegerField(_("tree size"))
    root_hash = models.BinaryField(_("root hash"), max_length=HASH_SIZE)
    timestamp = models.DateTimeField(_("timestamp"), default=timezone.now)
    note = models.TextField(_("signed note"))
    signature = models.BinaryField(_("signature"), max_length=64)

    class Meta:
        ordering = ["-id"]
        get_latest_by = "id"
        verbose_name = _("checkpoint")
        verbose_name_plural = _("checkpoints")
        indexes = [models.Index(fields=["tree_size"], name="custody_checkpoint_size")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tree_size__gte=0), name="custody_checkpoint_size_valid"
            ),
            models.CheckConstraint(condition=_is_hash("root_hash"), name="custody_checkpoint_root_size"),
        ]

    def __str__(self) -> str:
        return f"{self.origin} @ {self.tree_size}"

    @property
    def body(self) -> str:
        """The checkpoint note text that the log signed and witnesses cosign."""
        return self.note[: self.note.rfind("\n\n") + 1]


class WitnessKeyQuerySet(AppendOnlyQuerySet, VisibleToQuerySet):
    """Witness keys: append-only, each organisation sees its own."""


class WitnessKey(AppendOnlyModel):
    """An auditor organisation's Ed25519 cosignature/v1 key, under which it cosigns checkpoints."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="witness_keys", verbose_name=_("organisation")
    )
    name = models.CharField(_("key name"), max_length=200)
    key_id = models.CharField(_("key ID"), max_length=8)
    public_key = models.BinaryField(_("public key"), max_length=32, unique=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("registered by")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = WitnessKeyQuerySet.as_manager()
    organisation_path = "organisation"

    class Meta:
        verbose_name = _("witness key")
        verbose_name_plural = _("witness keys")
        constraints = [models.UniqueConstraint(fields=["name", "key_id"], name="custody_witnesskey_name_id")]

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id}"

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(
            name=self.name, signature_type=SIGNATURE_TYPE_COSIGNATURE_V1, public_key=bytes(self.public_key)
        )


class Cosignature(AppendOnlyModel):
    """A witness's cosignature/v1 over a checkpoint, after it checked consistency from `previous_size`."""

    checkpoint = models.ForeignKey(
        Checkpoint, on_delete=models.PROTECT, related_name="cosignatures", verbose_name=_("checkpoint")
    )
    witness_key = models.ForeignKey(
        WitnessKey, on_delete=models.PROTECT, related_name="cosignatures", verbose_name=_("witness key")
    )
    timestamp = models.BigIntegerField(_("signed time (POSIX seconds)"))
    signature = models.BinaryField(_("signature"), max_length=64)
    previous_size = models.BigIntegerField(_("previous size"))
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("submitted by")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("cosignature")
        verbose_name_plural = _("cosignatures")
        constraints = [
            models.UniqueConstraint(fields=["checkpoint", "witness_key"], name="custody_cosignature_once"),
            models.CheckConstraint(
                condition=models.Q(previous_size__gte=0, timestamp__gte=0), name="custody_cosignature_values"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.witness_key} on {self.checkpoint}"

    @property
    def line(self) -> str:
        """The note signature line, as it is appended to the checkpoint note."""
        key = self.witness_key
        return SignedCosignature(
            name=key.name,
            key_id=bytes.fromhex(key.key_id),
            timestamp=self.timestamp,
            signature=bytes(self.signature),
        ).line
