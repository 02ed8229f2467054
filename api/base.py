"""What every resource view shares: token auth, model permissions, throttling, the envelope."""

import io
import re
from datetime import UTC

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS
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
        _read_chunked_body(request._request)  # once the caller is known: no body read for a 401
        # PostgreSQL refuses NUL in text: a value holding one would fail at the database (500).
        # No field has a use for it, so it is refused up front, naming where it is.
        where = _nul_in(
            {
                "path": self.path_parameters,
                "query": {
                    name: values[0] if len(values) == 1 else values for name, values in request.query_params.lists()
                },
                # A GET has no body to read: its schema promises no 413 or 415 for one sent anyway.
                "body": None if request.method in SAFE_METHODS else request.data,
            }
        )
        if where:
            raise serializers.ValidationError({where: ["Holds a NUL character (\\u0000), which cannot be stored."]})


def _read_chunked_body(request) -> None:
    """Make a chunked body readable. Django reads no more than CONTENT_LENGTH, which a chunked
    request does not send, so its body would read as empty: a contact POSTed that way was created
    with none of its fields. A server that removes the chunking and ends the stream says so
    (wsgi.input_terminated, PEP 3333; gunicorn does): the body is read from it, within the size
    limit. Elsewhere the caller is asked for a Content-Length."""
    meta = request.META
    if request.method in SAFE_METHODS or "CONTENT_LENGTH" in meta:
        return
    if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return
    if not meta.get("wsgi.input_terminated"):
        raise ApiError(
            "This web server cannot read a chunked body: send the request with a Content-Length.",
            code="LENGTH_REQUIRED",
        )
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = meta["wsgi.input"].read(limit + 1 if limit is not None else -1)
    if limit is not None and len(body) > limit:
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
    meta["CONTENT_LENGTH"] = str(len(body))
    # Django's own way to make a body read once readable again (HttpRequest.body does the same).
    request._stream = io.BytesIO(body)


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


class InputSerializer(serializers.Serializer):
    """A request body's object: a name it does not define is refused (400 naming it), never dropped.

    A misspelled field (`firstname`, `embedded_data`) or one of the reference's that this product
    does not implement would otherwise be ignored while the call answers success, the caller
    believing it was written or applied.

    `output_only`: the names the resource's GET answer has that no write takes (its id, its dates),
    accepted and ignored, so that an object fetched, changed and sent back is a valid body."""

    output_only: tuple[str, ...] = ()

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(str(name) for name in data if name not in self.fields and name not in self.output_only)
            if unknown:
                known = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {name: [f"Unknown field: this call takes {known}."] for name in unknown}
                )
        return super().to_internal_value(data)


def validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def forbidden(message: str):
    return ApiError(message, code="PERMISSION_DENIED", status=403)


class DateTimeField(serializers.DateTimeField):
    """DRF's, refusing as "out of range" (400) a time the site's time zone takes past the first or
    last instant a datetime holds (0001-01-01T00:00 east of UTC), on which DRF's own check fails
    with an OverflowError (500)."""

    def enforce_timezone(self, value):
        try:
            return super().enforce_timezone(value)
        except OverflowError:
            self.fail("overflow")


def utc_datetime(**kwargs) -> DateTimeField:
    """A date and time as the reference writes it: ISO 8601 in UTC, e.g. 2024-03-05T09:41:07Z."""
    return DateTimeField(default_timezone=UTC, **kwargs)
