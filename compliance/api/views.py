"""Checklist API: an organisation's or a facility's five points, scoped like the pages."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import selectors
from compliance.api.serializers import ChecklistOutputSerializer
from core.api.schema import error_responses

TAGS = ["compliance"]


class OrganisationChecklistApi(APIView):
    """The five-point checklist of an organisation: members read their own, auditors and regulators
    those of their country. Each point is green, amber or red with the rule that decided it, its figures
    and links to the pages that show the evidence."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="compliance_organisation_checklist",
        summary="An organisation's compliance checklist",
        responses={200: ChecklistOutputSerializer, **error_responses(404)},
        tags=TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        organisation = get_object_or_404(selectors.organisations_for(request.user), pk=pk)
        checklist = selectors.checklist_for_organisation(organisation=organisation)
        return Response(ChecklistOutputSerializer(checklist.as_dict()).data)


class FacilityChecklistApi(APIView):
    """The five-point checklist of one facility (its exports are its organisation's)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="compliance_facility_checklist",
        summary="A facility's compliance checklist",
        responses={200: ChecklistOutputSerializer, **error_responses(404)},
        tags=TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        facility = get_object_or_404(selectors.facilities_for(request.user), pk=pk)
        checklist = selectors.checklist_for_facility(facility=facility)
        return Response(ChecklistOutputSerializer(checklist.as_dict()).data)
