"""The transparency log API: public, read-only proofs and checkpoints; witness registration and cosigning."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from core.api.schema import error_responses
from custody.transparency import selectors, services
from custody.transparency.api.serializers import (
    CheckpointOutputSerializer,
    ConsistencyProofOutputSerializer,
    ConsistencyQuerySerializer,
    CosignatureOutputSerializer,
    HashField,
    InclusionProofOutputSerializer,
    InclusionQuerySerializer,
    PublicKeyOutputSerializer,
    WitnessKeyOutputSerializer,
    b64,
)

TAGS = ["transparency log"]


class NoteRenderer(BaseRenderer):
    """Renders a signed note as text/plain (errors as one `CODE: message` line)."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if isinstance(data, str):
            return data.encode()
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return f"{data['error']['code']}: {data['error']['message']}\n".encode()
        return json.dumps(data).encode()


class PublicLogApi(APIView):
    """Anyone may read the log; requests are throttled per address or per user."""

    permission_classes = [AllowAny]
    throttle_classes = [AnonRateThrottle, UserRateThrottle]


class CheckpointLatestApi(PublicLogApi):
    """The latest signed checkpoint, as a C2SP note (text/plain) or as JSON, with witness cosignatures."""

    renderer_classes = [JSONRenderer, NoteRenderer]

    @extend_schema(
        operation_id="log_checkpoint_latest",
        summary="Latest signed checkpoint",
        description=(
            "JSON by default; with `Accept: text/plain` (or `?format=txt`) the C2SP signed note: the "
            "checkpoint body, a blank line, the log's Ed25519 signature line and every witness "
            "cosignature/v1 line."
        ),
        responses={
            (200, "application/json"): CheckpointOutputSerializer,
            (200, "text/plain"): OpenApiResponse(response=OpenApiTypes.STR, description="The signed note."),
            **error_responses(404),
        },
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        checkpoint = selectors.latest_checkpoint()
        cosignatures = list(selectors.checkpoint_cosignatures(checkpoint))
        if isinstance(request.accepted_renderer, NoteRenderer):
            return Response(
                checkpoint.note + "".join(f"{cosignature.line}\n" for cosignature in cosignatures)
            )
        return Response(CheckpointOutputSerializer(checkpoint, context={"cosignatures": cosignatures}).data)


class InclusionProofApi(PublicLogApi):
    """Prove that an event hash is a leaf of the tree of a given size."""

    @extend_schema(
        operation_id="log_inclusion_proof",
        summary="Inclusion proof of an event hash",
        parameters=[InclusionQuerySerializer],
        responses={200: InclusionProofOutputSerializer, **error_responses(400, 404, 422)},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = InclusionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        proof = selectors.inclusion_proof_for(
            event_hash=query.validated_data["hash"], tree_size=query.validated_data.get("size")
        )
        return Response(InclusionProofOutputSerializer(proof).data)


class ConsistencyProofApi(PublicLogApi):
    """Prove that the tree of `second` leaves extends the tree of `first` leaves."""

    @extend_schema(
        operation_id="log_consistency_proof",
        summary="Consistency proof between two tree sizes",
        parameters=[ConsistencyQuerySerializer],
        responses={200: ConsistencyProofOutputSerializer, **error_responses(400, 422)},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = ConsistencyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        proof = selectors.consistency_proof_between(
            first=query.validated_data["first"], second=query.validated_data["second"]
        )
        return Response(ConsistencyProofOutputSerializer(proof).data)


class PublicKeyApi(PublicLogApi):
    """The log's Ed25519 public key, as a C2SP verifier key and as PEM."""

    @extend_schema(
        operation_id="log_public_key",
        summary="The log's public key",
        responses={200: PublicKeyOutputSerializer, **error_responses()},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        key = selectors.log_verifier_key()
        return Response(
            PublicKeyOutputSerializer(
                {
                    "key_name": key.name,
                    "key_id": key.key_id.hex(),
                    "algorithm": "Ed25519",
                    "vkey": key.vkey,
                    "public_key": b64(key.public_key),
                    "public_key_pem": key.public_key_pem(),
                }
            ).data
        )


class WitnessKeyCreateApi(APIView):
    """Register a witness key of the caller's auditor organisation (organisation administrators)."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="WitnessKeyCreateInput")
    class InputSerializer(serializers.Serializer):
        vkey = serializers.CharField(
            help_text="C2SP verifier key of type 0x04: <name>+<hex key ID>+<base64(0x04 || Ed25519 key)>."
        )

    @extend_schema(
        operation_id="log_witness_key_create",
        summary="Register a witness key",
        request=InputSerializer,
        responses={201: WitnessKeyOutputSerializer, **error_responses(400, 403, 409)},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        witness_key = services.register_witness_key(user=request.user, vkey=body.validated_data["vkey"])
        return Response(WitnessKeyOutputSerializer(witness_key).data, status=201)


class CosignatureCreateApi(APIView):
    """Submit a witness cosignature over a checkpoint, after checking consistency with its last one."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="CosignatureCreateInput")
    class InputSerializer(serializers.Serializer):
        checkpoint = serializers.CharField(
            trim_whitespace=False,
            help_text="The checkpoint note as the log published it (signed by the log).",
        )
        cosignature = serializers.CharField(help_text="The cosignature/v1 note signature line.")
        old_size = serializers.IntegerField(
            min_value=0,
            help_text="Size of the last checkpoint this witness key cosigned here (0 for the first).",
        )
        consistency_path = serializers.ListField(
            child=HashField(allow_hex=False),
            required=False,
            help_text="The consistency path (base64) the witness checked from old_size to this checkpoint.",
        )

    @extend_schema(
        operation_id="log_cosignature_create",
        summary="Cosign a checkpoint (witnesses)",
        request=InputSerializer,
        responses={201: CosignatureOutputSerializer, **error_responses(400, 403, 404, 409, 422)},
        examples=[
            OpenApiExample(
                "First cosignature",
                value={
                    "checkpoint": (
                        "voltrace.example/log\n1\n<base64 root>\n\n— voltrace.example/log <signature>\n"
                    ),
                    "cosignature": "— witness.example/w1 <base64(key ID || timestamp || signature)>",
                    "old_size": 0,
                },
                request_only=True,
            )
        ],
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cosignature = services.record_cosignature(
            user=request.user,
            checkpoint_note=body.validated_data["checkpoint"],
            cosignature=body.validated_data["cosignature"],
            old_size=body.validated_data["old_size"],
            consistency_path=body.validated_data.get("consistency_path"),
        )
        return Response(CosignatureOutputSerializer(cosignature).data, status=201)
