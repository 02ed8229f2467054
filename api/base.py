"""What every resource view shares: token auth, model permissions, throttling, the envelope."""

import re
from datetime import UTC

from rest_framework import serializers
from rest_framework.views import APIView

from api.authentication import ApiTokenAuthentication
from api.envelope import ApiError, EnvelopeRenderer, JsonOnlyNegotiation
from api.parsers import ApiJSONParser
from api.permissions import HasModelPermissions
from api.throttling import TokenRateThrottle

NUL = "\x00"


class ApiView(APIView):
    """A resource. Subclasses set `required_permissions` per method and return results (the
    renderer wraps them in the envelope); errors are raised (envelope.exception_handler)."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [HasModelPermissions]
    throttle_classes = [TokenRateThrottle]
    required_permissions: dict[str, tuple[str, ...]] = {}
    renderer_classes = [EnvelopeRenderer]
    parser_classes = [ApiJSONParser]
    content_negotiation_class = JsonOnlyNegotiation
    metadata_class = None  # OPTIONS answers 405: the schema describes every resource

    def dispatch(self, request, *args, **kwargs):
        # Paths name their parameters as the reference does ({directoryId}); views take snake_case.
        self.path_parameters = kwargs  # as the schema names them, for errors
        return super().dispatch(request, *args, **{_snake_case(name): value for name, value in kwargs.items()})

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # PostgreSQL refuses NUL in text: a value holding one would fail at the database (500).
        # No field has a use for it, so it is refused up front, naming where it is.
        where = _nul_in(
            {
                "path": self.path_parameters,
                "query": {
                    name: values[0] if len(values) == 1 else values for name, values in request.query_params.lists()
                },
                "body": request.data,
            }
        )
        if where:
            raise serializers.ValidationError({where: ["Holds a NUL character (\\u0000), which cannot be stored."]})


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _nul_in(value, path: str = "") -> str | None:
    """The dotted path of the first string holding NUL in nested dicts/lists, or None."""
    if isinstance(value, str):
        return path or "request" if NUL in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((f"[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    for key, item in items:
        if NUL in str(key):
            return path or "request"
        key = str(key)
        found = _nul_in(item, f"{path}{key}" if key.startswith("[") else f"{path}.{key}" if path else key)
        if found:
            return found
    return None


def get_or_404(queryset, message: str, **lookups):
    """The one row of `queryset` matching `lookups`, or a 404 in the envelope saying `message`."""
    row = queryset.filter(**lookups).first()
    if row is None:
        raise ApiError(message, code="NOT_FOUND", status=404)
    return row


def validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def forbidden(message: str):
    return ApiError(message, code="PERMISSION_DENIED", status=403)


def utc_datetime(**kwargs) -> serializers.DateTimeField:
    """A date and time as the reference writes it: ISO 8601 in UTC, e.g. 2024-03-05T09:41:07Z."""
    return serializers.DateTimeField(default_timezone=UTC, **kwargs)
