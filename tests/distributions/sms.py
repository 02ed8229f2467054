"""Twilio's side of the SMS tests: its webhook forms, signed as Twilio signs them, and its REST
API faked at the HTTP edge (the `responses` library under the real twilio client)."""

import itertools
import json
from contextlib import contextmanager

import responses
from django.conf import settings
from twilio.request_validator import RequestValidator

from distributions.channels.sms import local_signing_key

INBOUND_PATH = "/webhooks/twilio/inbound/"
STATUS_PATH = "/webhooks/twilio/status/"
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "twilio-auth-token-for-tests"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
_sids = itertools.count(1)


@contextmanager
def twilio_rest_faked(settings, *, every_request_fired=True):
    """The Twilio backend configured (pytest-django's `settings`), its REST API faked: yields the
    `responses.RequestsMock` to register answers on and read the calls from."""
    settings.SMS_BACKEND = "distributions.channels.twilio.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.SMS_FROM_NUMBER = "+15005550006"
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.PUBLIC_BASE_URL = "https://surveys.example.com"
    with responses.RequestsMock(assert_all_requests_are_fired=every_request_fired) as api:
        yield api


def message_sid() -> str:
    return f"SM{next(_sids):032x}"


def inbound_form(*, sender="+15555550123", body="Hello", sid=None, to=None) -> dict:
    """The form fields of Twilio's inbound-message webhook."""
    sid = sid or message_sid()
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": to or settings.SMS_FROM_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


def status_form(*, sid, status, error_code="") -> dict:
    """The form fields of Twilio's message status callback."""
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": ACCOUNT_SID,
        "From": settings.SMS_FROM_NUMBER,
        "To": "+15555550123",
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        form["ErrorCode"] = error_code
    return form


def signature(path: str, form: dict, *, key: str | None = None, query: str = "") -> str:
    """X-Twilio-Signature of a call to PUBLIC_BASE_URL + path (+ ?query) with `form`."""
    url = settings.PUBLIC_BASE_URL + path + (f"?{query}" if query else "")
    return RequestValidator(key or local_signing_key()).compute_signature(url, form)


def post_signed(client, path: str, form: dict, *, key: str | None = None, query: str = ""):
    """POST the form as Twilio would, signed."""
    return client.post(
        path + (f"?{query}" if query else ""),
        form,
        HTTP_X_TWILIO_SIGNATURE=signature(path, form, key=key, query=query),
    )


def api_message(*, sid=None, status="queued", to="+15555550123", body="Hi") -> str:
    """The JSON body Twilio's API answers a created message with (the fields the client reads)."""
    return json.dumps(
        {
            "sid": sid or message_sid(),
            "account_sid": ACCOUNT_SID,
            "status": status,
            "to": to,
            "from": settings.SMS_FROM_NUMBER,
            "body": body,
            "num_segments": "1",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        }
    )


def api_error(*, code: int, message: str, status: int) -> str:
    return json.dumps(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    )
