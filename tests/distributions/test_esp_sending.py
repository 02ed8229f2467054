"""Sending through a real ESP backend (django-anymail's Postmark), its HTTP API mocked at the edge:
what each answer, or no answer, makes of the invitation."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from http.client import RemoteDisconnected

import pytest
import requests
import responses
from django.utils import timezone
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError, ProtocolError

from distributions.jobs import send_due_invitations
from distributions.models import Invitation
from distributions.services.invitation_channels import SendEvent
from tests.factories import case_fields, make_distributing_workflow, make_run
from workflows.services.execution import runs_execute_due

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


@pytest.mark.parametrize(
    "error",
    [
        requests.ReadTimeout("Read timed out. (read timeout=10)"),
        # The ESP closed the connection after the request went: it may have taken the message.
        requests.ConnectionError(
            ProtocolError("Connection aborted.", RemoteDisconnected("Remote end closed connection without response"))
        ),
    ],
    ids=["read-timeout", "remote-disconnected"],
)
def test_it_never_resends_when_the_esp_did_not_answer(workflow, execute, esp, error):
    esp.add(responses.POST, POSTMARK_SEND, body=error)

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


# --- an ESP whose tracking events name the message by its own id only (MailerSend) -------------

MAILERSEND_SEND = "https://api.mailersend.com/v1/email"
MAILERSEND_MESSAGE_ID = "6424c7a5a69a2b98d20fb5d4"
WEBHOOK_SECRET = "tracking:s3cret-password"
SIGNING_SECRET = "mailersend-signing-secret"


@pytest.fixture
def mailersend_workflow(db, settings):
    settings.EMAIL_BACKEND = "anymail.backends.mailersend.EmailBackend"
    settings.ANYMAIL = {
        "MAILERSEND_API_TOKEN": "api-token",
        "MAILERSEND_SIGNING_SECRET": SIGNING_SECRET,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    return make_distributing_workflow()


def mailersend_activity(activity_type, *, activity_id="6424c7a5a69a2b98d20fb5d5", morph=None):
    """An activity webhook as MailerSend posts it (its documented shape)."""
    return {
        "type": f"activity.{activity_type}",
        "domain_id": "7z3m5jgrogdpyo6n",
        "created_at": "2025-03-29T23:25:09.000000Z",
        "webhook_id": "2351ndgwnvg5r6ke",
        "url": "https://surveys.example.com/webhooks/mailersend/tracking/",
        "data": {
            "object": "activity",
            "id": activity_id,
            "type": activity_type,
            "created_at": "2025-03-29T23:25:09.000000Z",
            "email": {
                "object": "email",
                "id": "6424c7a4a6af2c2e7d0d5b4f",
                "created_at": "2025-03-29T23:25:08.000000Z",
                "from": "surveys@example.com",
                "subject": "How did we do?",
                "status": activity_type,
                "tags": None,
                "headers": None,
                "message": {"object": "message", "id": MAILERSEND_MESSAGE_ID, "created_at": "2025-03-29T23:25:08Z"},
                "recipient": {"object": "recipient", "id": "64248b92ff0e5d0c0e0d4a42", "email": "ada@example.com"},
            },
            "morph": morph,
            "template_id": "",
        },
    }


def post_mailersend(client, payload):
    body = json.dumps(payload).encode()
    signature = hmac.new(SIGNING_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/webhooks/mailersend/tracking/",
        data=body,
        content_type="application/json",
        HTTP_SIGNATURE=signature,
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(WEBHOOK_SECRET.encode()).decode(),
    )


def send_through_mailersend(workflow, execute, esp):
    esp.add(responses.POST, MAILERSEND_SEND, status=202, body="", headers={"X-Message-Id": MAILERSEND_MESSAGE_ID})
    execute(make_run(workflow=workflow))
    return Invitation.objects.get()


def test_it_follows_the_tracking_events_of_an_esp_that_reports_only_its_own_message_id(
    mailersend_workflow, execute, esp, client
):
    invitation = send_through_mailersend(mailersend_workflow, execute, esp)
    assert invitation.status == Status.EMAIL_SENT

    assert post_mailersend(client, mailersend_activity("opened")).status_code == 200

    invitation.refresh_from_db()
    assert invitation.status == Status.EMAIL_OPENED
    assert set(invitation.events.values_list("kind", flat=True)) == {SendEvent.SENT, "opened"}


def test_it_fails_an_invitation_mailersend_suppressed_although_it_answered_202(mailersend_workflow, execute, esp):
    suppressed = {
        "message": "There are some warnings for your request.",
        "warnings": [
            {
                "type": "ALL_SUPPRESSED",
                "warning": "None of the recipients were sent this email.",
                "recipients": [{"email": "ada@example.com", "reasons": ["hard_bounced"]}],
            }
        ],
    }
    esp.add(responses.POST, MAILERSEND_SEND, status=202, json=suppressed)

    execute(make_run(workflow=mailersend_workflow))

    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at) == (Status.EMAIL_FAILED, None)


def test_a_batch_whose_one_recipient_the_esp_refuses_sends_the_others(
    workflow, esp, django_capture_on_commit_callbacks
):
    refusal = {"ErrorCode": 406, "Message": "You tried to send to recipient(s) that have been marked as inactive."}
    esp.add(responses.POST, POSTMARK_SEND, json=ACCEPTED)
    esp.add(responses.POST, POSTMARK_SEND, status=422, json=refusal)
    esp.add(responses.POST, POSTMARK_SEND, json=ACCEPTED)
    for number in range(3):
        fields = case_fields(CaseNumber=f"0000{number}", ContactEmail=f"r{number}@example.com")
        make_run(workflow=workflow, fields=fields)

    with django_capture_on_commit_callbacks(execute=True):
        runs_execute_due(batch_size=3)

    statuses = list(Invitation.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == [Status.EMAIL_SENT, Status.EMAIL_FAILED, Status.EMAIL_SENT]
    assert len(esp.calls) == 3


def test_a_message_id_the_esp_gives_twice_still_records_the_second_message_sent(workflow, esp, execute):
    esp.add(responses.POST, POSTMARK_SEND, json=ACCEPTED)
    esp.add(responses.POST, POSTMARK_SEND, json=ACCEPTED)

    for number in range(2):
        execute(make_run(workflow=workflow, fields=case_fields(ContactEmail=f"r{number}@example.com")))

    assert set(Invitation.objects.values_list("status", flat=True)) == {Status.EMAIL_SENT}


def test_an_email_sent_later_than_planned_keeps_its_link_working_for_the_days_set(db, execute, esp, settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "server-token", "WEBHOOK_SECRET": "tracking:s3cret-password"}
    workflow = make_distributing_workflow(link_expiration_days=1)
    esp.add(
        responses.POST,
        POSTMARK_SEND,
        status=429,
        headers={"Retry-After": "7200"},
        json={"ErrorCode": 429, "Message": "Rate limit exceeded"},
    )

    execute(make_run(workflow=workflow))

    invitation = Invitation.objects.get()
    assert invitation.status == Status.PENDING
    assert invitation.expires_at - invitation.send_after == timedelta(days=1)
