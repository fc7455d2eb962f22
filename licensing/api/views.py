"""Licensing API: facilities, licences, their history, evidence and the status question."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Organisation
from core.api.schema import error_responses
from core.errors import InvalidInput
from core.params import IdField
from licensing import local_time, selectors, services
from licensing.api.serializers import (
    FacilityOutputSerializer,
    LicenceEventOutputSerializer,
    LicenceEvidenceOutputSerializer,
    LicenceOutputSerializer,
    LicenceStatusOutputSerializer,
)
from licensing.filters import FacilityFilter, LicenceFilter
from licensing.models import Activity, Facility, Licence, LicenceEvent, LicenceEvidence

UPLOAD_PARSERS = [JSONParser, MultiPartParser, FormParser]


def _facilities(user: Any) -> Any:
    licences = Licence.objects.with_state(timezone.now()).order_by("kind", "id")
    return (
        Facility.objects.visible_to(user)
        .select_related("organisation")
        .prefetch_related(Prefetch("licences", queryset=licences))
        .order_by("name", "id")
    )


def _licences(user: Any) -> Any:
    return (
        Licence.objects.visible_to(user)
        .with_state(timezone.now())
        .select_related("facility")
        .order_by("facility_id", "kind", "id")
    )


def _instant(text: str | None, *, zone: str, field: str) -> Any:
    if text in (None, ""):
        return None
    instant = local_time.parse_instant(text, zone)
    if instant is None:
        raise InvalidInput(
            _("%(field)s must be an ISO 8601 date-time with an offset (2026-06-30T23:59:59+08:00) or a date.")
            % {"field": field},
            field=field,
        )
    return instant


@extend_schema(
    tags=["licensing"], responses={200: FacilityOutputSerializer(many=True), **error_responses(400)}
)
class FacilityListApi(ListAPIView):
    """Facilities visible to the caller, with their licences' status now; filter by status, province,
    licence kind or expiry within N days. POST registers a facility."""

    serializer_class = FacilityOutputSerializer
    filterset_class = FacilityFilter

    class FacilityCreateInputSerializer(serializers.Serializer):
        organisation = IdField(required=False, help_text="Default: the caller's organisation.")
        name = serializers.CharField(max_length=200)
        address = serializers.CharField(required=False, allow_blank=True, default="")
        province = serializers.CharField(max_length=6, help_text="ISO 3166-2, e.g. CN-JX.")
        country = serializers.CharField(
            max_length=2, required=False, help_text="Default: the organisation's."
        )
        timezone = serializers.CharField(
            max_length=64, required=False, help_text="Default Asia/Shanghai in China."
        )

    def get_queryset(self) -> Any:
        return _facilities(self.request.user)

    @extend_schema(
        tags=["licensing"],
        request=FacilityCreateInputSerializer,
        responses={201: FacilityOutputSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        body = self.FacilityCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "organisation" in data:
            organisation = get_object_or_404(
                Organisation.objects.visible_to(request.user), pk=data["organisation"]
            )
        else:
            organisation = request.user.organisation
            if organisation is None:
                raise InvalidInput(_("Name the organisation the facility belongs to."), field="organisation")
        facility = services.register_facility(
            by=request.user,
            organisation=organisation,
            name=data["name"],
            address=data["address"],
            province=data["province"],
            country=data.get("country"),
            time_zone=data.get("timezone"),
        )
        return Response(
            FacilityOutputSerializer(_facilities(request.user).get(pk=facility.pk)).data,
            status=status.HTTP_201_CREATED,
        )


@extend_schema(tags=["licensing"], responses={200: FacilityOutputSerializer, **error_responses(404)})
class FacilityDetailApi(RetrieveAPIView):
    """One facility and its licences' status now."""

    serializer_class = FacilityOutputSerializer

    def get_queryset(self) -> Any:
        return _facilities(self.request.user)


class FacilityStatusApi(APIView):
    """May this facility do this activity at this instant? Answered from the licence histories on the
    facility's local calendar (a date means its local midnight)."""

    @extend_schema(
        tags=["licensing"],
        parameters=[
            OpenApiParameter("activity", str, required=True, enum=Activity.values),
            OpenApiParameter(
                "at",
                str,
                required=False,
                description="ISO 8601 date-time with an offset, or a date (local midnight); default now.",
            ),
        ],
        responses={200: LicenceStatusOutputSerializer, **error_responses(400, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        facility = get_object_or_404(Facility.objects.visible_to(request.user), pk=pk)
        activity = request.query_params.get("activity", "")
        if activity not in Activity.values:
            raise InvalidInput(
                _("activity must be one of %(choices)s.") % {"choices": ", ".join(Activity.values)},
                field="activity",
            )
        at = _instant(request.query_params.get("at"), zone=facility.timezone, field="at") or timezone.now()
        answer = selectors.licence_status(facility=facility, activity=activity, at=at)
        return Response(LicenceStatusOutputSerializer(answer).data)


@extend_schema(
    tags=["licensing"], responses={200: LicenceOutputSerializer(many=True), **error_responses(400)}
)
class LicenceListApi(ListAPIView):
    """Licences visible to the caller with their status now; filter by status, province, kind, facility,
    permitted activity or expiry within N days. POST issues a licence (regulators only)."""

    serializer_class = LicenceOutputSerializer
    filterset_class = LicenceFilter
    parser_classes = UPLOAD_PARSERS

    class LicenceIssueInputSerializer(serializers.Serializer):
        facility = IdField()
        kind = serializers.ChoiceField(choices=Licence.Kind.choices)
        issuing_authority = serializers.CharField(max_length=200)
        number = serializers.CharField(max_length=100)
        activities = serializers.ListField(
            child=serializers.ChoiceField(choices=Activity.choices), min_length=1
        )
        valid_from = serializers.DateField()
        valid_until = serializers.DateField(required=False, allow_null=True, default=None)
        reason = serializers.CharField(required=False, allow_blank=True, default="")
        evidence = serializers.FileField(required=False, allow_null=True, default=None)

    def get_queryset(self) -> Any:
        return _licences(self.request.user)

    @extend_schema(
        tags=["licensing"],
        request={
            "application/json": LicenceIssueInputSerializer,
            "multipart/form-data": LicenceIssueInputSerializer,
        },
        responses={201: LicenceOutputSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        body = self.LicenceIssueInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        facility = get_object_or_404(Facility.objects.visible_to(request.user), pk=data.pop("facility"))
        licence = services.issue_licence(by=request.user, facility=facility, **data)
        return Response(
            LicenceOutputSerializer(_licences(request.user).get(pk=licence.pk)).data,
            status=status.HTTP_201_CREATED,
        )


@extend_schema(tags=["licensing"], responses={200: LicenceOutputSerializer, **error_responses(404)})
class LicenceDetailApi(RetrieveAPIView):
    """One licence: issued values and its status now."""

    serializer_class = LicenceOutputSerializer

    def get_queryset(self) -> Any:
        return _licences(self.request.user)


@extend_schema(
    tags=["licensing"], responses={200: LicenceEventOutputSerializer(many=True), **error_responses(404)}
)
class LicenceEventListApi(ListAPIView):
    """A licence's history in effective order. POST records a regulator's action: renewed, scope_changed,
    suspended, reinstated or revoked (effective_at may lie in the past: nothing is rewritten)."""

    serializer_class = LicenceEventOutputSerializer
    parser_classes = UPLOAD_PARSERS

    class LicenceEventInputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(
            choices=[
                LicenceEvent.Kind.RENEWED,
                LicenceEvent.Kind.SCOPE_CHANGED,
                LicenceEvent.Kind.SUSPENDED,
                LicenceEvent.Kind.REINSTATED,
                LicenceEvent.Kind.REVOKED,
            ]
        )
        reason = serializers.CharField()
        effective_at = serializers.CharField(
            required=False, allow_blank=True, help_text="ISO 8601 with offset, or a date; default now."
        )
        valid_until = serializers.DateField(
            required=False, allow_null=True, default=None, help_text="For renewed."
        )
        activities = serializers.ListField(
            child=serializers.ChoiceField(choices=Activity.choices),
            required=False,
            help_text="For scope_changed.",
        )
        evidence = serializers.FileField(required=False, allow_null=True, default=None)

    def licence(self) -> Licence:
        return get_object_or_404(
            Licence.objects.visible_to(self.request.user).select_related("facility"), pk=self.kwargs["pk"]
        )

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return LicenceEvent.objects.none()
        return (
            LicenceEvent.objects.filter(licence=self.licence())
            .select_related("actor")
            .order_by("effective_at", "id")
        )

    @extend_schema(
        tags=["licensing"],
        request={
            "application/json": LicenceEventInputSerializer,
            "multipart/form-data": LicenceEventInputSerializer,
        },
        responses={201: LicenceEventOutputSerializer, **error_responses(400, 403, 404, 422)},
    )
    def post(self, request: Request, pk: int) -> Response:
        licence = self.licence()
        body = self.LicenceEventInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        event = services.record_licence_event(
            by=request.user,
            licence=licence,
            kind=data["kind"],
            reason=data["reason"],
            effective_at=_instant(
                data.get("effective_at"), zone=licence.facility.timezone, field="effective_at"
            ),
            valid_until=data["valid_until"],
            activities=data.get("activities"),
            evidence=data["evidence"],
        )
        return Response(LicenceEventOutputSerializer(event).data, status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["licensing"], responses={200: LicenceEvidenceOutputSerializer(many=True), **error_responses(404)}
)
class LicenceEvidenceListApi(ListAPIView):
    """Documents submitted for a licence. POST (multipart) uploads one: the facility's admins or a
    regulator; PDF, PNG or JPEG up to 10 MB, checked by content and stored with its SHA-256."""

    serializer_class = LicenceEvidenceOutputSerializer
    parser_classes = [MultiPartParser, FormParser]

    class EvidenceUploadInputSerializer(serializers.Serializer):
        file = serializers.FileField()
        note = serializers.CharField(required=False, allow_blank=True, default="")

    def licence(self) -> Licence:
        return get_object_or_404(
            Licence.objects.visible_to(self.request.user).select_related("facility"), pk=self.kwargs["pk"]
        )

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return LicenceEvidence.objects.none()
        return LicenceEvidence.objects.filter(licence=self.licence()).select_related("uploaded_by")

    @extend_schema(
        tags=["licensing"],
        request={"multipart/form-data": EvidenceUploadInputSerializer},
        responses={201: LicenceEvidenceOutputSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request: Request, pk: int) -> Response:
        licence = self.licence()
        body = self.EvidenceUploadInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        submission = services.submit_evidence(
            by=request.user,
            licence=licence,
            file=body.validated_data["file"],
            note=body.validated_data["note"],
        )
        return Response(LicenceEvidenceOutputSerializer(submission).data, status=status.HTTP_201_CREATED)
