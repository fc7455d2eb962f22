"""Serializers of the transparency log API: hashes travel as base64 (input also accepts hex)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from custody.merkle import HASH_SIZE
from custody.transparency.models import Checkpoint, Cosignature, WitnessKey

_HEX_HASH = re.compile(r"[0-9a-fA-F]{64}")


def b64(raw: bytes | memoryview) -> str:
    return base64.b64encode(bytes(raw)).decode("ascii")


def decode_hash(text: str, *, allow_hex: bool) -> bytes | None:
    """A 32-byte hash from 64 hex digits or (standard or URL-safe, padded or not) base64; None if neither."""
    # In a query string that was not percent-encoded, base64's "+" arrives as a space.
    text = text.replace(" ", "+").strip()
    if allow_hex and _HEX_HASH.fullmatch(text):
        return bytes.fromhex(text)
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == HASH_SIZE else None


@extend_schema_field(OpenApiTypes.STR)
class HashField(serializers.CharField):
    """A SHA-256 hash given as 64 hex digits or as base64 of its 32 bytes."""

    default_error_messages = {
        "invalid_hash": _("Give a SHA-256 hash as 64 hex digits or as base64 of 32 bytes.")
    }

    def __init__(self, *, allow_hex: bool = True, **kwargs: Any) -> None:
        self.allow_hex = allow_hex
        kwargs.setdefault("trim_whitespace", False)  # a leading space may be a "+" of base64
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> bytes:  # type: ignore[override]
        raw = decode_hash(super().to_internal_value(data), allow_hex=self.allow_hex)
        if raw is None:
            self.fail("invalid_hash")
        return raw


@extend_schema_field(OpenApiTypes.BYTE)
class Base64Field(serializers.Field):
    """Bytes shown as standard base64."""

    def to_representation(self, value: bytes) -> str:
        return b64(value)


class InclusionQuerySerializer(serializers.Serializer):
    hash = HashField(help_text=_("The event hash: 64 hex digits or base64 of 32 bytes."))
    size = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text=_("Tree size to prove inclusion in; defaults to the latest checkpoint's size."),
    )


class ConsistencyQuerySerializer(serializers.Serializer):
    first = serializers.IntegerField(min_value=1, help_text=_("The older tree size (at least 1)."))
    second = serializers.IntegerField(min_value=1, help_text=_("The newer tree size (at least first)."))

    def validate(self, attrs: dict[str, int]) -> dict[str, int]:
        if attrs["second"] < attrs["first"]:
            raise serializers.ValidationError(
                {"second": _("The second size must be at least the first size.")}
            )
        return attrs


class InclusionProofOutputSerializer(serializers.Serializer):
    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    event_hash = Base64Field()
    leaf_hash = Base64Field(help_text=_("SHA-256(0x00 || event hash)."))
    root_hash = Base64Field(help_text=_("The root of the tree of tree_size leaves."))
    inclusion_path = serializers.ListField(
        child=Base64Field(), help_text=_("RFC 9162 inclusion path, leaf end first.")
    )


class ConsistencyProofOutputSerializer(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    first_root = Base64Field()
    second_root = Base64Field()
    consistency_path = serializers.ListField(child=Base64Field(), help_text=_("RFC 9162 consistency path."))


class CosignatureOutputSerializer(serializers.ModelSerializer):
    witness = serializers.CharField(source="witness_key.name")
    organisation = serializers.CharField(source="witness_key.organisation.name")
    vkey = serializers.CharField(source="witness_key.verifier.vkey")
    tree_size = serializers.IntegerField(source="checkpoint.tree_size")
    signature_line = serializers.CharField(source="line")

    class Meta:
        model = Cosignature
        fields = [
            "witness",
            "organisation",
            "vkey",
            "tree_size",
            "timestamp",
            "previous_size",
            "signature_line",
        ]


class CheckpointOutputSerializer(serializers.ModelSerializer):
    root_hash = Base64Field()
    cosignatures = serializers.SerializerMethodField()

    class Meta:
        model = Checkpoint
        fields = ["origin", "tree_size", "root_hash", "timestamp", "note", "cosignatures"]

    @extend_schema_field(CosignatureOutputSerializer(many=True))
    def get_cosignatures(self, checkpoint: Checkpoint) -> list[dict[str, Any]]:
        return CosignatureOutputSerializer(self.context["cosignatures"], many=True).data


class PublicKeyOutputSerializer(serializers.Serializer):
    key_name = serializers.CharField(help_text=_("The note key name; equals the checkpoint origin."))
    key_id = serializers.CharField(help_text=_("The 4-byte key ID in hex."))
    algorithm = serializers.CharField()
    vkey = serializers.CharField(help_text=_("C2SP verifier key: <name>+<hex key ID>+<base64(0x01 || key)>."))
    public_key = serializers.CharField(help_text=_("The raw 32-byte Ed25519 public key, base64."))
    public_key_pem = serializers.CharField()


class WitnessKeyOutputSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.name")
    vkey = serializers.CharField(source="verifier.vkey")

    class Meta:
        model = WitnessKey
        fields = ["id", "organisation", "name", "key_id", "vkey", "created_at"]
