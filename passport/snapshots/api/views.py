"""Snapshot API: ingest, the tiered history of a battery, raw telemetry for authorities, certifications,
lab designations, legal holds and the retention report."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Prefetch
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Organisation
from core.api.schema import error_responses
from core.errors import InvalidInput, NotFound
from core.params import IdField, parse_id
from passport import access, codes, selectors
from passport.attributes import PUBLIC
from passport.models import Battery
from passport.snapshots import ingest, services
from passport.snapshots import selectors as snapshot_selectors
from passport.snapshots.api.serializers import (
    CertificationOutputSerializer,
    IngestBatchOutputSerializer,
    IngestItemOutputSerializer,
    LabDesignationOutputSerializer,
    LabDesignationWithdrawalOutputSerializer,
    LegalHoldOutputSerializer,
    RawTelemetryOutputSerializer,
    RetentionReportOutputSerializer,
    SnapshotOutputSerializer,
    SnapshotSummaryOutputSerializer,
)
from passport.snapshots.errors import INGEST_REFUSAL_CODES, TelemetryRefused
from passport.snapshots.models import (
    Certification,
    LabDesignation,
    LegalHold,
    Snapshot,
    SnapshotFlag,
)
from passport.snapshots.schema import REJECTION_CODES

INGEST_DESCRIPTION = f"""
Send one signed envelope (`{{"format": "voltrace.bms-snapshot/1", "payload": {{...}}, "signature": {{"alg",
"key_id", "value"}}}}`) or a JSON list of up to 1,000.

One envelope: 201 with the stored item, or the error of its refusal with its status (400 schema, 403 not
allowed, 409 replay, 413 too large, 422 key, signature, battery or time).

A list: 200 with one result per envelope, in order (`index`, `status` stored/refused, `snapshot_id` or
`error` with `code`, `message`, `field` and the `http_status` it would have alone). One bad item does not
stop the others; each item is stored whole or not at all. Problems with the body as a whole (over
{ingest.MAX_ENVELOPE_BYTES} bytes for one envelope or the batch byte limit for a list, more than 1,000
items, not JSON) refuse the request.

Refusal codes: {", ".join(REJECTION_CODES + INGEST_REFUSAL_CODES)}.
"""


def _battery_or_404(code: str) -> Battery:
    parsed = codes.parse_code(code)
    battery = selectors.battery_for_passport(parsed.code)
    if battery is None:
        raise NotFound(
            _("No battery is registered under %(code)s.") % {"code": parsed.code},
            code="NOT_REGISTERED",
            field="code",
        )
    return battery


# ---------------------------------------------------------------------------------------------------
# Ingest
# ---------------------------------------------------------------------------------------------------
@extend_schema(tags=["snapshots"])
class SnapshotIngestApi(APIView):
    """Ingest signed BMS snapshots: verified, checked, sealed and stored (see the description)."""

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: IngestBatchOutputSerializer,
            201: IngestItemOutputSerializer,
            **error_responses(400, 403, 409, 413, 422),
        },
        description=INGEST_DESCRIPTION,
    )
    def post(self, request: Request) -> Response:
        # The body is read raw and parsed strictly by the service, never by DRF's lenient parser.
        length = request.META.get("CONTENT_LENGTH")
        ingest.check_body_size(int(length) if length and length.isdigit() else None)
        results, as_list = ingest.ingest_body(
            request.body, organisation=getattr(request.user, "organisation", None), user=request.user
        )
        if not as_list:
            result = results[0]
            if result.error is not None:
                raise result.error
            return Response(result.as_dict(), status=status.HTTP_201_CREATED)
        stored = sum(1 for result in results if result.stored)
        return Response(
            {
                "stored": stored,
                "refused": len(results) - stored,
                "results": [result.as_dict() for result in results],
            }
        )


# ---------------------------------------------------------------------------------------------------
# A battery's history, by tier
# ---------------------------------------------------------------------------------------------------
class SnapshotFilter(django_filters.FilterSet):
    captured_after = django_filters.IsoDateTimeFilter(field_name="captured_at", lookup_expr="gte")
    captured_before = django_filters.IsoDateTimeFilter(field_name="captured_at", lookup_expr="lt")
    flagged = django_filters.BooleanFilter(method="filter_flagged", label="Only snapshots with flags")

    class Meta:
        model = Snapshot
        fields = ["captured_after", "captured_before", "flagged", "device_id"]

    def filter_flagged(self, queryset: Any, name: str, value: bool | None) -> Any:
        if value is None:
            return queryset
        flagged = SnapshotFlag.objects.filter(snapshot=OuterRef("pk"))
        return queryset.filter(Exists(flagged)) if value else queryset.exclude(Exists(flagged))


def _snapshot_queryset() -> Any:
    return Snapshot.objects.select_related("battery", "device_key", "uploaded_by").prefetch_related(
        Prefetch("flags", queryset=SnapshotFlag.objects.order_by("rule_id", "id"))
    )


@extend_schema(tags=["snapshots"])
class BatterySnapshotListApi(ListAPIView):
    """A battery's signed BMS snapshots, newest first, at the caller's tier: the public sees the summary
    (counts) only; the OEM, the custodian, grantees and authorities of its jurisdiction see each
    snapshot's metadata and plausibility flags. Payloads are never returned here."""

    permission_classes = [AllowAny]
    serializer_class = SnapshotOutputSerializer
    filterset_class = SnapshotFilter

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no URL kwargs
            return Snapshot.objects.none()
        battery = self._battery
        if self._tier == PUBLIC:
            return Snapshot.objects.none()
        return _snapshot_queryset().filter(battery=battery).order_by("-captured_at", "-id")

    @extend_schema(
        responses={
            200: OpenApiResponse(
                SnapshotOutputSerializer(many=True),
                description="Paginated; also `tier` and `summary` (counts for every tier).",
            ),
            **error_responses(400, 404),
        }
    )
    def get(self, request: Request, code: str) -> Response:
        self._battery = _battery_or_404(code)
        self._tier = access.tier_for(self._battery, request.user)
        response = super().get(request, code=code)
        history = snapshot_selectors.history_for(battery=self._battery, user=request.user)
        response.data["tier"] = self._tier
        response.data["summary"] = SnapshotSummaryOutputSerializer(history).data
        return response


@extend_schema(tags=["snapshots"], responses={200: SnapshotOutputSerializer, **error_responses(404)})
class SnapshotDetailApi(RetrieveAPIView):
    """One snapshot's metadata and flags (legitimate interest and authorities)."""

    serializer_class = SnapshotOutputSerializer

    def get_queryset(self) -> Any:
        return _snapshot_queryset().visible_to(self.request.user)


@extend_schema(
    tags=["snapshots"],
    parameters=[
        OpenApiParameter(
            "purpose", str, OpenApiParameter.QUERY, required=True, description="Why you read it (logged)."
        )
    ],
    responses={200: RawTelemetryOutputSerializer, **error_responses(400, 403, 404, 409)},
)
class SnapshotRawApi(APIView):
    """The decrypted payload of a snapshot, vehicle block included, for auditors and regulators of the
    battery's jurisdiction. Every call is logged with its purpose, refusals too."""

    def get(self, request: Request, pk: int) -> Response:
        snapshot = get_object_or_404(
            Snapshot.objects.select_related("battery__oem", "battery__current_custodian", "device_key"), pk=pk
        )
        try:
            raw = services.read_raw_telemetry(
                user=request.user, snapshot=snapshot, purpose=request.query_params.get("purpose", "")
            )
        except TelemetryRefused:
            if not Snapshot.objects.visible_to(request.user).filter(pk=pk).exists():
                raise NotFound(_("No such snapshot.")) from None
            raise
        return Response(
            RawTelemetryOutputSerializer(
                {
                    "snapshot_id": snapshot.pk,
                    "battery": snapshot.battery.code,
                    "payload_hash": snapshot.payload_hash,
                    "signature_valid": raw.signature_valid,
                    "payload": raw.payload,
                    "access_id": raw.access.pk,
                }
            ).data
        )


# ---------------------------------------------------------------------------------------------------
# Certifications
# ---------------------------------------------------------------------------------------------------
@extend_schema(tags=["snapshots"])
class CertificationListApi(ListAPIView):
    """Certifications the caller may see. POST records a designated lab's signed statement:
    `{"format": "voltrace.certification/1", "statement": {"battery_code", "snapshot_payload_hash" or
    "grading_reference", "result", "tested_at"}, "signature": {"alg", "key_id", "value"}}`, signed over the
    RFC 8785 bytes of `statement` with the lab's `certification` key. The lab must be designated on
    `tested_at` (CERT_LAB_NOT_DESIGNATED otherwise)."""

    serializer_class = CertificationOutputSerializer
    filterset_fields = ["lab", "snapshot"]

    def get_queryset(self) -> Any:
        certifications = Certification.objects.visible_to(self.request.user).select_related(
            "lab", "battery", "key", "snapshot", "designation"
        )
        battery = self.request.query_params.get("battery")
        if battery:
            certifications = certifications.filter(battery__code=codes.normalise(battery))
        return certifications.order_by("-tested_at", "-id")

    @extend_schema(
        parameters=[OpenApiParameter("battery", str, OpenApiParameter.QUERY, description="A battery code.")],
        responses={200: CertificationOutputSerializer(many=True), **error_responses(400)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        responses={201: CertificationOutputSerializer, **error_responses(400, 403, 409, 422)},
    )
    def post(self, request: Request) -> Response:
        certification = services.record_certification(document=request.data, by=request.user)
        return Response(CertificationOutputSerializer(certification).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------------------------------------------
# Lab designations
# ---------------------------------------------------------------------------------------------------
@extend_schema(tags=["snapshots"])
class LabDesignationListApi(ListAPIView):
    """Designated evaluation institutions and their periods (public knowledge for members). POST: a
    regulator designates a test lab for a period."""

    serializer_class = LabDesignationOutputSerializer
    filterset_fields = ["lab"]

    class InputSerializer(serializers.Serializer):
        lab = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.filter(kind="test_lab"))
        valid_from = serializers.DateTimeField()
        valid_until = serializers.DateTimeField(required=False, allow_null=True, default=None)
        reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        scope = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def get_queryset(self) -> Any:
        return LabDesignation.objects.select_related("lab", "designated_by").prefetch_related(
            "withdrawals__organisation"
        )

    @extend_schema(responses={200: LabDesignationOutputSerializer(many=True), **error_responses(400)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=InputSerializer, responses={201: LabDesignationOutputSerializer, **error_responses(400, 403)}
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        designation = services.designate_lab(by=request.user, **body.validated_data)
        return Response(LabDesignationOutputSerializer(designation).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["snapshots"])
class LabDesignationWithdrawApi(APIView):
    """Withdraw a designation from an effective time on (regulators); the history is append-only."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)
        effective_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    @extend_schema(
        request=InputSerializer,
        responses={201: LabDesignationWithdrawalOutputSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request: Request, pk: int) -> Response:
        designation = get_object_or_404(LabDesignation.objects.all(), pk=pk)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        withdrawal = services.withdraw_lab_designation(
            designation=designation, by=request.user, **body.validated_data
        )
        return Response(
            LabDesignationWithdrawalOutputSerializer(withdrawal).data, status=status.HTTP_201_CREATED
        )


# ---------------------------------------------------------------------------------------------------
# Legal holds
# ---------------------------------------------------------------------------------------------------
def _holds(user: Any) -> Any:
    return (
        LegalHold.objects.visible_to(user)
        .select_related("battery", "snapshot", "placed_by")
        .prefetch_related("events__organisation", "events__actor")
    )


@extend_schema(tags=["snapshots"])
class LegalHoldListApi(ListAPIView):
    """Legal holds the caller may see (authorities: all; OEMs and custodians: on their batteries). POST:
    an auditor or regulator holds a battery's snapshots (or one snapshot) with a reason."""

    serializer_class = LegalHoldOutputSerializer

    class InputSerializer(serializers.Serializer):
        battery_code = serializers.CharField(max_length=60)
        snapshot_id = IdField(required=False, allow_null=True, default=None)
        reason = serializers.CharField(max_length=2000)
        reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    def get_queryset(self) -> Any:
        holds = _holds(self.request.user)
        if self.request.query_params.get("active") in ("true", "1"):
            holds = holds.active()
        return holds

    @extend_schema(
        parameters=[OpenApiParameter("active", bool, OpenApiParameter.QUERY)],
        responses={200: LegalHoldOutputSerializer(many=True), **error_responses(400)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=InputSerializer,
        responses={201: LegalHoldOutputSerializer, **error_responses(400, 403, 404, 422)},
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        battery = _battery_or_404(data["battery_code"])
        snapshot = None
        if data["snapshot_id"] is not None:
            snapshot = Snapshot.objects.filter(pk=data["snapshot_id"]).first()
            if snapshot is None:
                raise InvalidInput(_("No such snapshot."), code="HOLD_WRONG_BATTERY", field="snapshot_id")
        hold = services.place_legal_hold(
            battery=battery,
            snapshot=snapshot,
            by=request.user,
            reason=data["reason"],
            reference=data["reference"],
        )
        return Response(LegalHoldOutputSerializer(_holds(request.user).get(pk=hold.pk)).data, status=201)


@extend_schema(tags=["snapshots"])
class LegalHoldLiftApi(APIView):
    """Lift a legal hold with a reason (auditors and regulators of the battery's jurisdiction)."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)

    @extend_schema(
        request=InputSerializer,
        responses={200: LegalHoldOutputSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        hold = get_object_or_404(_holds(request.user), pk=pk)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.lift_legal_hold(hold=hold, by=request.user, reason=body.validated_data["reason"])
        return Response(LegalHoldOutputSerializer(_holds(request.user).get(pk=hold.pk)).data)


# ---------------------------------------------------------------------------------------------------
# Retention report
# ---------------------------------------------------------------------------------------------------
@extend_schema(
    tags=["snapshots"],
    parameters=[
        OpenApiParameter(
            "organisation",
            int,
            OpenApiParameter.QUERY,
            description="Authorities: the organisation to report on.",
        )
    ],
    responses={200: RetentionReportOutputSerializer, **error_responses(400, 404)},
)
class RetentionReportApi(APIView):
    """Until when the organisation's snapshots are kept, by year; active legal holds; whether shredding
    after retention was done on time. Members see their own organisation; authorities choose one."""

    def get(self, request: Request) -> Response:
        organisation = _report_organisation(request.user, request.query_params.get("organisation"))
        report = snapshot_selectors.retention_report(organisation=organisation, user=request.user)
        return Response(RetentionReportOutputSerializer(report).data)


def _report_organisation(user: Any, wanted: str | None) -> Organisation | None:
    own = getattr(user, "organisation", None)
    is_authority = user.is_superuser or (own is not None and own.is_authority)
    if wanted:
        wanted_id = parse_id(wanted)
        if wanted_id is None:
            raise InvalidInput(_("organisation must be an organisation id."), field="organisation")
        if not is_authority and (own is None or wanted_id != own.pk):
            raise NotFound(_("No such organisation."), field="organisation")
        return get_object_or_404(Organisation.objects.all(), pk=wanted_id)
    if own is None and not is_authority:
        raise InvalidInput(_("You do not belong to an organisation."), code="NO_ORGANISATION")
    return None if is_authority else own
