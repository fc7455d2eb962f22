"""Cross-border API: transfer approvals (record, read, revoke) and the export log.

Writes are commands (an input serializer, one service call, the output serializer); reads are scoped by
`crossborder.selectors`, so another organisation's approval or log entry is a 404.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Organisation
from core.api.schema import error_responses
from crossborder import selectors, services
from crossborder.api.serializers import ExportLogEntryOutputSerializer, TransferApprovalOutputSerializer
from crossborder.models import ExportLogEntry, TransferApproval

TAGS = ["cross-border"]


class ApprovalFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=TransferApproval.Status.choices, method="filter_status", label="Status now"
    )
    country = django_filters.CharFilter(field_name="destination_country", lookup_expr="iexact")

    class Meta:
        model = TransferApproval
        fields = ["holder", "recipient", "basis", "status", "country"]

    def filter_status(self, queryset: QuerySet[TransferApproval], name: str, value: str) -> Any:
        return selectors.with_status(queryset, value)


class TransferApprovalListApi(ListAPIView):
    """Transfer approvals you may see (authorities: all; others: given or received by your organisation),
    newest first. POST records one: a regulator for a holder in its country, or the holder's admin."""

    serializer_class = TransferApprovalOutputSerializer
    filterset_class = ApprovalFilter

    class InputSerializer(serializers.Serializer):
        holder = serializers.PrimaryKeyRelatedField(
            queryset=Organisation.objects.all(), help_text="The data holder (exporter) organisation's id."
        )
        recipient = serializers.PrimaryKeyRelatedField(
            queryset=Organisation.objects.all(), help_text="The recipient organisation's id."
        )
        destination_country = serializers.CharField(
            max_length=2,
            required=False,
            allow_blank=True,
            help_text="ISO 3166-1 alpha-2; default: the recipient's country.",
        )
        data_classes = serializers.ListField(
            child=serializers.CharField(max_length=20), help_text="telemetry, personal and/or restricted."
        )
        basis = serializers.ChoiceField(choices=TransferApproval.Basis.choices)
        reference = serializers.CharField(
            max_length=200,
            required=False,
            allow_blank=True,
            default="",
            help_text="Approval number, filing number, certificate number or legal provision.",
        )
        valid_from = serializers.DateTimeField()
        valid_until = serializers.DateTimeField()
        notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)

    def get_queryset(self) -> QuerySet[TransferApproval]:
        return selectors.approvals_visible_to(self.request.user)

    @extend_schema(
        tags=TAGS, responses={200: TransferApprovalOutputSerializer(many=True), **error_responses(400)}
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: TransferApprovalOutputSerializer, **error_responses(400, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        approval = services.record_approval(
            by=request.user,
            holder=data["holder"],
            recipient=data["recipient"],
            destination_country=data.get("destination_country") or data["recipient"].country,
            data_classes=data["data_classes"],
            basis=data["basis"],
            reference=data["reference"],
            valid_from=data["valid_from"],
            valid_until=data["valid_until"],
            notes=data["notes"],
        )
        approval = selectors.approvals_visible_to(request.user).get(pk=approval.pk)
        return Response(TransferApprovalOutputSerializer(approval).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=TAGS, responses={200: TransferApprovalOutputSerializer, **error_responses(404)})
class TransferApprovalDetailApi(RetrieveAPIView):
    """One transfer approval with its status and revocation."""

    serializer_class = TransferApprovalOutputSerializer

    def get_queryset(self) -> QuerySet[TransferApproval]:
        return selectors.approvals_visible_to(self.request.user)


class TransferApprovalRevokeApi(APIView):
    """Revoke an approval from now on, with a reason (the regulator of the holder's country or the holder's
    admin). Transfers relying on it are refused from then on; the record itself stays."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={200: TransferApprovalOutputSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        approval = get_object_or_404(selectors.approvals_visible_to(request.user), pk=pk)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.revoke_approval(approval=approval, by=request.user, reason=body.validated_data["reason"])
        approval = selectors.approvals_visible_to(request.user).get(pk=pk)
        return Response(TransferApprovalOutputSerializer(approval).data)


class ExportLogFilter(django_filters.FilterSet):
    country = django_filters.CharFilter(
        field_name="destination_country", lookup_expr="iexact", label="Destination country"
    )
    jurisdiction = django_filters.CharFilter(
        field_name="data_jurisdiction", lookup_expr="iexact", label="The data's jurisdiction"
    )
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")
    date = django_filters.DateFilter(field_name="at", lookup_expr="date", label="Day (UTC)")

    class Meta:
        model = ExportLogEntry
        fields = ["outcome", "channel", "recipient", "holder", "country", "jurisdiction", "since", "until"]


@extend_schema(tags=TAGS, responses={200: ExportLogEntryOutputSerializer(many=True), **error_responses(400)})
class ExportLogListApi(ListAPIView):
    """The export log, newest first: every gate decision (allowed, not required, refused) and every release
    scan (passed or blocked). Auditors and regulators see all of it; others the entries where their
    organisation acted, received or held the data."""

    serializer_class = ExportLogEntryOutputSerializer
    filterset_class = ExportLogFilter

    def get_queryset(self) -> QuerySet[ExportLogEntry]:
        return selectors.export_log_visible_to(self.request.user)
