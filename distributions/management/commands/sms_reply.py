"""python manage.py sms_reply --from +15555550123 --body "2" [--url BASE]

Plays a respondent's phone: posts an inbound text to BASE/webhooks/twilio/inbound/ as Twilio would
(its form fields, signed with X-Twilio-Signature) and prints what the product answered. BASE is
PUBLIC_BASE_URL by default and must be the server's PUBLIC_BASE_URL, which the signature covers.
The key is the server's: TWILIO_AUTH_TOKEN with the Twilio backend, SMS_LOCAL_SIGNING_KEY (or the
one derived from SECRET_KEY) with the local outbox, so run it with the server's environment.
"""

import uuid

import requests
from defusedxml import ElementTree
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from twilio.request_validator import RequestValidator

from distributions.channels.phones import sms_sender_number
from distributions.channels.segments import count_segments
from distributions.channels.sms import sms_backend
from workflows.management.arguments import timeout_argument
from workflows.salesforce.values import InvalidValue


class Command(BaseCommand):
    help = "Send a signed inbound text to the running server, as Twilio would, and print its answer."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="sender", required=True, help="The respondent's number, e.g. +15555550123.")
        parser.add_argument("--body", required=True, help='The text, e.g. "2" or STOP.')
        parser.add_argument("--url", default="", help="The server's PUBLIC_BASE_URL (default: this one's).")
        parser.add_argument("--to", default="", help="Our number the text is sent to (default: SMS_FROM_NUMBER).")
        parser.add_argument("--timeout", type=timeout_argument, default=30, help="Seconds to wait for the answer.")

    def handle(self, *args, sender, body, url, to, timeout, **options):
        try:
            sender = sms_sender_number(sender)
        except InvalidValue as error:
            raise CommandError(f"--from: {error}") from None
        key = sms_backend().signing_key()
        if not key:
            raise CommandError("No key to sign with: set TWILIO_AUTH_TOKEN (the Twilio backend's auth token).")
        webhook = (url or settings.PUBLIC_BASE_URL).rstrip("/") + reverse("distributions:twilio-inbound")
        sid = f"SM{uuid.uuid4().hex}"
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": settings.TWILIO_ACCOUNT_SID or f"AC{'0' * 32}",
            "From": sender,
            "To": to or settings.SMS_FROM_NUMBER,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(max(count_segments(body).segments, 1)),
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            params["MessagingServiceSid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        signature = RequestValidator(key).compute_signature(webhook, params)
        try:
            answer = requests.post(webhook, data=params, headers={"X-Twilio-Signature": signature}, timeout=timeout)
        except requests.RequestException as error:
            raise CommandError(f"Could not reach {webhook}: {error}. Is the server running?") from None
        if answer.status_code == 403:
            raise CommandError(
                f"{webhook} refused the signature (403): --url must be the server's PUBLIC_BASE_URL, and this "
                "command must run with the server's SMS_BACKEND, TWILIO_AUTH_TOKEN or SMS_LOCAL_SIGNING_KEY "
                "and SECRET_KEY."
            )
        if answer.status_code != 200:
            raise CommandError(f"{webhook} answered {answer.status_code}: {answer.text[:500]}")
        try:
            replies = [element.text or "" for element in ElementTree.fromstring(answer.content).iter("Message")]
        except ElementTree.ParseError as error:
            raise CommandError(
                f"{webhook} answered something that is not TwiML ({error}): {answer.text[:500]}"
            ) from None
        self.stdout.write(f"Sent {sid} from {sender}: {body}")
        for reply in replies:
            self.stdout.write(f"Answer: {reply}")
        if not replies:
            self.stdout.write("No answer.")
