"""Twilio's Programmable Messaging API (https://www.twilio.com/docs/messaging/api/message-resource)
through the official `twilio` package.

Settings: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN; the sender is TWILIO_MESSAGING_SERVICE_SID when
set, else SMS_FROM_NUMBER; SMS_TIMEOUT bounds each API call; TWILIO_API_BASE_URL replaces
https://api.twilio.com (a stand-in of the API). The auth token also signs Twilio's
webhooks.

How a failed call is classified (see channels/sms.py):
- TEMPORARY: the connection could not be opened, or Twilio answered 429 (too many requests) or
  503 (unavailable): the text was not created.
- PERMANENT: any other 4xx, e.g. 21211 invalid number, 21610 the number replied STOP: a retry
  would be refused the same way.
- UNCERTAIN: the connection broke or timed out after the request left, or another 5xx: Twilio may
  have created the text, so it is never sent again.
"""

import logging

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NameResolutionError, NewConnectionError

from distributions.channels.email import Outcome
from distributions.channels.sms import SmsBackend, SmsHandOff
from distributions.channels.twilio_errors import twilio_error_meaning
from distributions.models import SmsMessage

logger = logging.getLogger(__name__)

RETRY_LATER_STATUSES = {429, 503}
# Twilio's first statuses of a created message -> ours ("accepted" and "scheduled": a Messaging
# Service has it and will queue it).
FIRST_STATUSES = {
    "accepted": SmsMessage.Status.QUEUED,
    "scheduled": SmsMessage.Status.QUEUED,
    "queued": SmsMessage.Status.QUEUED,
    "sending": SmsMessage.Status.SENDING,
    "sent": SmsMessage.Status.SENT,
}


class TwilioSmsBackend(SmsBackend):
    provider = "twilio"

    def __init__(self, http_client=None):
        """`http_client`: a twilio.http.HttpClient; by default requests with SMS_TIMEOUT."""
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=http_client or TwilioHttpClient(timeout=settings.SMS_TIMEOUT),
        )
        if settings.TWILIO_API_BASE_URL:
            self.client.api.base_url = settings.TWILIO_API_BASE_URL

    @property
    def sender(self) -> str:
        return settings.TWILIO_MESSAGING_SERVICE_SID or settings.SMS_FROM_NUMBER

    def send(self, *, to: str, body: str, status_callback: str) -> SmsHandOff:
        origin = (
            {"messaging_service_sid": settings.TWILIO_MESSAGING_SERVICE_SID}
            if settings.TWILIO_MESSAGING_SERVICE_SID
            else {"from_": settings.SMS_FROM_NUMBER}
        )
        try:
            message = self.client.messages.create(to=to, body=body, status_callback=status_callback, **origin)
        except TwilioRestException as error:
            return _refused(error)
        except requests.exceptions.ConnectTimeout as error:
            return SmsHandOff(Outcome.TEMPORARY, detail=f"could not connect to Twilio: {error}")
        except requests.exceptions.ConnectionError as error:
            if _never_connected(error):
                return SmsHandOff(Outcome.TEMPORARY, detail=f"could not connect to Twilio: {error}")
            return SmsHandOff(
                Outcome.UNCERTAIN, detail=f"the connection to Twilio failed, so it may have been sent: {error}"
            )
        except (requests.exceptions.RequestException, TwilioException) as error:
            return SmsHandOff(Outcome.UNCERTAIN, detail=f"the call to Twilio failed, so it may have been sent: {error}")
        status = FIRST_STATUSES.get(str(message.status or "queued"), SmsMessage.Status.QUEUED)
        return SmsHandOff(Outcome.ACCEPTED, message_sid=message.sid, status=status)

    def signing_key(self) -> str:
        return settings.TWILIO_AUTH_TOKEN

    def shared_signing_key(self) -> str:
        return settings.TWILIO_WEBHOOK_SHARED_KEY_SECRET


def _refused(error: TwilioRestException) -> SmsHandOff:
    code = str(error.code or "")
    detail = twilio_error_meaning(code) if code else ""
    detail = f"{detail} ({error.msg})" if detail else f"Twilio answered {error.status}: {error.msg}"
    if error.status in RETRY_LATER_STATUSES:
        return SmsHandOff(Outcome.TEMPORARY, error_code=code, detail=detail)
    if 400 <= error.status < 500:
        return SmsHandOff(Outcome.PERMANENT, error_code=code, detail=detail)
    return SmsHandOff(Outcome.UNCERTAIN, error_code=code, detail=f"{detail}; it may have been sent")


def _never_connected(error: requests.exceptions.ConnectionError) -> bool:
    """Whether the request never left: the name did not resolve or the connection was refused."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError | NameResolutionError)
