"""The Twilio backend against Twilio's REST API faked at the HTTP edge: the real twilio client
builds and sends each request, `responses` answers it."""

import urllib.parse

import pytest
import requests

from distributions.channels.email import Outcome
from distributions.models import SmsMessage
from distributions.services.sms import sms_message_send
from tests.distributions.sms import MESSAGES_URL, api_error, api_message, twilio_rest_faked

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def twilio(settings):
    with twilio_rest_faked(settings) as api:
        yield api


def sent_form(api) -> dict:
    assert len(api.calls) == 1
    return dict(urllib.parse.parse_qsl(api.calls[0].request.body))


def test_a_text_is_one_api_call_with_the_status_callback(twilio):
    twilio.post(MESSAGES_URL, body=api_message(sid="SM" + "a" * 32, status="queued"), status=201)
    sent = sms_message_send(to="+14155550100", body="Your survey: https://x")
    assert sent.outcome == Outcome.ACCEPTED
    message = SmsMessage.objects.get()
    assert sent_form(twilio) == {
        "To": "+14155550100",
        "From": "+15005550006",
        "Body": "Your survey: https://x",
        "StatusCallback": f"https://surveys.example.com/webhooks/twilio/status/?sms={message.pk}",
    }
    request = twilio.calls[0].request
    assert request.headers["Authorization"].startswith("Basic ")
    assert (message.message_sid, message.status, message.provider) == ("SM" + "a" * 32, "queued", "twilio")
    assert (message.conversation.phone, message.our_number, message.segments) == ("+14155550100", "+15005550006", 1)


def test_a_messaging_service_replaces_the_from_number(twilio, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "b" * 32
    twilio.post(MESSAGES_URL, body=api_message(status="accepted"), status=201)
    sent = sms_message_send(to="+14155550100", body="Hi")
    form = sent_form(twilio)
    assert form["MessagingServiceSid"] == "MG" + "b" * 32 and "From" not in form
    assert (sent.message.status, sent.message.our_number) == ("queued", "MG" + "b" * 32)


def test_an_invalid_number_is_a_permanent_failure_with_its_meaning(twilio):
    twilio.post(MESSAGES_URL, body=api_error(code=21211, message="Invalid 'To' Phone Number", status=400), status=400)
    sent = sms_message_send(to="+14155550100", body="Hi")
    assert sent.outcome == Outcome.PERMANENT
    assert (sent.message.status, sent.message.error_code) == ("failed", "21211")
    assert sent.message.status_detail.startswith("Twilio error 21211: Invalid 'To' phone number.")


def test_a_number_that_replied_stop_is_a_permanent_failure(twilio):
    twilio.post(
        MESSAGES_URL,
        body=api_error(code=21610, message="Attempt to send to unsubscribed recipient", status=400),
        status=400,
    )
    sent = sms_message_send(to="+14155550100", body="Hi")
    assert (sent.outcome, sent.message.error_code) == (Outcome.PERMANENT, "21610")
    assert "replied STOP" in sent.message.status_detail


@pytest.mark.parametrize("status", [429, 503])
def test_too_many_requests_or_unavailable_is_temporary(twilio, status):
    twilio.post(MESSAGES_URL, body=api_error(code=20429, message="Too Many Requests", status=status), status=status)
    assert sms_message_send(to="+14155550100", body="Hi").outcome == Outcome.TEMPORARY


def test_another_server_error_may_have_sent_it(twilio):
    twilio.post(MESSAGES_URL, body=api_error(code=20500, message="Internal Server Error", status=500), status=500)
    sent = sms_message_send(to="+14155550100", body="Hi")
    assert sent.outcome == Outcome.UNCERTAIN
    assert "may have been sent" in sent.message.status_detail


def test_a_refused_connection_is_temporary(twilio):
    refused = requests.exceptions.ConnectionError(
        requests.packages.urllib3.exceptions.MaxRetryError(
            None, MESSAGES_URL, requests.packages.urllib3.exceptions.NewConnectionError(None, "Connection refused")
        )
    )
    twilio.post(MESSAGES_URL, body=refused)
    assert sms_message_send(to="+14155550100", body="Hi").outcome == Outcome.TEMPORARY


def test_a_connection_broken_while_sending_may_have_sent_it(twilio):
    twilio.post(MESSAGES_URL, body=requests.exceptions.ConnectionError("Connection reset by peer"))
    assert sms_message_send(to="+14155550100", body="Hi").outcome == Outcome.UNCERTAIN


def test_a_timeout_waiting_for_the_answer_may_have_sent_it(twilio):
    twilio.post(MESSAGES_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    assert sms_message_send(to="+14155550100", body="Hi").outcome == Outcome.UNCERTAIN


def test_the_outbox_sends_nothing(settings, twilio):
    settings.SMS_BACKEND = "distributions.channels.sms_outbox.OutboxSmsBackend"
    sent = sms_message_send(to="+14155550100", body="Hi 😀")
    assert not twilio.calls
    assert (sent.outcome, sent.message.provider, sent.message.status) == (Outcome.ACCEPTED, "outbox", "sent")
    assert sent.message.message_sid.startswith("OB")
