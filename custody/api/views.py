"""Custody API: events of batteries and lots, transfers, material lots, batch intake, bundles.

Write endpoints are commands: an input serializer, one service call, the output serializer. A request
with an `idempotency_key` (in the body, or the `Idempotency-Key` header) has one effect however often
it is retried: a retry returns the first result with the header `Idempotent-Replayed: true`, and the
same key with a different request is refused with 409 IDEMPOTENCY_KEY_REUSED.
"""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.schema import error_responses
from core.params import IdField
from custody import bundle, selectors, services
from custody.api.serializers import (
    EventOutputSerializer,
    IntakeImportOutputSerializer,
    LotOutputSerializer,
    TransferOutputSerializer,
)
from custody.errors import SubjectNotFound
from custody.events.models import BundleExport, CustodyEvent
from custody.intake.models import IntakeImport
from custody.lots.models import Material, MaterialLot
from custody.transfers.models import Transfer
from passport import access, codes
from passport.attributes import AUTHORITY, LEGITIMATE_INTEREST
from passport.models import Battery

TAGS = ["custody"]
BATTERY_STEPS = ("intake", "graded", "dismantled", "repurposed", "disposed", "retired")
LOT_STEPS = ("lot_split", "exported", "disposed")


def _key(request: Request, data: dict[str, Any]) -> str | None:
    return data.get("idempotency_key") or request.headers.get("Idempotency-Key") or None


def _battery_for_reader(user: Any, code: str) -> Battery:
    """A battery the user may read at the legitimate-interest tier; 404 otherwise (nothing leaks)."""
    battery = Battery.objects.for_passport().filter(code=codes.normalise(code)).first()
    if battery is None or access.tier_for(battery, user) not in (LEGITIMATE_INTEREST, AUTHORITY):
        raise SubjectNotFound(
            _("No battery %(code)s that you may see.") % {"code": codes.normalise(code)},
            code="BATTERY_NOT_FOUND",
        )
    return battery


def _lot_for_reader(user: Any, code: str) -> MaterialLot:
    lot = (
        MaterialLot.objects.visible_to(user)
        .select_related("current_custodian", "facility", "produced_by")
        .filter(code=code.strip().upper())
        .first()
    )
    if lot is None:
        raise SubjectNotFound(
            _("No material lot %(code)s that you may see.") % {"code": code}, code="LOT_NOT_FOUND"
        )
    return lot


def _event_response(outcome: services.Outcome) -> Response:
    event = selectors.with_proof_status(CustodyEvent.objects.filter(pk=outcome.event.pk))
    event = (
        event.select_related("actor", "facility", "licence", "battery", "lot")
        .prefetch_related("consumed_by__event__battery", "consumed_by__event__lot")
        .get()
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Response(EventOutputSerializer(event).data, status=201, headers=headers)


def _transfer_response(outcome: services.TransferOutcome, status: int = 200) -> Response:
    transfer = _transfers().get(pk=outcome.transfer.pk)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Response(TransferOutputSerializer(transfer).data, status=status, headers=headers)


def _transfers() -> Any:
    return Transfer.objects.select_related(
        "battery", "lot", "from_organisation", "to_organisation", "from_facility", "to_facility"
    )


# ---------------------------------------------------------------------------------------------------
# Battery events
# ---------------------------------------------------------------------------------------------------
class BatteryEventListApi(ListAPIView):
    """A battery's custody chain, oldest first, with each event's body, hash and proof status
    (legitimate-interest tier). POST records the next step."""

    serializer_class = EventOutputSerializer

    class InputSerializer(serializers.Serializer):
        type = serializers.ChoiceField(choices=BATTERY_STEPS)
        facility = IdField(required=False, allow_null=True, help_text="Your site's id.")
        occurred_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Default: now.")
        snapshots = serializers.ListField(
            child=serializers.CharField(max_length=64), required=False, help_text="Payload hashes."
        )
        idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=100)
        note = serializers.CharField(required=False, allow_blank=True, default="")
        grade = serializers.CharField(required=False, help_text="graded: A, B, C, D or scrap.")
        method = serializers.CharField(required=False, help_text="graded, disposed: how.")
        lab = IdField(required=False, allow_null=True, help_text="graded: certifying lab id.")
        components = serializers.ListField(
            child=serializers.CharField(max_length=40), required=False, help_text="dismantled: codes."
        )
        new_code = serializers.CharField(required=False, help_text="repurposed: the re-coded identifier.")
        application = serializers.CharField(required=False, allow_blank=True, default="")
        reason = serializers.CharField(required=False, allow_blank=True, default="", help_text="retired.")

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return CustodyEvent.objects.none()
        return selectors.events_of(_battery_for_reader(self.request.user, self.kwargs["code"]))

    @extend_schema(tags=TAGS, responses={200: EventOutputSerializer(many=True), **error_responses(404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: EventOutputSerializer, **error_responses(400, 403, 404, 409, 422)},
        description=(
            "Record a step: intake, graded, dismantled, repurposed, disposed or retired. Errors: "
            "ILLEGAL_TRANSITION, NO_LICENCE / LICENCE_EXPIRED / LICENCE_SUSPENDED / LICENCE_REVOKED / "
            "SCOPE_NOT_COVERED, BATTERY_NOT_FOUND, NOT_CUSTODIAN, THERMAL_EVENT_ON_RECORD, "
            "TRANSFER_PENDING, IDEMPOTENCY_KEY_REUSED, OCCURRED_BEFORE_PREVIOUS, OCCURRED_IN_FUTURE."
        ),
    )
    def post(self, request: Request, code: str) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        common = {
            "by": request.user,
            "code": code,
            "occurred_at": data.get("occurred_at"),
            "idempotency_key": _key(request, data),
        }
        step = data["type"]
        if step == "retired":
            outcome = services.record_retirement(**common, reason=data["reason"])
            return _event_response(outcome)
        common.update(facility=data.get("facility"), snapshots=data.get("snapshots"))
        if step == "intake":
            outcome = services.record_intake(**common, note=data["note"])
        elif step == "graded":
            outcome = services.record_grading(
                **common,
                grade=data.get("grade", ""),
                method=data.get("method", ""),
                lab=data.get("lab"),
                note=data["note"],
            )
        elif step == "dismantled":
            outcome = services.record_dismantling(
                **common, components=data.get("components"), note=data["note"]
            )
        elif step == "repurposed":
            outcome = services.record_repurposing(
                **common, new_code=data.get("new_code", ""), application=data["application"]
            )
        else:
            outcome = services.record_disposal(**common, method=data.get("method", ""))
        return _event_response(outcome)


class BatteryBundleApi(APIView):
    """A verification bundle (voltrace.custody-bundle/1) of the battery's chain and where it came from."""

    @extend_schema(
        tags=TAGS,
        responses={
            (200, "application/json"): OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="The bundle, streamed; check it with custody.verify.",
            ),
            **error_responses(404, 409),
        },
    )
    def get(self, request: Request, code: str) -> StreamingHttpResponse:
        battery = _battery_for_reader(request.user, code)
        scope = bundle.BundleScope(batteries=[battery], trace=True)
        prepared = bundle.prepare_bundle(scope)
        bundle.log_export(scope=scope, user=request.user, channel=BundleExport.Channel.API)
        response = StreamingHttpResponse(
            bundle.iter_bundle(prepared, reader=request.user), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="custody-bundle-{battery.code}.json"'
        return response


# ---------------------------------------------------------------------------------------------------
# Transfers
# ---------------------------------------------------------------------------------------------------
class TransferListApi(ListAPIView):
    """Transfers your organisation sent or received, newest first; filter by status. POST offers one."""

    serializer_class = TransferOutputSerializer

    class InputSerializer(serializers.Serializer):
        battery = serializers.CharField(required=False, allow_blank=True, help_text="Battery code.")
        lot = serializers.CharField(required=False, allow_blank=True, help_text="Material lot code.")
        to_organisation = IdField()
        to_facility = IdField()
        from_facility = IdField(required=False, allow_null=True)
        expires_at = serializers.DateTimeField(
            required=False, allow_null=True, help_text="Default: in 7 days."
        )
        note = serializers.CharField(required=False, allow_blank=True, default="")
        idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def get_queryset(self) -> Any:
        transfers = _transfers().filter(pk__in=Transfer.objects.visible_to(self.request.user).values("pk"))
        status = self.request.query_params.get("status")
        if status in Transfer.Status.values:
            transfers = transfers.filter(status=status)
        return transfers.order_by("-created_at", "-id")

    @extend_schema(tags=TAGS, responses={200: TransferOutputSerializer(many=True), **error_responses()})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: TransferOutputSerializer, **error_responses(400, 403, 404, 409, 422)},
        description="Errors: TRANSFER_TO_SELF, NOT_CUSTODIAN, TRANSFER_PENDING, ILLEGAL_TRANSITION, "
        "FACILITY_NOT_FOUND, IDEMPOTENCY_KEY_REUSED.",
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        outcome = services.initiate_transfer(
            by=request.user,
            battery_code=data.get("battery") or None,
            lot_code=data.get("lot") or None,
            to_organisation=data["to_organisation"],
            to_facility=data["to_facility"],
            from_facility=data.get("from_facility"),
            expires_at=data.get("expires_at"),
            note=data["note"],
            idempotency_key=_key(request, data),
        )
        return _transfer_response(outcome, status=201)


@extend_schema(tags=TAGS, responses={200: TransferOutputSerializer, **error_responses(404)})
class TransferDetailApi(RetrieveAPIView):
    """One transfer your organisation is a party to."""

    serializer_class = TransferOutputSerializer

    def get_queryset(self) -> Any:
        return _transfers().filter(pk__in=Transfer.objects.visible_to(self.request.user).values("pk"))


class TransferAcceptApi(APIView):
    """The receiver accepts: the subject is taken in at the named site, which must be licensed now."""

    class InputSerializer(serializers.Serializer):
        occurred_at = serializers.DateTimeField(required=False, allow_null=True)
        snapshots = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
        idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=100)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={200: TransferOutputSerializer, **error_responses(400, 403, 404, 409, 422)},
        description="Errors: TRANSFER_NOT_FOUND, TRANSFER_NOT_ADDRESSED_TO_YOU, TRANSFER_NOT_PENDING, "
        "TRANSFER_EXPIRED, licence codes, IDEMPOTENCY_KEY_REUSED.",
    )
    def post(self, request: Request, pk: int) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        outcome = services.accept_transfer(
            by=request.user,
            transfer=pk,
            occurred_at=data.get("occurred_at"),
            snapshots=data.get("snapshots"),
            idempotency_key=_key(request, data),
        )
        return _transfer_response(outcome)


class TransferEndInputSerializer(serializers.Serializer):
    """Rejecting or withdrawing an offer: a reason for the other party, optionally."""

    reason = serializers.CharField(required=False, allow_blank=True, default="")
    idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=100)


def _end_offer(request: Request, pk: int, end: Any) -> Response:
    """Reject or withdraw an offer through `end` (`services.reject_transfer` or `cancel_transfer`)."""
    body = TransferEndInputSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    outcome = end(by=request.user, transfer=pk, reason=data["reason"], idempotency_key=_key(request, data))
    return _transfer_response(outcome)


class TransferRejectApi(APIView):
    """The receiver rejects the offer; the subject stays with the sender."""

    @extend_schema(
        tags=TAGS,
        request=TransferEndInputSerializer,
        responses={200: TransferOutputSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        return _end_offer(request, pk, services.reject_transfer)


class TransferCancelApi(APIView):
    """The sender withdraws an offer not yet answered."""

    @extend_schema(
        tags=TAGS,
        request=TransferEndInputSerializer,
        responses={200: TransferOutputSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        return _end_offer(request, pk, services.cancel_transfer)


# ---------------------------------------------------------------------------------------------------
# Material lots
# ---------------------------------------------------------------------------------------------------
class RecyclingInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["battery", "lot"], default="battery")
    code = serializers.CharField(max_length=40)
    mass_kg = serializers.CharField(required=False, allow_null=True, help_text="Decimal kg, e.g. 410.000.")


class RecyclingOutputSerializer(serializers.Serializer):
    material = serializers.ChoiceField(choices=Material.choices)
    mass_kg = serializers.CharField(help_text="Decimal kg to the gram.")


def _lots() -> Any:
    return MaterialLot.objects.select_related("current_custodian", "facility", "produced_by")


class LotListApi(ListAPIView):
    """Material lots your organisation holds or produced; filter by status or material. POST records a
    recycling step that turns batteries (or lots) into new lots."""

    serializer_class = LotOutputSerializer

    class InputSerializer(serializers.Serializer):
        facility = IdField()
        inputs = RecyclingInputSerializer(many=True)
        outputs = RecyclingOutputSerializer(many=True)
        losses_kg = serializers.CharField(required=False, default="0")
        process = serializers.CharField(required=False, allow_blank=True, default="")
        occurred_at = serializers.DateTimeField(required=False, allow_null=True)
        idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def get_queryset(self) -> Any:
        lots = _lots().filter(pk__in=MaterialLot.objects.visible_to(self.request.user).values("pk"))
        params = self.request.query_params
        if params.get("status") in MaterialLot.Status.values:
            lots = lots.filter(status=params["status"])
        if params.get("material") in Material.values:
            lots = lots.filter(material=params["material"])
        return lots.order_by("-produced_at", "code")

    @extend_schema(tags=TAGS, responses={200: LotOutputSerializer(many=True), **error_responses()})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: EventOutputSerializer, **error_responses(400, 403, 404, 409, 422)},
        description="The response is the first input's `recycled` event; `produced` lists the new lots. "
        "Errors: MASS_BALANCE, MASS_PRECISION, ILLEGAL_TRANSITION, NOT_CUSTODIAN, licence codes.",
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        outcome = services.record_recycling(
            by=request.user,
            facility=data["facility"],
            inputs=[dict(item) for item in data["inputs"]],
            outputs=[dict(item) for item in data["outputs"]],
            losses_kg=data["losses_kg"],
            process=data["process"],
            occurred_at=data.get("occurred_at"),
            idempotency_key=_key(request, data),
        )
        return _event_response(outcome)


@extend_schema(tags=TAGS, responses={200: LotOutputSerializer, **error_responses(404)})
class LotDetailApi(RetrieveAPIView):
    """One material lot."""

    serializer_class = LotOutputSerializer

    def get_object(self) -> MaterialLot:
        return _lot_for_reader(self.request.user, self.kwargs["code"])


class LotEventListApi(ListAPIView):
    """A lot's custody chain. POST records lot_split, exported or disposed."""

    serializer_class = EventOutputSerializer

    class InputSerializer(serializers.Serializer):
        type = serializers.ChoiceField(choices=LOT_STEPS)
        facility = IdField(required=False, allow_null=True)
        parts = serializers.ListField(
            child=serializers.CharField(), required=False, help_text="lot_split: kg."
        )
        losses_kg = serializers.CharField(required=False, default="0")
        destination_country = serializers.CharField(required=False, default="")
        consignee = serializers.CharField(required=False, default="")
        method = serializers.CharField(required=False, default="")
        occurred_at = serializers.DateTimeField(required=False, allow_null=True)
        idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=100)

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return CustodyEvent.objects.none()
        return selectors.events_of(_lot_for_reader(self.request.user, self.kwargs["code"]))

    @extend_schema(tags=TAGS, responses={200: EventOutputSerializer(many=True), **error_responses(404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: EventOutputSerializer, **error_responses(400, 403, 404, 409, 422)},
    )
    def post(self, request: Request, code: str) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        common = {
            "by": request.user,
            "code": code,
            "occurred_at": data.get("occurred_at"),
            "idempotency_key": _key(request, data),
        }
        if data["type"] == "lot_split":
            outcome = services.split_lot(
                **common,
                facility=data.get("facility"),
                parts=data.get("parts") or [],
                losses_kg=data["losses_kg"],
            )
        elif data["type"] == "exported":
            outcome = services.export_lot(
                **common,
                destination_country=data["destination_country"],
                consignee=data["consignee"],
                facility=data.get("facility"),
            )
        else:
            outcome = services.dispose_lot(**common, facility=data.get("facility"), method=data["method"])
        return _event_response(outcome)


class LotMergeApi(APIView):
    """Merge lots of one material into a new lot."""

    class InputSerializer(serializers.Serializer):
        codes = serializers.ListField(child=serializers.CharField(max_length=32), min_length=2)
        facility = IdField()
        losses_kg = serializers.CharField(required=False, default="0")
        occurred_at = serializers.DateTimeField(required=False, allow_null=True)
        idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=100)

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: EventOutputSerializer, **error_responses(400, 403, 404, 409, 422)},
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        outcome = services.merge_lots(
            by=request.user,
            codes=data["codes"],
            facility=data["facility"],
            losses_kg=data["losses_kg"],
            occurred_at=data.get("occurred_at"),
            idempotency_key=_key(request, data),
        )
        return _event_response(outcome)


class TraceBatterySerializer(serializers.Serializer):
    code = serializers.CharField()
    oem = serializers.CharField(source="oem.name")
    origin = serializers.CharField()
    product_type = serializers.CharField()


class LotTraceApi(APIView):
    """The lawful-origin trace of a lot: input batteries and their OEMs, lots, sites and licences."""

    @extend_schema(tags=TAGS, responses={200: OpenApiTypes.OBJECT, **error_responses(404)})
    def get(self, request: Request, code: str) -> Response:
        trace = selectors.lot_trace(_lot_for_reader(request.user, code))
        return Response(
            {
                "lot": trace.lot.code,
                "lawful": trace.lawful,
                "event_count": trace.event_count,
                "oems": list(trace.oems),
                "batteries": TraceBatterySerializer(trace.batteries, many=True).data,
                "lots": [
                    {"code": lot.code, "material": lot.material, "status": lot.status} for lot in trace.lots
                ],
                "sites": [
                    {
                        "facility_id": site.facility.pk,
                        "facility": site.facility.name,
                        "organisation": site.organisation,
                        "activities": list(site.activities),
                        "first_at": site.first_at,
                        "last_at": site.last_at,
                    }
                    for site in trace.sites
                ],
                "licences": [
                    {
                        "id": item.licence.pk,
                        "number": item.licence.number,
                        "kind": item.licence.kind,
                        "facility": item.facility.name,
                        "steps": item.steps,
                        "flagged_steps": item.flagged_steps,
                    }
                    for item in trace.licences
                ],
            }
        )


# ---------------------------------------------------------------------------------------------------
# Batch intake
# ---------------------------------------------------------------------------------------------------
class IntakeImportCreateApi(APIView):
    """Upload a CSV (code, occurred_at, note) of batteries taken in at one site; checked whole, then
    recorded whole or not at all. Poll the returned import for progress and the per-row report."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        facility = IdField()

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": InputSerializer},
        responses={202: IntakeImportOutputSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = services.start_intake_import(
            upload=body.validated_data["file"], facility=body.validated_data["facility"], by=request.user
        )
        return Response(IntakeImportOutputSerializer(job).data, status=202)


@extend_schema(tags=TAGS, responses={200: IntakeImportOutputSerializer, **error_responses(404)})
class IntakeImportDetailApi(RetrieveAPIView):
    """An intake import's progress and, when done, its per-row report or errors."""

    serializer_class = IntakeImportOutputSerializer

    def get_queryset(self) -> Any:
        return IntakeImport.objects.visible_to(self.request.user)
