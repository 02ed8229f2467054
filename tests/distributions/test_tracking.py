"""Delivery tracking: ESPs' real webhook payloads, POSTed to anymail's URLs, move invitation statuses."""

import base64
import hashlib
import hmac
import json
import logging
import runpy
import threading
from datetime import datetime
from pathlib import Path

import pytest
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.signals import AnymailTrackingEvent
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.http import QueryDict
from django.test import override_settings
from django.utils import timezone

from distributions.models import DeliveryEvent, Invitation
from distributions.services.tracking import tracking_event_record
from tests.factories import make_invitation

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "anymail"
SECRET = "tracking:s3cret-password"
# The Message-IDs the fixtures refer to (in Postmark's Metadata and SendGrid's custom args).
ADA_MESSAGE_ID = "<invitation-Jq8nW3kz0bXo1Tn5Rr2LcVh7sYp4dF6u@surveys.example.com>"
GRACE_MESSAGE_ID = "<invitation-Hk3mZ9pQ2wXv5Lr8Tn1BcYd6sFg0jE4a@surveys.example.com>"

Status = Invitation.Status
pytestmark = [
    pytest.mark.django_db,
    # anymail warns on every SendGrid webhook call that it no longer supports SendGrid officially.
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


def sent_invitation(message_id=ADA_MESSAGE_ID, **fields):
    return make_invitation(
        **{"status": Status.EMAIL_SENT, "message_id": message_id, "sent_at": timezone.now(), **fields}
    )


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def post(client, esp, payload, credentials=SECRET):
    """POST `payload` to `esp`'s tracking webhook, served as when the install sends through that ESP."""
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()} if credentials else {}
    with override_settings(TRACKING_WEBHOOK_ESP=esp):
        return client.post(
            f"/webhooks/{esp}/tracking/", data=json.dumps(payload), content_type="application/json", **headers
        )


def reloaded(invitation):
    invitation.refresh_from_db()
    return invitation


# --- each real payload shape ------------------------------------------------------------------


def test_it_records_a_postmark_delivery_and_keeps_email_sent(client):
    invitation = sent_invitation()

    response = post(client, "postmark", fixture("postmark_delivery.json"))

    assert response.status_code == 200
    assert reloaded(invitation).status == Status.EMAIL_SENT
    (event,) = invitation.events.all()
    assert (event.kind, event.provider) == ("delivered", "Postmark")
    assert event.occurred_at == datetime.fromisoformat("2025-03-14T13:28:10.273539-04:00")
    assert event.data == fixture("postmark_delivery.json")


def test_it_corrects_an_uncertain_send_on_a_postmark_delivery(client):
    invitation = sent_invitation(status=Status.EMAIL_FAILED)

    post(client, "postmark", fixture("postmark_delivery.json"))

    assert reloaded(invitation).status == Status.EMAIL_SENT


def test_it_marks_a_postmark_hard_bounce(client):
    invitation = sent_invitation()

    post(client, "postmark", fixture("postmark_bounce.json"))

    assert reloaded(invitation).status == Status.EMAIL_HARD_BOUNCE
    assert "unknown user, mailbox not found" in invitation.status_detail
    assert "550 5.1.1" in invitation.status_detail
    (event,) = invitation.events.all()
    assert (event.kind, event.provider_event_id) == ("bounced", "4323372036854775807")


def test_it_marks_a_postmark_transient_bounce_as_soft(client):
    invitation = sent_invitation()

    post(client, "postmark", fixture("postmark_transient_bounce.json"))

    assert reloaded(invitation).status == Status.EMAIL_SOFT_BOUNCE
    assert invitation.events.get().kind == "deferred"


def test_it_marks_a_postmark_soft_bounce_as_soft(client):
    # anymail reports Postmark's SoftBounce as "bounced", as it does a hard one.
    invitation = sent_invitation()
    soft = {**fixture("postmark_bounce.json"), "ID": 4323372036854775808, "Type": "SoftBounce", "TypeCode": 4096}

    post(client, "postmark", soft)

    assert reloaded(invitation).status == Status.EMAIL_SOFT_BOUNCE
    assert invitation.events.get().kind == "bounced"


@pytest.mark.parametrize(
    "esp_name, esp_event",
    [
        ("Brevo", {"event": "soft_bounce"}),
        ("SendinBlue", {"event": "soft_bounce"}),
        ("Mandrill", {"event": "soft_bounce"}),
        ("MailerSend", {"type": "activity.soft_bounced", "data": {"type": "soft_bounced"}}),
        ("SparkPost", {"msys": {"message_event": {"type": "bounce", "bounce_class": "22"}}}),
    ],
)
def test_it_tells_a_soft_bounce_from_a_hard_one_where_anymail_reports_both_as_bounced(esp_name, esp_event):
    soft = sent_invitation()
    hard = sent_invitation(GRACE_MESSAGE_ID)
    hard_event = json.loads(json.dumps(esp_event).replace("soft_bounce", "hard_bounce").replace('"22"', '"10"'))

    tracking_event_record(event=tracking_event("bounced", event_id="soft", esp_event=esp_event), esp_name=esp_name)
    tracking_event_record(
        event=tracking_event("bounced", GRACE_MESSAGE_ID, event_id="hard", esp_event=hard_event), esp_name=esp_name
    )

    assert (reloaded(soft).status, reloaded(hard).status) == (Status.EMAIL_SOFT_BOUNCE, Status.EMAIL_HARD_BOUNCE)


def test_it_fails_an_invitation_postmark_accepted_and_then_could_not_send(client):
    invitation = sent_invitation()
    failure = {
        **fixture("postmark_bounce.json"),
        "ID": 4323372036854775809,
        "Type": "SMTPApiError",
        "TypeCode": 1,
        "Description": "An error occurred while sending the message: the template could not be rendered.",
    }

    post(client, "postmark", failure)

    assert reloaded(invitation).status == Status.EMAIL_FAILED
    assert "could not be rendered" in invitation.status_detail


def test_a_delivery_after_a_soft_bounce_makes_the_invitation_email_sent_again(client):
    invitation = sent_invitation()

    post(client, "postmark", fixture("postmark_transient_bounce.json"))
    assert reloaded(invitation).status == Status.EMAIL_SOFT_BOUNCE
    post(client, "postmark", fixture("postmark_delivery.json"))

    assert reloaded(invitation).status == Status.EMAIL_SENT
    assert [event.kind for event in invitation.events.order_by("pk")] == ["deferred", "delivered"]


def test_a_soft_bounce_reported_after_the_delivery_leaves_the_invitation_email_sent(client):
    invitation = sent_invitation()

    post(client, "postmark", fixture("postmark_delivery.json"))
    post(client, "postmark", fixture("postmark_transient_bounce.json"))

    assert reloaded(invitation).status == Status.EMAIL_SENT
    assert invitation.events.count() == 2


def test_a_hard_bounce_after_the_delivery_still_shows(client):
    # Mailbox providers may accept a message and bounce it later (an asynchronous bounce).
    invitation = sent_invitation()

    post(client, "postmark", fixture("postmark_delivery.json"))
    post(client, "postmark", fixture("postmark_bounce.json"))

    assert reloaded(invitation).status == Status.EMAIL_HARD_BOUNCE


@pytest.mark.parametrize("late", ["queued", "sent"])
def test_the_esps_acceptance_reported_after_its_failure_leaves_the_invitation_email_failed(late):
    invitation = sent_invitation()

    tracking_event_record(event=tracking_event("failed", event_id="e-failed"), esp_name="Brevo")
    tracking_event_record(event=tracking_event(late, event_id="e-late"), esp_name="Brevo")

    assert reloaded(invitation).status == Status.EMAIL_FAILED
    assert invitation.events.count() == 2


def test_it_marks_a_postmark_open(client):
    invitation = sent_invitation()

    post(client, "postmark", fixture("postmark_open.json"))

    assert reloaded(invitation).status == Status.EMAIL_OPENED
    assert invitation.events.get().data["Client"]["Name"] == "Gmail"


def test_it_counts_a_postmark_click_as_an_open(client):
    invitation = sent_invitation()

    post(client, "postmark", fixture("postmark_click.json"))

    assert reloaded(invitation).status == Status.EMAIL_OPENED
    assert invitation.events.get().kind == "clicked"


def test_it_marks_a_postmark_spam_complaint(client):
    invitation = sent_invitation()

    post(client, "postmark", fixture("postmark_spam_complaint.json"))

    assert reloaded(invitation).status == Status.EMAIL_COMPLAINT
    assert invitation.events.get().kind == "complained"


def test_it_sends_no_more_email_to_a_contact_who_complained(client):
    invitation = sent_invitation()

    post(client, "postmark", fixture("postmark_spam_complaint.json"))

    invitation.contact.refresh_from_db()
    assert invitation.contact.unsubscribed is True


def test_it_opts_the_contact_out_on_a_postmark_unsubscribe(client):
    invitation = sent_invitation()

    post(client, "postmark", fixture("postmark_subscription_change.json"))

    assert reloaded(invitation).status == Status.OPTED_OUT
    assert invitation.events.get().kind == "unsubscribed"
    invitation.contact.refresh_from_db()
    assert invitation.contact.unsubscribed is True


def test_it_records_every_event_of_a_sendgrid_batch(client):
    ada = sent_invitation(ADA_MESSAGE_ID)
    grace = sent_invitation(GRACE_MESSAGE_ID)

    response = post(client, "sendgrid", fixture("sendgrid_batch.json"))

    assert response.status_code == 200
    assert reloaded(ada).status == Status.EMAIL_OPENED
    assert [event.kind for event in ada.events.all()] == ["delivered", "opened"]
    assert reloaded(grace).status == Status.EMAIL_HARD_BOUNCE
    (bounce,) = grace.events.all()
    assert bounce.provider_event_id == "lC0Rc-FuQmKbnxCWxX1jRQ"
    assert bounce.data["reason"] == "550 5.1.1 The email account that you tried to reach does not exist."


@pytest.mark.parametrize(
    "bad_event",
    [
        {"email": "ada@example.com", "timestamp": "yesterday", "event": "open", "sg_event_id": "bad-1"},
        {"email": "ada@example.com", "sg_event_id": "bad-2"},
        "not an event",
    ],
    ids=["bad-timestamp", "no-event-or-timestamp", "not-an-object"],
)
def test_it_records_the_good_events_of_a_sendgrid_batch_holding_one_it_cannot_read(client, caplog, bad_event):
    ada = sent_invitation()
    grace = sent_invitation(GRACE_MESSAGE_ID)
    batch = fixture("sendgrid_batch.json")
    batch.insert(1, bad_event)

    with caplog.at_level(logging.WARNING):
        response = post(client, "sendgrid", batch)

    # SendGrid retries a batch answered with an error, the bad event with the good ones, for 72 hours.
    assert response.status_code == 200
    assert (reloaded(ada).status, reloaded(grace).status) == (Status.EMAIL_OPENED, Status.EMAIL_HARD_BOUNCE)
    assert DeliveryEvent.objects.count() == 3
    assert "SendGrid tracking event 2 of 4 cannot be read" in caplog.text


def test_it_records_the_good_events_of_a_mandrill_batch_holding_one_it_cannot_read(client, settings):
    url = "https://surveys.example.com/webhooks/mandrill/tracking/"
    settings.ANYMAIL = {**settings.ANYMAIL, "MANDRILL_WEBHOOK_KEY": "mandrill-key", "MANDRILL_WEBHOOK_URL": url}
    ada = sent_invitation()
    message = {"_id": "abc123", "email": "ada@example.com", "metadata": {"invitation": ADA_MESSAGE_ID[1:-1]}}
    batch = [
        {"event": "open", "_id": "abc123", "ts": 1741976890, "msg": message},
        {"event": "open", "_id": "abc123", "ts": "yesterday", "msg": message},
    ]
    fields = {"mandrill_events": json.dumps(batch)}
    signed = url + "".join(key + value for key, value in sorted(fields.items()))
    signature = base64.b64encode(hmac.new(b"mandrill-key", signed.encode(), hashlib.sha1).digest()).decode()

    with override_settings(TRACKING_WEBHOOK_ESP="mandrill"):
        response = client.post(
            "/webhooks/mandrill/tracking/",
            data=fields,
            HTTP_X_MANDRILL_SIGNATURE=signature,
            HTTP_AUTHORIZATION="Basic " + base64.b64encode(SECRET.encode()).decode(),
        )

    assert response.status_code == 200
    assert reloaded(ada).status == Status.EMAIL_OPENED
    assert ada.events.get().kind == "opened"


def test_it_marks_a_message_sendgrid_dropped_as_blocked(client):
    invitation = sent_invitation()

    post(client, "sendgrid", fixture("sendgrid_dropped.json"))

    assert reloaded(invitation).status == Status.EMAIL_BLOCKED
    assert "reject reason: bounced" in invitation.status_detail


# --- repeats, strangers, late events ---------------------------------------------------------


def test_it_records_a_repeated_postmark_delivery_once(client):
    # Postmark deliveries carry no event id: the payload's digest stands in for it.
    invitation = sent_invitation()

    for _ in range(2):
        assert post(client, "postmark", fixture("postmark_delivery.json")).status_code == 200

    assert invitation.events.count() == 1
    assert invitation.events.get().provider_event_id.startswith("sha256:")


def test_it_records_a_repeated_sendgrid_batch_once(client):
    ada = sent_invitation(ADA_MESSAGE_ID)
    grace = sent_invitation(GRACE_MESSAGE_ID)

    for _ in range(2):
        assert post(client, "sendgrid", fixture("sendgrid_batch.json")).status_code == 200

    assert ada.events.count() == 2
    assert grace.events.count() == 1


def test_it_answers_200_and_warns_about_an_unknown_message_id(client, caplog):
    other = sent_invitation("<invitation-someone-else@surveys.example.com>")

    with caplog.at_level(logging.WARNING, logger="distributions.services.tracking"):
        response = post(client, "postmark", fixture("postmark_delivery.json"))

    assert response.status_code == 200
    assert DeliveryEvent.objects.count() == 0
    assert reloaded(other).status == Status.EMAIL_SENT
    (record,) = caplog.records
    assert "Postmark" in record.getMessage()
    assert "883953f4-6105-42a2-a16a-77a8eac79483" in record.getMessage()


# --- payloads the database could not store as they are ---------------------------------------


# PostgreSQL stores no NUL in text or JSON, and no database stores a lone surrogate (JSON's "\ud800"
# escape): kept as they are, they made the webhook answer 500.
UNSTORABLE = pytest.mark.parametrize("unstorable", ["\x00", "\ud800"], ids=["NUL", "lone surrogate"])


@UNSTORABLE
def test_it_records_a_payload_holding_unstorable_characters_with_them_replaced(client, unstorable):
    invitation = sent_invitation()
    bounce = {
        **fixture("postmark_bounce.json"),
        "Details": f"smtp;550 no{unstorable}such user",
        f"Tag{unstorable}": f"x{unstorable}",
    }

    assert post(client, "postmark", bounce).status_code == 200

    event = invitation.events.get()
    assert "smtp;550 no\ufffdsuch user" in event.description
    assert event.data["Tag\ufffd"] == "x\ufffd"
    assert reloaded(invitation).status == Status.EMAIL_HARD_BOUNCE


@UNSTORABLE
def test_it_records_an_open_whose_user_agent_holds_unstorable_characters(client, unstorable):
    invitation = sent_invitation()
    opened = {**fixture("postmark_open.json"), "UserAgent": f"Mozilla/5.0 {unstorable}"}

    assert post(client, "postmark", opened).status_code == 200

    assert invitation.events.get().data["UserAgent"] == "Mozilla/5.0 \ufffd"
    assert reloaded(invitation).status == Status.EMAIL_OPENED


def test_it_keeps_an_event_id_too_long_for_its_column_as_its_digest_once(client):
    invitation = sent_invitation()
    bounce = {**fixture("postmark_bounce.json"), "ID": "7" * 300}

    for _ in range(2):
        assert post(client, "postmark", bounce).status_code == 200

    event = invitation.events.get()
    assert event.provider_event_id == "sha256:" + hashlib.sha256(b"7" * 300).hexdigest()


@UNSTORABLE
def test_it_drops_an_event_whose_message_id_holds_an_unstorable_character(client, unstorable):
    invitation = sent_invitation()
    bounce = {
        **fixture("postmark_bounce.json"),
        "Metadata": {"invitation": f"invitation-{unstorable}@surveys.example.com"},
    }

    assert post(client, "postmark", bounce).status_code == 200

    assert not invitation.events.exists()


def test_it_keeps_survey_finished_after_a_late_delivery_and_open(client):
    invitation = sent_invitation(status=Status.SURVEY_FINISHED)

    post(client, "postmark", fixture("postmark_delivery.json"))
    post(client, "postmark", fixture("postmark_open.json"))

    assert reloaded(invitation).status == Status.SURVEY_FINISHED
    assert [event.kind for event in invitation.events.all()] == ["delivered", "opened"]


@pytest.mark.parametrize("payload_name", ["postmark_bounce.json", "postmark_open.json", "postmark_spam_complaint.json"])
def test_a_late_event_for_a_deleted_contact_records_nothing_that_names_the_person(client, payload_name):
    invitation = sent_invitation()
    invitation.contact.delete()

    response = post(client, "postmark", fixture(payload_name))

    assert response.status_code == 200
    invitation = reloaded(invitation)
    (event,) = invitation.events.all()
    assert (event.data, event.description, invitation.status_detail) == ({}, "", "")
    dump = json.dumps([event.data, event.description, invitation.status_detail, invitation.address])
    assert "ada@example.com" not in dump and "Lovelace" not in dump


@pytest.mark.django_db(transaction=True)
def test_it_records_an_event_once_when_another_delivery_commits_it_first(postgres_only):
    # The other delivery's insert is not yet committed when ours checks, so ours passes the
    # "already recorded?" check, waits on the unique index, and must then give way quietly.
    invitation = sent_invitation()
    inserted, commit = threading.Event(), threading.Event()

    def other_delivery():
        try:
            with transaction.atomic():
                DeliveryEvent.objects.create(
                    invitation=invitation,
                    kind="opened",
                    occurred_at=timezone.now(),
                    provider="SendGrid",
                    provider_event_id="opened-1",
                )
                inserted.set()
                commit.wait(timeout=10)
        finally:
            connection.close()

    other = threading.Thread(target=other_delivery)
    other.start()
    assert inserted.wait(timeout=10)
    threading.Timer(0.5, commit.set).start()

    assert tracking_event_record(event=tracking_event("opened"), esp_name="SendGrid") is None

    other.join(timeout=10)
    assert invitation.events.count() == 1


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize("esp, payload_name", [("postmark", "postmark_open.json"), ("sendgrid", "sendgrid_batch.json")])
@pytest.mark.parametrize("credentials", [None, "tracking:wrong-password", "someone:s3cret-password"])
def test_it_refuses_calls_without_the_right_credentials(client, esp, payload_name, credentials):
    invitation = sent_invitation()
    sent_invitation(GRACE_MESSAGE_ID)

    response = post(client, esp, fixture(payload_name), credentials=credentials)

    assert response.status_code == 400
    assert DeliveryEvent.objects.count() == 0
    assert reloaded(invitation).status == Status.EMAIL_SENT


def test_it_refuses_every_call_when_no_secret_is_configured(client, settings, monkeypatch):
    monkeypatch.delenv("ANYMAIL_WEBHOOK_SECRET", raising=False)
    settings.ANYMAIL = runpy.run_path(str(ROOT / "config" / "settings.py"))["ANYMAIL"]
    invitation = sent_invitation()

    for credentials in (None, ":", "tracking:"):
        assert post(client, "postmark", fixture("postmark_open.json"), credentials=credentials).status_code == 400

    assert DeliveryEvent.objects.count() == 0
    assert reloaded(invitation).status == Status.EMAIL_SENT


# --- the service, with events built by hand --------------------------------------------------


def tracking_event(event_type="delivered", message_id=ADA_MESSAGE_ID, **fields):
    defaults = {"event_id": f"{event_type}-1", "timestamp": timezone.now(), "esp_event": {"event": event_type}}
    return AnymailTrackingEvent(event_type=event_type, message_id=message_id, **{**defaults, **fields})


@pytest.mark.parametrize(
    "event_type, before, after",
    [
        ("queued", Status.EMAIL_SENT, Status.EMAIL_SENT),
        ("sent", Status.EMAIL_SENT, Status.EMAIL_SENT),
        ("delivered", Status.EMAIL_SENT, Status.EMAIL_SENT),
        # the sender's hand-off timed out and it recorded Email Failed, yet the ESP had the message
        ("queued", Status.EMAIL_FAILED, Status.EMAIL_SENT),
        ("sent", Status.EMAIL_FAILED, Status.EMAIL_SENT),
        ("delivered", Status.EMAIL_FAILED, Status.EMAIL_SENT),
        ("bounced", Status.EMAIL_SENT, Status.EMAIL_HARD_BOUNCE),
        ("deferred", Status.EMAIL_SENT, Status.EMAIL_SOFT_BOUNCE),
        ("rejected", Status.EMAIL_SENT, Status.EMAIL_BLOCKED),
        # Email Failed ranks below Email Sent: it shows on an invitation the sender has not marked yet,
        # and replaces Email Sent, which only said the ESP accepted the message it then failed to send;
        # but not what only a message that went can bring.
        ("failed", Status.PENDING, Status.EMAIL_FAILED),
        ("failed", Status.EMAIL_SENT, Status.EMAIL_FAILED),
        ("failed", Status.EMAIL_OPENED, Status.EMAIL_OPENED),
        ("complained", Status.EMAIL_SENT, Status.EMAIL_COMPLAINT),
        ("opened", Status.EMAIL_SENT, Status.EMAIL_OPENED),
        ("clicked", Status.EMAIL_SENT, Status.EMAIL_OPENED),
        ("unsubscribed", Status.EMAIL_OPENED, Status.OPTED_OUT),
        ("subscribed", Status.EMAIL_SENT, Status.EMAIL_SENT),
        ("autoresponded", Status.EMAIL_SENT, Status.EMAIL_SENT),
        ("unknown", Status.EMAIL_SENT, Status.EMAIL_SENT),
        ("something-anymail-adds-later", Status.EMAIL_SENT, Status.EMAIL_SENT),
    ],
)
def test_it_maps_each_event_type_to_a_status(event_type, before, after):
    invitation = sent_invitation(status=before)

    event = tracking_event_record(event=tracking_event(event_type), esp_name="Postmark")

    assert event.kind == event_type
    assert reloaded(invitation).status == after


@pytest.mark.parametrize(
    "stored, reported",
    [
        ("<invitation-a@surveys.example.com>", "invitation-a@surveys.example.com"),
        ("invitation-a@surveys.example.com", "<invitation-a@surveys.example.com>"),
        ("<invitation-a@surveys.example.com>", " <invitation-a@surveys.example.com> "),
    ],
)
def test_it_matches_message_ids_with_or_without_angle_brackets(stored, reported):
    invitation = sent_invitation(stored)

    event = tracking_event("opened", message_id=reported)

    assert tracking_event_record(event=event, esp_name="Mailgun").invitation == invitation


def test_it_matches_the_message_id_carried_in_metadata():
    invitation = sent_invitation()
    event = tracking_event(
        "opened", message_id="4ab185c2-0171-492f-9ce0-27de258efc99", metadata={"invitation": ADA_MESSAGE_ID[1:-1]}
    )

    assert tracking_event_record(event=event, esp_name="SendGrid").invitation == invitation


@pytest.mark.parametrize("message_id", [None, "", "<>"])
def test_it_never_matches_an_invitation_not_yet_sent(message_id):
    sent_invitation("", status=Status.PENDING)

    assert tracking_event_record(event=tracking_event(message_id=message_id), esp_name="Postmark") is None
    assert DeliveryEvent.objects.count() == 0


def test_it_keeps_a_form_encoded_payload_as_json():
    # Mailgun's legacy webhooks and Mandrill hand anymail a QueryDict, not parsed JSON.
    invitation = sent_invitation()
    raw = QueryDict("event=delivered&recipient=ada%40example.com&tag=a&tag=b")

    tracking_event_record(event=tracking_event(esp_event=raw), esp_name="Mailgun")

    assert invitation.events.get().data == {"event": ["delivered"], "recipient": ["ada@example.com"], "tag": ["a", "b"]}


def test_it_takes_a_naive_timestamp_as_utc_whatever_the_time_zone(settings):
    # ESP timestamps without an offset are UTC, not the server's TIME_ZONE.
    settings.TIME_ZONE = "Europe/Rome"
    invitation = sent_invitation()

    tracking_event_record(event=tracking_event(timestamp=datetime(2025, 3, 14, 12, 0)), esp_name="Postmark")

    assert invitation.events.get().occurred_at == datetime.fromisoformat("2025-03-14T12:00:00+00:00")


# --- tagging outgoing messages so ESPs that report their own id can be matched ---------------


class PostmarkLikeBackend(AnymailTestBackend):
    esp_name = "Postmark"


class PostalLikeBackend(AnymailTestBackend):
    esp_name = "Postal"  # anymail's Postal backend refuses metadata


def send_through(backend_class, **message_fields):
    message = EmailMessage(
        subject="How did we do?", body="...", to=["ada@example.com"], headers={"Message-ID": ADA_MESSAGE_ID}
    )
    for name, value in message_fields.items():
        setattr(message, name, value)
    backend_class().send_messages([message])
    return message.anymail_test_params


def test_it_tags_messages_to_esps_that_echo_metadata_with_our_message_id():
    params = send_through(PostmarkLikeBackend, metadata={"campaign": "spring"})

    assert params["metadata"] == {"campaign": "spring", "invitation": ADA_MESSAGE_ID[1:-1]}


def test_it_leaves_messages_to_other_esps_untagged():
    assert "metadata" not in send_through(PostalLikeBackend)


@pytest.mark.parametrize("esp_name", ["Mailtrap", "SendinBlue"])
def test_it_tags_messages_to_every_esp_whose_tracking_events_echo_metadata(esp_name):
    # Mailtrap echoes metadata as custom_variables; SendinBlue is anymail's former name of Brevo.
    backend_class = type(f"{esp_name}LikeBackend", (AnymailTestBackend,), {"esp_name": esp_name})

    assert send_through(backend_class)["metadata"] == {"invitation": ADA_MESSAGE_ID[1:-1]}
