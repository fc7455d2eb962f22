"""Passport API: codes explained, batteries registered and read by tier, QR images, keys and grants."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from django.urls import reverse
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
from core.params import IdField
from passport import codes, qr, selectors, services
from passport.api.serializers import (
    AccessGrantOutputSerializer,
    BatteryModelOutputSerializer,
    BatteryOutputSerializer,
    CodeExplanationOutputSerializer,
    DeviceKeyOutputSerializer,
    DeviceKeyRevocationOutputSerializer,
    ManufacturerCodeOutputSerializer,
    PassportOutputSerializer,
)
from passport.models import AccessGrant, Battery, BatteryModel, DeviceKey, ManufacturerCode


class NotRegistered(NotFound):
    default_code = "NOT_REGISTERED"


def not_registered(code: str) -> NotRegistered:
    return NotRegistered(
        _("No battery is registered under %(code)s. A label carrying it may be counterfeit.")
        % {"code": code},
        field="code",
    )


def _battery_queryset(user: Any) -> Any:
    return (
        Battery.objects.visible_to(user)
        .select_related(
            "oem",
            "battery_model",
            "parent",
            "original",
            "current_custodian",
            "registered_by",
            "registration_key",
        )
        .order_by("-registered_at", "code")
    )


def passport_document(passport: selectors.Passport, request: Request | None = None) -> dict[str, Any]:
    """The passport as the API returns it."""
    code = passport.battery.code
    return {
        "code": code,
        "scheme": passport.battery.scheme,
        "tier": passport.tier,
        "passport_url": passport.url,
        "qr_svg": reverse("passport-api:battery-qr", kwargs={"code": code, "fmt": "svg"}),
        "qr_png": reverse("passport-api:battery-qr", kwargs={"code": code, "fmt": "png"}),
        "verdict": passport.verdict.as_dict(),
        "attributes": [item.as_dict() for item in passport.attributes],
        "custody": passport.custody.as_dict(),
        "components": list(passport.components),
        "component_count": passport.component_count,
    }


# ---------------------------------------------------------------------------------------------------
# Codes
# ---------------------------------------------------------------------------------------------------
@extend_schema(tags=["passport"], responses={200: CodeExplanationOutputSerializer, **error_responses()})
class CodeExplainApi(APIView):
    """Decode and validate an identifier segment by segment: each segment's value, meaning and validity,
    and the first error (segment and 1-based position) if any. Public."""

    permission_classes = [AllowAny]

    def get(self, request: Request, code: str) -> Response:
        explanation = codes.explain_code(code, manufacturer_lookup=selectors.manufacturer_lookup)
        body = explanation.as_dict()
        body["registered"] = (
            explanation.valid and Battery.objects.filter(code=explanation.normalised).exists()
        )
        return Response(body)


# ---------------------------------------------------------------------------------------------------
# Batteries
# ---------------------------------------------------------------------------------------------------
class RegistrationItemSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200, trim_whitespace=False)
    model = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    production_date = serializers.DateField(required=False, allow_null=True, default=None)
    parent_code = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    original_code = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


@extend_schema(tags=["passport"])
class BatteryListApi(ListAPIView):
    """Batteries the caller may see (its OEM's, those in its custody, those granted to it).
    POST registers one battery or a list (all or nothing), plain or as OEM-signed records."""

    serializer_class = BatteryOutputSerializer
    filterset_fields = ["status", "origin", "product_type", "scheme", "manufacturer_code"]

    def get_queryset(self) -> Any:
        return _battery_queryset(self.request.user)

    @extend_schema(responses={200: BatteryOutputSerializer(many=True), **error_responses(400)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=RegistrationItemSerializer,
        responses={201: BatteryOutputSerializer, **error_responses(400, 403, 409, 422)},
        description=(
            "Send one object or a list of up to 1000. Plain items: `code`, `model`, `production_date` "
            "(GS1 only), `parent_code`, `original_code`. Signed records: "
            '`{"format": "voltrace.registration/1", "payload": {..., "signed_at"}, '
            '"signature": {"alg", "key_id", "value"}}`. Errors name the item as `[index].field`. '
            "A code already registered gives 409 DUPLICATE_CODE and a clone alert to both organisations."
        ),
    )
    def post(self, request: Request) -> Response:
        body = request.data
        as_list = isinstance(body, list)
        items = body if as_list else [body]
        if not all(isinstance(item, dict) for item in items):
            raise InvalidInput(_("Send a JSON object or a list of objects."), code="MALFORMED_REQUEST")
        signed = [isinstance(item, dict) and "format" in item for item in items]
        if any(signed) and not all(signed):
            raise InvalidInput(
                _("Do not mix signed records and plain items in one request."), code="MIXED_REQUEST"
            )
        if items and all(signed):
            batteries = services.register_signed_records(records=items, by=request.user, as_list=as_list)
        else:
            rows = []
            for index, item in enumerate(items):
                parsed = RegistrationItemSerializer(data=item)
                if not parsed.is_valid():
                    raise serializers.ValidationError(
                        {f"[{index}]": parsed.errors} if as_list else parsed.errors
                    )
                rows.append(parsed.validated_data)
            batteries = services.register_batteries(
                requests=[services.RegistrationRequest(**row) for row in rows],
                by=request.user,
                as_list=as_list,
            )
        order = {battery.pk: index for index, battery in enumerate(batteries)}
        batteries = sorted(
            _battery_queryset(request.user).filter(pk__in=order), key=lambda battery: order[battery.pk]
        )
        output = BatteryOutputSerializer(batteries, many=True).data
        return Response(output if as_list else output[0], status=status.HTTP_201_CREATED)


@extend_schema(tags=["passport"], responses={200: PassportOutputSerializer, **error_responses(400, 404)})
class PassportDetailApi(APIView):
    """The passport of a battery at the caller's tier: public for anyone, more for legitimate interest
    (OEM, custodian, grantees, transfer parties) and authorities of its jurisdiction."""

    permission_classes = [AllowAny]

    def get(self, request: Request, code: str) -> Response:
        parsed = codes.parse_code(code)
        battery = selectors.battery_for_passport(parsed.code)
        if battery is None:
            raise not_registered(parsed.code)
        passport = selectors.passport_for(battery=battery, user=request.user)
        return Response(passport_document(passport, request))


@extend_schema(
    tags=["passport"],
    parameters=[OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=["svg", "png"])],
    responses={
        (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="The SVG image (fmt=svg)."),
        (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The PNG image (fmt=png)."),
        304: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)."),
        **error_responses(404),
    },
)
class BatteryQrApi(APIView):
    """The battery's QR code (error correction M, quiet zone 4, code printed under it), encoding exactly
    its public passport address. Rendered once and cached; ETag and long Cache-Control."""

    permission_classes = [AllowAny]

    def get(self, request: Request, code: str, fmt: str) -> HttpResponse:
        image = qr.cached_qr(code, fmt)
        if image is None:  # never rendered: make sure the code is registered before caching an image
            if not Battery.objects.filter(code=code).exists():
                raise not_registered(code)
            image = qr.qr_for(code, fmt)
        if request.headers.get("If-None-Match") == image.etag:
            response: HttpResponse = HttpResponseNotModified()
        else:
            response = HttpResponse(image.content, content_type=image.content_type)
        response["ETag"] = image.etag
        response["Cache-Control"] = "public, max-age=86400"
        return response


# ---------------------------------------------------------------------------------------------------
# Access grants
# ---------------------------------------------------------------------------------------------------
@extend_schema(tags=["passport"])
class AccessGrantListApi(ListAPIView):
    """Grants on one battery, for its custodian and grantees. POST grants a buyer organisation
    legitimate-interest access until a date (the current custodian's operators)."""

    serializer_class = AccessGrantOutputSerializer

    class InputSerializer(serializers.Serializer):
        grantee = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all())
        valid_until = serializers.DateTimeField()
        purpose = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no URL kwargs
            return AccessGrant.objects.none()
        return (
            AccessGrant.objects.visible_to(self.request.user)
            .filter(battery__code=self.kwargs["code"])
            .select_related("battery", "grantee", "granted_by")
        )

    @extend_schema(responses={200: AccessGrantOutputSerializer(many=True), **error_responses(404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=InputSerializer,
        responses={201: AccessGrantOutputSerializer, **error_responses(400, 403, 404, 422)},
    )
    def post(self, request: Request, code: str) -> Response:
        battery = get_object_or_404(
            Battery.objects.visible_to(request.user).select_related("current_custodian"), code=code
        )
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        grant = services.grant_access(battery=battery, by=request.user, **body.validated_data)
        return Response(AccessGrantOutputSerializer(grant).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["passport"])
class AccessGrantRevokeApi(APIView):
    """End an access grant now (the granting custodian)."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")

    @extend_schema(
        request=InputSerializer,
        responses={200: AccessGrantOutputSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request: Request, grant_id: int) -> Response:
        grant = get_object_or_404(AccessGrant.objects.visible_to(request.user), pk=grant_id)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        grant = services.revoke_access_grant(
            grant=grant, by=request.user, reason=body.validated_data["reason"]
        )
        return Response(AccessGrantOutputSerializer(grant).data)


# ---------------------------------------------------------------------------------------------------
# Device keys
# ---------------------------------------------------------------------------------------------------
def _keys(user: Any) -> Any:
    return DeviceKey.objects.visible_to(user).select_related("organisation").prefetch_related("revocations")


@extend_schema(tags=["device-keys"])
class DeviceKeyListApi(ListAPIView):
    """Keys of the caller's organisation. POST registers a public key (organisation administrators):
    Ed25519 or ECDSA P-256, as PEM or raw base64; `key_id` is the hex SHA-256 of the raw public key."""

    serializer_class = DeviceKeyOutputSerializer
    filterset_fields = ["purpose", "algorithm", "device_serial"]

    class InputSerializer(serializers.Serializer):
        public_key = serializers.CharField(
            max_length=4000, help_text="PEM (SubjectPublicKeyInfo) or raw base64."
        )
        purpose = serializers.ChoiceField(choices=DeviceKey.Purpose.choices)
        device_serial = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        facility = IdField(required=False, allow_null=True, default=None)
        label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        valid_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
        valid_until = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def get_queryset(self) -> Any:
        return _keys(self.request.user)

    @extend_schema(responses={200: DeviceKeyOutputSerializer(many=True), **error_responses(400)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=InputSerializer, responses={201: DeviceKeyOutputSerializer, **error_responses(400, 403, 409)}
    )
    def post(self, request: Request) -> Response:
        from licensing.models import Facility

        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        organisation = request.user.organisation
        if organisation is None:
            raise InvalidInput(_("You do not belong to an organisation."), code="NO_ORGANISATION")
        facility_id = data.pop("facility")
        facility = None
        if facility_id is not None:
            facility = Facility.objects.visible_to(request.user).filter(pk=facility_id).first()
            if facility is None:
                raise InvalidInput(_("Unknown facility."), field="facility")
        key = services.register_device_key(
            organisation=organisation, by=request.user, facility=facility, **data
        )
        return Response(
            DeviceKeyOutputSerializer(_keys(request.user).get(pk=key.pk)).data, status=status.HTTP_201_CREATED
        )


@extend_schema(tags=["device-keys"], responses={200: DeviceKeyOutputSerializer, **error_responses(404)})
class DeviceKeyDetailApi(RetrieveAPIView):
    """One key with its revocation history."""

    serializer_class = DeviceKeyOutputSerializer
    lookup_field = "key_id"

    def get_queryset(self) -> Any:
        return _keys(self.request.user)


@extend_schema(tags=["device-keys"])
class DeviceKeyRevokeApi(APIView):
    """Revoke a key from an effective time on (default now); the history is append-only."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)
        effective_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    @extend_schema(
        request=InputSerializer,
        responses={201: DeviceKeyRevocationOutputSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request: Request, key_id: str) -> Response:
        key = get_object_or_404(DeviceKey.objects.visible_to(request.user), key_id=key_id)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        revocation = services.revoke_device_key(key=key, by=request.user, **body.validated_data)
        return Response(DeviceKeyRevocationOutputSerializer(revocation).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------------------------------------------
# Registry: battery models and manufacturer codes
# ---------------------------------------------------------------------------------------------------
@extend_schema(tags=["passport"])
class BatteryModelListApi(ListAPIView):
    """The caller's OEM's battery models. POST describes a new one (OEM operators and administrators)."""

    serializer_class = BatteryModelOutputSerializer
    filterset_fields = ["chemistry", "product_type"]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        chemistry = serializers.ChoiceField(choices=BatteryModel._meta.get_field("chemistry").choices)
        product_type = serializers.ChoiceField(choices=BatteryModel._meta.get_field("product_type").choices)
        rated_capacity_ah = serializers.DecimalField(max_digits=10, decimal_places=3)
        nominal_voltage_v = serializers.DecimalField(max_digits=9, decimal_places=3)
        rated_energy_kwh = serializers.DecimalField(max_digits=10, decimal_places=3)
        mass_kg = serializers.DecimalField(max_digits=10, decimal_places=3)
        cell_count = serializers.IntegerField(min_value=1)
        configuration = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
        expected_cycle_life = serializers.IntegerField(
            min_value=1, required=False, allow_null=True, default=None
        )
        expected_lifetime_years = serializers.IntegerField(
            min_value=1, max_value=100, required=False, allow_null=True, default=None
        )
        cell_voltage_min_v = serializers.DecimalField(
            max_digits=5, decimal_places=3, required=False, allow_null=True, default=None
        )
        cell_voltage_max_v = serializers.DecimalField(
            max_digits=5, decimal_places=3, required=False, allow_null=True, default=None
        )

    def get_queryset(self) -> Any:
        return BatteryModel.objects.visible_to(self.request.user).select_related("oem").order_by("name", "id")

    @extend_schema(responses={200: BatteryModelOutputSerializer(many=True), **error_responses(400)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=InputSerializer,
        responses={201: BatteryModelOutputSerializer, **error_responses(400, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if request.user.organisation is None:
            raise InvalidInput(_("You do not belong to an organisation."), code="NO_ORGANISATION")
        model = services.create_battery_model(
            oem=request.user.organisation, by=request.user, **body.validated_data
        )
        return Response(BatteryModelOutputSerializer(model).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["passport"])
class ManufacturerCodeListApi(ListAPIView):
    """Allocated manufacturer codes and their OEMs (public knowledge: the code is printed on every unit).
    POST allocates a code to an OEM (platform administrators)."""

    serializer_class = ManufacturerCodeOutputSerializer
    filterset_fields = ["code"]

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=10)
        oem = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all())

    def get_queryset(self) -> Any:
        return ManufacturerCode.objects.select_related("oem").order_by("code")

    @extend_schema(responses={200: ManufacturerCodeOutputSerializer(many=True), **error_responses(400)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=InputSerializer,
        responses={201: ManufacturerCodeOutputSerializer, **error_responses(400, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        allocation = services.allocate_manufacturer_code(by=request.user, **body.validated_data)
        return Response(ManufacturerCodeOutputSerializer(allocation).data, status=status.HTTP_201_CREATED)
