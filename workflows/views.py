import ipaddress

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from workflows.salesforce.soap import CONTENT_TYPE
from workflows.services.ingest import Call, inbound_message_receive
from workflows.services.test_events import HEADER as TEST_EVENT_HEADER

_TEST_EVENT_META = "HTTP_" + TEST_EVENT_HEADER.upper().replace("-", "_")


@csrf_exempt
def salesforce_event(request, token=None):
    """Transport only: read at most the size cap (+1, to tell "too large"), then hand over."""
    body, body_error = _read_body(request, limit=settings.SALESFORCE_MAX_BODY_BYTES + 1)
    answer = inbound_message_receive(
        Call(
            token=token or "",
            method=request.method,
            body=body,
            body_error=body_error,
            content_type=request.content_type or "",
            charset=request.content_params.get("charset", ""),
            remote_addr=_remote_addr(request),
            # From META: request.headers would build a dict of every header on each call.
            test_event=request.META.get(_TEST_EVENT_META, ""),
        )
    )
    response = HttpResponse(answer.body, status=answer.status, content_type=CONTENT_TYPE)
    if answer.status == 405:
        response["Allow"] = "POST"
    return response


def _read_body(request, *, limit: int) -> tuple[bytes, str]:
    """(at most `limit` bytes of the body, "" or why it could not be read whole)."""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    try:
        if chunked and "CONTENT_LENGTH" not in request.META:
            # Django reads no more than CONTENT_LENGTH, which a chunked request does not send; a
            # server that removes the chunking and ends the stream (gunicorn) says so (PEP 3333).
            if not request.META.get("wsgi.input_terminated"):
                return b"", "this web server cannot read a chunked body: send the request with a Content-Length"
            return request.META["wsgi.input"].read(limit), ""
        body = request.read(limit)
    # Besides Django's and the socket's errors, the server's own: gunicorn raises its parse errors
    # (not OSErrors) from the body stream for a malformed chunked trailer.
    except Exception as error:
        return b"", f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    announced = _content_length(request)
    if announced is not None and len(body) < min(announced, limit):
        return body, f"{len(body)} of the {announced} bytes its Content-Length announced arrived"
    return body, ""


def _remote_addr(request) -> str | None:
    """The caller's IP address, None when the server names it otherwise (a UNIX socket, a list a
    proxy header made); an IPv6 zone ("%eth0", sent for link-local peers) is dropped, as the
    inbound log's column, PostgreSQL's inet, takes no zone."""
    address = (request.META.get("REMOTE_ADDR") or "").partition("%")[0]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _content_length(request) -> int | None:
    try:
        return int(request.META["CONTENT_LENGTH"])
    except (KeyError, ValueError):
        return None
