"""Twilio's webhooks: inbound texts and delivery status callbacks. Transport only: check the
signature, read the form, call one service, answer.

Both check X-Twilio-Signature with twilio's RequestValidator against the URL Twilio called,
rebuilt from PUBLIC_BASE_URL (Twilio signs the public https URL; behind a TLS proxy this process
sees another), with the key of SMS_BACKEND (channels/sms.py): its auth token, or, for a call that
names its key and algorithm in X-Twilio-Webhooks-Signature-Settings (a Twilio Webhook Rule signing
with a SharedKey, HMAC-SHA1 or HMAC-SHA256), the SharedKey's secret. A missing or wrong signature is a
403 before anything is read or written. Nothing answers 500: a call that is not Twilio's form (an
unreadable body; a signed one with a NUL or a field longer than Twilio's) is a 400, a database
that cannot take the text a 503 (logged), which sends Twilio to its fallback URL.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator, get_signature_algorithm

from distributions.channels.sms import sms_backend, twiml_answer
from distributions.services.sms import sms_status_callback_url, sms_status_record
from distributions.services.sms_inbound import InboundText, sms_inbound_receive
from workflows.public_urls import public_url
from workflows.salesforce.values import InvalidValue

logger = logging.getLogger(__name__)

TWIML = "text/xml; charset=utf-8"
# Twilio's fields we keep, at most as long as their columns (a SID is 34 characters, an ErrorCode
# five digits): a longer one is not Twilio's, and PostgreSQL would refuse to keep it.
INBOUND_LIMITS = {"MessageSid": 64, "To": 34}
STATUS_LIMITS = {"MessageSid": 64, "ErrorCode": 10}


def twilio_signed(request, viewname: str) -> bool:
    """Whether the request carries a valid X-Twilio-Signature for the public URL of `viewname`
    (without its final slash when called so, with the query string as sent) and its form fields."""
    signature = request.headers.get("X-Twilio-Signature", "")
    signature_settings = request.headers.get(SIGNATURE_SETTINGS_HEADER, "")
    backend = sms_backend()
    key = backend.shared_signing_key() if signature_settings else backend.signing_key()
    if signature_settings and not key:
        logger.warning("A Twilio webhook call is signed with a SharedKey: set TWILIO_WEBHOOK_SHARED_KEY_SECRET.")
    if not signature or not key:
        return False
    query = request.META.get("QUERY_STRING", "")
    url = public_url(viewname)
    if not request.path.endswith("/"):  # called without the final slash: Twilio signed that URL
        url = url.rstrip("/")
    url += f"?{query}" if query else ""
    return RequestValidator(key).validate(url, request.POST, signature, get_signature_algorithm(signature_settings))


def _refused(request, viewname: str) -> HttpResponse | None:
    """The answer to a call that is not Twilio's, or None to go on."""
    try:
        signed = twilio_signed(request, viewname)
    except Exception as error:  # an unreadable body (too big, too many fields): not Twilio's either
        logger.warning("Refused a Twilio webhook call whose form could not be read: %s", error)
        return HttpResponseBadRequest("Not a Twilio webhook form.", content_type="text/plain")
    if not signed:
        logger.warning("Refused a Twilio webhook call without a valid X-Twilio-Signature (%s)", request.path)
        return HttpResponseForbidden("Invalid or missing X-Twilio-Signature.", content_type="text/plain")
    return None


def _malformed(request, limits: dict[str, int]) -> HttpResponse | None:
    """A 400 for a signed form Twilio would not send (a NUL, which PostgreSQL's text and JSON
    columns refuse, or a field longer than its column), or None to go on: kept, it would be a 503
    on every retry, and nothing of it can be kept anyway."""
    for name, values in request.POST.lists():
        if any("\x00" in value for value in values):
            return HttpResponseBadRequest(f"{name[:40]} contains a NUL character.", content_type="text/plain")
    for name, limit in limits.items():
        if len(request.POST.get(name, "")) > limit:
            return HttpResponseBadRequest(f"{name} is longer than {limit} characters.", content_type="text/plain")
    return None


def _unavailable(error: Exception) -> HttpResponse:
    if isinstance(error, (OperationalError, InterfaceError)):  # the database is away: one line per call
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        logger.error("A Twilio webhook call could not be handled: the database is unavailable: %s", first_line)
    else:
        logger.exception("A Twilio webhook call could not be handled: %s", error)
    return HttpResponse("Temporarily unable to handle the webhook.", status=503, content_type="text/plain")


@csrf_exempt
@require_POST
def inbound(request):
    """POST /webhooks/twilio/inbound/: an incoming text -> TwiML with the reply (or none)."""
    if (
        refusal := _refused(request, "distributions:twilio-inbound") or _malformed(request, INBOUND_LIMITS)
    ) is not None:
        return refusal
    text = InboundText(
        message_sid=request.POST.get("MessageSid", "").strip(),
        from_number=request.POST.get("From", ""),
        to_number=request.POST.get("To", "").strip(),
        body=request.POST.get("Body", ""),
    )
    if not text.message_sid or not text.from_number.strip():
        return HttpResponseBadRequest("MessageSid and From are required.", content_type="text/plain")
    try:
        reply = sms_inbound_receive(text=text)
    except InvalidValue as error:
        logger.warning("Refused an inbound text whose From is not a phone number (%s)", text.message_sid[:64])
        return HttpResponseBadRequest(f"From is not a phone number: {error}", content_type="text/plain")
    except Exception as error:  # DatabaseError above all; nothing was kept, Twilio may try its fallback URL
        return _unavailable(error)
    if reply is None:
        return HttpResponse(twiml_answer(), content_type=TWIML)
    callback = sms_status_callback_url(message=reply) if reply.provider == "twilio" else ""
    return HttpResponse(twiml_answer(body=reply.body, status_callback=callback), content_type=TWIML)


@csrf_exempt
@require_POST
def status(request):
    """POST /webhooks/twilio/status/: a delivery status of a text we sent -> 204."""
    if (refusal := _refused(request, "distributions:twilio-status") or _malformed(request, STATUS_LIMITS)) is not None:
        return refusal
    try:
        sms_status_record(params=request.POST.dict(), message_id=request.GET.get("sms", ""))
    except Exception as error:  # DatabaseError above all: Twilio retries nothing, the log keeps it
        return _unavailable(error)
    return HttpResponse(status=204)
