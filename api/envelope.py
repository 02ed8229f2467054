"""The reference platform's answer shape, for every answer under /API/, errors included:

    {"result": ..., "meta": {"httpStatus": "200 - OK", "requestId": "<uuid>"}}
    {"meta": {"httpStatus": "400 - Bad Request", "requestId": "...",
              "error": {"errorMessage": "...", "errorCode": "...", "fieldErrors": {...}}}}

Views return the result; EnvelopeRenderer wraps it. Errors are raised and shaped by
`exception_handler`; anything no handler knows ends in `ApiErrorMiddleware` as a JSON 500, so no
answer under /API/ is ever HTML.
"""

import logging
import uuid
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

API_PATH_PREFIX = "/API/"

# errorCode per DRF exception, the reference's style of stable upper-case codes.
ERROR_CODES = {
    exceptions.ValidationError: "INVALID_PARAMETER",
    exceptions.ParseError: "MALFORMED_REQUEST",
    exceptions.AuthenticationFailed: "AUTHENTICATION_FAILED",
    exceptions.NotAuthenticated: "AUTHENTICATION_REQUIRED",
    exceptions.PermissionDenied: "PERMISSION_DENIED",
    exceptions.NotFound: "NOT_FOUND",
    exceptions.MethodNotAllowed: "METHOD_NOT_ALLOWED",
    exceptions.UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
    exceptions.Throttled: "RATE_LIMIT_EXCEEDED",
}


class ApiError(exceptions.APIException):
    """An error the API answers with its own code: ApiError("message", code="CONFLICT", status=409)."""

    def __init__(self, message: str, *, code: str = "INVALID_REQUEST", status: int = 400):
        super().__init__(message)
        self.status_code, self.error_code = status, code


def http_status(code: int) -> str:
    """ "200 - OK", as the reference writes meta.httpStatus."""
    try:
        return f"{code} - {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def meta(*, status: int, request_id: str, error: dict | None = None) -> dict:
    body = {"httpStatus": http_status(status), "requestId": request_id}
    if error is not None:
        body["error"] = error
    return body


def request_id_of(request) -> str:
    """The request's id (one per request, made on first use), reported in meta.requestId."""
    django_request = getattr(request, "_request", request)
    if not hasattr(django_request, "api_request_id"):
        django_request.api_request_id = str(uuid.uuid4())
    return django_request.api_request_id


class EnvelopeRenderer(JSONRenderer):
    """Wraps what a view returns as `result`, and an error as `meta.error`."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        renderer_context = renderer_context or {}
        response, request = renderer_context.get("response"), renderer_context.get("request")
        status = response.status_code if response is not None else 200
        request_id = request_id_of(request) if request is not None else str(uuid.uuid4())
        if status >= 400:
            body = {"meta": meta(status=status, request_id=request_id, error=data)}
        elif data is None:
            body = {"meta": meta(status=status, request_id=request_id)}
        else:
            body = {"result": data, "meta": meta(status=status, request_id=request_id)}
        try:
            return super().render(body, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            # Half of a surrogate pair quoted back from a request (the parser refuses bodies holding
            # one; this is the last line): written as a \ud800 escape, which JSON allows and UTF-8 can hold.
            return _AsciiJSONRenderer().render(body, accepted_media_type, renderer_context)


class _AsciiJSONRenderer(JSONRenderer):
    ensure_ascii = True


class JsonOnlyNegotiation(BaseContentNegotiation):
    """Always JSON, whatever Accept says (as the reference answers): never a 406, never HTML."""

    def select_parser(self, request, parsers):
        for parser in parsers:
            if request.content_type.split(";")[0].strip().lower() == parser.media_type:
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors -> {"field.sub": [messages]} ("" for the request as a whole)."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for name, value in detail.items():
            if isinstance(name, int):  # an item of a list (DRF keys list errors by index)
                path = f"{prefix}[{name}]"
            elif name == "non_field_errors":
                path = prefix
            else:
                path = f"{prefix}.{name}" if prefix else name
            flat.update(_flatten(value, path))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix: [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flatten(item, f"{prefix}[{index}]"))
        return flat
    return {prefix: [str(detail)]}


def field_errors(detail) -> dict[str, list[str]]:
    """DRF's validation errors as fieldErrors: {"field.sub[0]": [messages]}, "" for the whole."""
    return {name: messages for name, messages in _flatten(detail).items() if messages}


def describe_field_errors(fields: dict[str, list[str]]) -> str:
    """fieldErrors in one sentence: "email: Not a valid email address.; data.Store: ..."."""
    return "; ".join(
        f"{name}: {' '.join(messages)}" if name else " ".join(messages) for name, messages in fields.items()
    )


def error_body(exc: exceptions.APIException) -> dict:
    code = getattr(exc, "error_code", None) or next(
        (code for kind, code in ERROR_CODES.items() if isinstance(exc, kind)), "REQUEST_FAILED"
    )
    if isinstance(exc, exceptions.ValidationError):
        fields = field_errors(exc.detail)
        message = describe_field_errors(fields)
        return {
            "errorMessage": f"Invalid request. {message}" if message else "Invalid request.",
            "errorCode": code,
            "fieldErrors": fields,
        }
    return {"errorMessage": str(exc.detail), "errorCode": code}


def too_large_message() -> str:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return (
        f"The request body is larger than the {limit / 1024 / 1024:.3g} MB ({limit:,} bytes) a call may send: "
        "split it into smaller calls (fewer transactions or contacts per batch)."
    )


def refused_request_error(exception: SuspiciousOperation) -> ApiError:
    """The answer to a request Django refuses to read (SuspiciousOperation): a 413 for a body past
    DATA_UPLOAD_MAX_MEMORY_SIZE, a 400 saying what else is wrong, never the 500 of an unknown error."""
    if isinstance(exception, RequestDataTooBig):
        return ApiError(too_large_message(), code="REQUEST_TOO_LARGE", status=413)
    if isinstance(exception, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return ApiError(
            f"The request has more than {limit:,} query parameters (DATA_UPLOAD_MAX_NUMBER_FIELDS): "
            "no call takes more than a few; send each once.",
            code="TOO_MANY_PARAMETERS",
        )
    # The Host header, a cookie or a header Django does not trust: what exactly stays in the
    # server's log (django.security), not in an answer to whoever sent it.
    return ApiError("The request was refused as malformed or unsafe; it was logged.", code="BAD_REQUEST")


def exception_handler(exc, context):
    """DRF's handler (status, Retry-After, WWW-Authenticate), with the body as meta.error."""
    if isinstance(exc, SuspiciousOperation):  # e.g. Django's DATA_UPLOAD_MAX_MEMORY_SIZE, reading the body
        exc = refused_request_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = error_body(exc)
    return response


def envelope_error_response(*, status: int, message: str, code: str, request=None) -> JsonResponse:
    """An error answer outside DRF's views (unknown paths, the last-resort 500)."""
    request_id = request_id_of(request) if request is not None else str(uuid.uuid4())
    error = {"errorMessage": message, "errorCode": code}
    return JsonResponse({"meta": meta(status=status, request_id=request_id, error=error)}, status=status)


@csrf_exempt  # a script's POST to a wrong path gets this 404, not the CSRF check's HTML page
def not_found(request, *args, **kwargs):
    """Any path under /API/ that no resource serves."""
    return envelope_error_response(
        status=404,
        message=f"No resource at {request.path_info}: see the API's schema at /API/v3/schema/ for the paths it serves.",
        code="NOT_FOUND",
        request=request,
    )


class ApiErrorMiddleware:
    """The last resort under /API/: an exception no handler turned into an answer becomes a JSON
    500 in the envelope (logged with its traceback), not Django's HTML error page; one that says the
    database is unavailable for now (connection refused or lost, a timeout), a 503 with Retry-After
    (logged in one line), which scripts retry."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not request.path_info.startswith(API_PATH_PREFIX):
            return None
        if isinstance(exception, SuspiciousOperation):  # a body or query read outside DRF's handler
            return refused_request_response(request, exception)
        if isinstance(exception, (OperationalError, InterfaceError)):  # the database went away: try again
            logger.error(
                "API call %s %s: the database is unavailable: %s", request.method, request.path_info, exception
            )
            return database_unavailable_response(request)
        logger.exception("API call %s %s failed", request.method, request.path_info, exc_info=exception)
        return server_error_response(request)


def refused_request_response(request, exception: SuspiciousOperation) -> JsonResponse:
    """refused_request_error as an answer, for code outside DRF's views (middleware, handler400)."""
    error = refused_request_error(exception)
    return envelope_error_response(
        status=error.status_code, message=str(error.detail), code=error.error_code, request=request
    )


# Seconds a client is asked to wait (Retry-After) before calling again while the database is unavailable.
RETRY_AFTER_SECONDS = 60


def database_unavailable_response(request) -> JsonResponse:
    """A 503 SERVICE_UNAVAILABLE in the envelope, with Retry-After: the database could not serve the
    call for now (it went away, refused the connection); the same call later may succeed."""
    response = envelope_error_response(
        status=503,
        message="The service is temporarily unavailable (its database cannot be reached): try again in a minute.",
        code="SERVICE_UNAVAILABLE",
        request=request,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error_response(request) -> JsonResponse:
    return envelope_error_response(
        status=500,
        message="The server could not complete this call; it was logged. Try again later, or report the requestId.",
        code="INTERNAL_ERROR",
        request=request,
    )
