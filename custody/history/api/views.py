"""History-request API: a buyer asks, the custodian approves or rejects, the buyer downloads.

Every request is scoped to the caller: another organisation's request is a 404.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.schema import error_responses
from custody.history import selectors, services
from custody.history.api.serializers import HistoryRequestOutputSerializer
from custody.history.models import HistoryRequest
from passport import codes

TAGS = ["history requests"]


def _response(request: Request, history_request: HistoryRequest, status: int = 200) -> Response:
    found = selectors.history_requests_for(request.user).get(pk=history_request.pk)
    return Response(HistoryRequestOutputSerializer(found, context={"request": request}).data, status=status)


class HistoryRequestListApi(ListAPIView):
    """History requests your organisation made or must decide, newest first. POST asks a battery's
    custodian for its documented BMS history."""

    serializer_class = HistoryRequestOutputSerializer

    class InputSerializer(serializers.Serializer):
        battery = serializers.CharField(max_length=200, help_text="The battery's code.")
        purpose = serializers.CharField(
            max_length=2000,
            help_text="What the history is for (10 to 1000 characters); the custodian sees it.",
        )

    def get_queryset(self) -> Any:
        requests = selectors.history_requests_for(self.request.user)
        params = self.request.query_params
        if params.get("status") in HistoryRequest.Status.values:
            requests = requests.filter(status=params["status"])
        organisation = getattr(self.request.user, "organisation", None)
        if organisation is not None and params.get("role") == "requester":
            requests = requests.filter(requester=organisation)
        elif organisation is not None and params.get("role") == "custodian":
            requests = requests.filter(battery__current_custodian=organisation)
        if params.get("battery"):
            requests = requests.filter(battery__code=codes.normalise(params["battery"]))
        return requests

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("status", str, enum=HistoryRequest.Status.values),
            OpenApiParameter(
                "role",
                str,
                enum=["requester", "custodian"],
                description="requester: the requests you made; custodian: those you decide.",
            ),
            OpenApiParameter("battery", str, description="A battery code."),
        ],
        responses={200: HistoryRequestOutputSerializer(many=True), **error_responses()},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: HistoryRequestOutputSerializer, **error_responses(400, 403, 404, 409, 422)},
        description=(
            "Errors: PURPOSE_REQUIRED / TOO_LONG (400), NOT_PERMITTED (403: viewers and users without an "
            "organisation), BATTERY_NOT_FOUND (404), HISTORY_REQUEST_PENDING (409: your organisation "
            "already has an open request for this battery), HISTORY_REQUEST_TO_SELF (422: you hold it)."
        ),
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = services.request_history(
            by=request.user,
            battery_code=body.validated_data["battery"],
            purpose=body.validated_data["purpose"],
        )
        return _response(request, created, status=201)


@extend_schema(tags=TAGS, responses={200: HistoryRequestOutputSerializer, **error_responses(404)})
class HistoryRequestDetailApi(RetrieveAPIView):
    """One history request your organisation made or must decide, with its events and deliveries."""

    serializer_class = HistoryRequestOutputSerializer

    def get_queryset(self) -> Any:
        return selectors.history_requests_for(self.request.user)


class DecisionInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Required (REASON_REQUIRED when empty); the requester sees it. At most 1000 characters.",
    )


DECISION_ERRORS = (
    "Errors: REASON_REQUIRED / TOO_LONG (400), NOT_CUSTODIAN (403: only the battery's current custodian "
    "decides), NOT_PERMITTED (403: only its administrators), HISTORY_REQUEST_NOT_FOUND (404), "
    "HISTORY_REQUEST_NOT_PENDING (409: already decided)."
)


class HistoryRequestApproveApi(APIView):
    """The custodian's administrator releases the battery's history, as of now, to the requester."""

    @extend_schema(
        tags=TAGS,
        request=DecisionInputSerializer,
        responses={200: HistoryRequestOutputSerializer, **error_responses(400, 403, 404, 409)},
        description=DECISION_ERRORS,
    )
    def post(self, request: Request, pk: int) -> Response:
        body = DecisionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decided = services.approve_history_request(
            by=request.user, request=pk, reason=body.validated_data["reason"]
        )
        return _response(request, decided)


class HistoryRequestRejectApi(APIView):
    """The custodian's administrator declines the request, with the reason the requester sees."""

    @extend_schema(
        tags=TAGS,
        request=DecisionInputSerializer,
        responses={200: HistoryRequestOutputSerializer, **error_responses(400, 403, 404, 409)},
        description=DECISION_ERRORS,
    )
    def post(self, request: Request, pk: int) -> Response:
        body = DecisionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decided = services.reject_history_request(
            by=request.user, request=pk, reason=body.validated_data["reason"]
        )
        return _response(request, decided)


class HistoryRequestDownloadApi(APIView):
    """The approved history as a signed `voltrace.bms-history/1` JSON document (requester only).

    Vehicle and owner data are removed and the document is scanned before release; a requester outside
    the data's jurisdiction needs a recorded cross-border approval. A refusal is recorded on the request
    (`last_refusal`) and the request stays approved, so the download can be retried.
    """

    @extend_schema(
        tags=TAGS,
        responses={
            (200, "application/json"): OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="{format, payload, verification, signature}: Ed25519 over the RFC 8785 "
                "bytes of the document without signature, by the log key of /api/v1/log/public-key.",
            ),
            **error_responses(403, 404, 409, 422),
        },
        description=(
            "Errors: CROSS_BORDER_NOT_APPROVED (403: no recorded approval for this recipient, destination, "
            "data class and time), HISTORY_NOT_YOURS (403: only the requester downloads), "
            "HISTORY_REQUEST_NOT_FOUND (404), HISTORY_REQUEST_NOT_DECIDED / HISTORY_REQUEST_REJECTED (409), "
            "and the release scan's refusal when the scrubbed document still holds an identifier (422)."
        ),
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        delivered = services.deliver_history(by=request.user, request=pk)
        response = HttpResponse(delivered.signed.content, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{delivered.filename}"'
        response["Cache-Control"] = "no-store"
        return response
