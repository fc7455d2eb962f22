from __future__ import annotations

from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.api.serializers import MeOutputSerializer, OrganisationOutputSerializer
from accounts.models import Organisation
from core.api.schema import error_responses
from core.errors import DomainError


class InvalidCredentials(DomainError):
    status_code = 400
    default_code = "INVALID_CREDENTIALS"


class TokenCreateApi(APIView):
    """Exchange a username and password for an API token."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            **error_responses(400),
        },
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = authenticate(
            request, username=body.validated_data["username"], password=body.validated_data["password"]
        )
        if user is None or not user.is_active:
            raise InvalidCredentials(_("Unable to log in with the credentials provided."))
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


@extend_schema(tags=["accounts"], responses={200: MeOutputSerializer, **error_responses()})
class MeApi(APIView):
    """The signed-in user, their organisation and role."""

    def get(self, request: Request) -> Response:
        return Response(MeOutputSerializer(request.user).data)


@extend_schema(
    tags=["accounts"], responses={200: OrganisationOutputSerializer(many=True), **error_responses()}
)
class OrganisationListApi(ListAPIView):
    """Organisations visible to the user: their own; every one for authorities."""

    serializer_class = OrganisationOutputSerializer
    filterset_fields = ["kind", "country"]

    def get_queryset(self) -> QuerySet[Organisation]:
        return Organisation.objects.visible_to(self.request.user).order_by("name")


@extend_schema(tags=["accounts"], responses={200: OrganisationOutputSerializer, **error_responses(404)})
class OrganisationDetailApi(RetrieveAPIView):
    serializer_class = OrganisationOutputSerializer

    def get_queryset(self) -> QuerySet[Organisation]:
        return Organisation.objects.visible_to(self.request.user)
