"""Sending through a real ESP backend (django-anymail's Postmark), its HTTP API mocked at the edge:
what each answer, or no answer, makes of the invitation."""

import json
from datetime import timedelta

import pytest
import requests
import responses
from django.utils import timezone
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

from distributions.jobs import send_due_invitations
from distributions.models import Invitation
from distributions.services.invitation_channels import SendEvent
from tests.factories import make_distributing_workflow, make_run

POSTMARK_SEND = "https://api.postmarkapp.com/email"
ACCEPTED = {
    "To": "ada@example.com",
    "SubmittedAt": "2025-03-14T13:28:10.2735393-04:00",
    "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
    "ErrorCode": 0,
    "Message": "OK",
}

Status = Invitation.Status


@pytest.fixture
def workflow(db, settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "server-token", "WEBHOOK_SECRET": "tracking:s3cret-password"}
    return make_distributing_workflow()


@pytest.fixture
def esp():
    with responses.RequestsMock() as mock:
        yield mock


def make_due():
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))


def unreachable(error):
    """What requests raises when no connection to the ESP could be opened: nothing was sent."""
    return requests.ConnectionError(MaxRetryError(None, POSTMARK_SEND, reason=error))


@pytest.mark.parametrize(
    "error",
    [
        unreachable(NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")),
        unreachable(NameResolutionError("api.postmarkapp.com", None, "Name or service not known")),
        requests.ConnectTimeout("Connection to api.postmarkapp.com timed out"),
    ],
    ids=["refused", "dns", "connect-timeout"],
)
def test_it_retries_later_when_the_esp_cannot_be_reached(workflow, execute, esp, error):
    esp.add(responses.POST, POSTMARK_SEND, body=error)

    execute(make_run(workflow=workflow))

    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at) == (Status.PENDING, None)
    assert invitation.events.get().kind == SendEvent.DEFERRED
    esp.replace(responses.POST, POSTMARK_SEND, json=ACCEPTED)
    make_due()
    assert send_due_invitations() == 1
    assert Invitation.objects.get().status == Status.EMAIL_SENT
    assert len(esp.calls) == 2


def test_it_never_resends_when_the_esp_did_not_answer_in_time(workflow, execute, esp):
    esp.add(responses.POST, POSTMARK_SEND, body=requests.ReadTimeout("Read timed out. (read timeout=10)"))

    execute(make_run(workflow=workflow))

    invitation = Invitation.objects.get()
    assert invitation.status == Status.EMAIL_FAILED
    assert "may have been sent" in invitation.status_detail
    make_due()
    send_due_invitations()
    assert len(esp.calls) == 1


def test_it_waits_as_long_as_the_esps_retry_after_asks(workflow, execute, esp):
    esp.add(
        responses.POST,
        POSTMARK_SEND,
        status=429,
        headers={"Retry-After": "600"},
        json={"ErrorCode": 429, "Message": "Rate limit exceeded"},
    )

    execute(make_run(workflow=workflow))

    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at) == (Status.PENDING, None)
    assert timedelta(seconds=590) < invitation.send_after - timezone.now() <= timedelta(seconds=600)
    assert "Retrying at" in invitation.events.get().description


def test_it_fails_with_the_esps_reason_when_it_refuses_the_recipient(workflow, execute, esp):
    refusal = {
        "ErrorCode": 406,
        "Message": "You tried to send to recipient(s) that have been marked as inactive.",
    }
    esp.add(responses.POST, POSTMARK_SEND, status=422, json=refusal)

    execute(make_run(workflow=workflow))

    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at) == (Status.EMAIL_FAILED, None)
    assert "marked as inactive" in invitation.status_detail
    make_due()
    send_due_invitations()
    assert len(esp.calls) == 1


def test_it_sends_the_esp_one_message_with_our_message_id_and_tag(workflow, execute, esp):
    esp.add(responses.POST, POSTMARK_SEND, json=ACCEPTED)

    execute(make_run(workflow=workflow))

    invitation = Invitation.objects.get()
    assert invitation.status == Status.EMAIL_SENT
    (call,) = esp.calls
    sent = json.loads(call.request.body)
    assert {"Name": "Message-ID", "Value": invitation.message_id} in sent["Headers"]
    assert sent["Metadata"] == {"invitation": invitation.message_id.strip("<>")}


def test_it_fails_an_invitation_the_esp_refused_even_when_anymail_ignores_recipient_statuses(
    workflow, execute, esp, settings
):
    settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_RECIPIENT_STATUS": True}
    refusal = {
        "ErrorCode": 406,
        "Message": "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: "
        "ada@example.com. Inactive recipients are ones that have generated a hard bounce, a spam complaint, "
        "or a manual suppression.",
    }
    esp.add(responses.POST, POSTMARK_SEND, status=422, json=refusal)

    execute(make_run(workflow=workflow))

    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at) == (Status.EMAIL_FAILED, None)
    assert "marked as inactive" in invitation.status_detail
