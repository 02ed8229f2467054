"""GET /whoami: who the token acts as."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.base import ApiView


class WhoAmISerializer(serializers.Serializer):
    userName = serializers.CharField(source="username")
    firstName = serializers.CharField(source="first_name")
    lastName = serializers.CharField(source="last_name")
    email = serializers.CharField()
    accountType = serializers.SerializerMethodField(help_text="superuser, staff or user.")
    tokenName = serializers.SerializerMethodField()

    def get_accountType(self, user) -> str:
        return "superuser" if user.is_superuser else "staff" if user.is_staff else "user"

    def get_tokenName(self, user) -> str:
        return self.context["token"].name


class WhoAmIView(ApiView):
    @extend_schema(operation_id="whoami", summary="Who the token acts as", responses=WhoAmISerializer)
    def get(self, request):
        return Response(WhoAmISerializer(request.user, context={"token": request.auth}).data)
