"""Twilio's webhooks: signatures, replays, carrier keywords, the no-session answer, the session
hook, and status callbacks that move a text's status forward only."""

import logging

import pytest
from defusedxml import ElementTree
from django.conf import settings
from django.db import DatabaseError
from twilio.request_validator import RequestValidator

from directory.models import Contact
from distributions.models import DeliveryEvent, Invitation, SmsConversation, SmsMessage
from distributions.services import sms_inbound
from distributions.services.sms import sms_message_send
from tests.distributions.sms import (
    AUTH_TOKEN,
    INBOUND_PATH,
    STATUS_PATH,
    inbound_form,
    message_sid,
    post_signed,
    signature,
    status_form,
)
from tests.factories import make_contact, make_distribution, make_invitation

pytestmark = pytest.mark.django_db

TWILIO_BACKEND = "distributions.channels.twilio.TwilioSmsBackend"


def answers(response) -> list[str]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return [element.text for element in ElementTree.fromstring(response.content).iter("Message")]


# --- signatures ------------------------------------------------------------------------------


def test_an_unsigned_inbound_text_is_refused_and_changes_nothing(client):
    response = client.post(INBOUND_PATH, inbound_form(body="STOP"))
    assert response.status_code == 403
    assert not SmsMessage.objects.exists() and not SmsConversation.objects.exists()


def test_a_wrongly_signed_inbound_text_is_refused_and_changes_nothing(client):
    contact = make_contact(phone="+15555550123")
    form = inbound_form(body="STOP")
    response = client.post(INBOUND_PATH, form, HTTP_X_TWILIO_SIGNATURE=signature(INBOUND_PATH, form, key="another-key"))
    assert response.status_code == 403
    assert not SmsMessage.objects.exists()
    contact.refresh_from_db()
    assert not contact.sms_opted_out


def test_a_signature_of_other_fields_is_refused(client):
    form = inbound_form(body="Hello")
    signed = signature(INBOUND_PATH, form)
    response = client.post(INBOUND_PATH, {**form, "Body": "STOP"}, HTTP_X_TWILIO_SIGNATURE=signed)
    assert response.status_code == 403
    assert not SmsMessage.objects.exists()


def test_the_signature_covers_the_public_url_not_the_one_this_process_sees(client, settings):
    form = inbound_form()
    settings.PUBLIC_BASE_URL = "http://testserver"
    signed_for_internal_url = signature(INBOUND_PATH, form)
    settings.PUBLIC_BASE_URL = "https://surveys.example.com"
    assert client.post(INBOUND_PATH, form, HTTP_X_TWILIO_SIGNATURE=signed_for_internal_url).status_code == 403
    assert answers(post_signed(client, INBOUND_PATH, form))


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", [INBOUND_PATH, STATUS_PATH])
def test_the_webhooks_answer_without_the_final_slash_as_pasted_in_twilios_console(client, settings, path, debug):
    settings.DEBUG = debug
    client.raise_request_exception = False
    form = inbound_form(body="HELP") if path == INBOUND_PATH else status_form(sid=message_sid(), status="sent")
    bare = path.rstrip("/")
    signed_for_bare = {"HTTP_X_TWILIO_SIGNATURE": signature(bare, form)}
    assert client.post(bare, form, **signed_for_bare).status_code in (200, 204)
    # a signature of the other URL is refused
    assert client.post(bare, form, HTTP_X_TWILIO_SIGNATURE=signature(path, form)).status_code == 403
    assert client.post(path, form, **signed_for_bare).status_code == 403


def test_with_twilio_the_auth_token_signs(client, settings):
    settings.SMS_BACKEND = TWILIO_BACKEND
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    form = inbound_form()
    assert post_signed(client, INBOUND_PATH, form).status_code == 403  # the local key no longer signs
    assert answers(post_signed(client, INBOUND_PATH, form, key=AUTH_TOKEN))


SHARED_KEY_SECRET = "shared-key-secret-for-tests"


def shared_key_signed(path, form, *, algorithm="HMAC_SHA256", key=SHARED_KEY_SECRET) -> dict:
    """The headers of a call a Twilio Webhook Rule signs with a SharedKey."""
    url = settings.PUBLIC_BASE_URL + path
    return {
        "HTTP_X_TWILIO_SIGNATURE": RequestValidator(key).compute_signature(url, form, algorithm),
        "HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS": f"key=KS{'0' * 32},algorithm={algorithm}",
    }


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1"])
@pytest.mark.parametrize("path", [INBOUND_PATH, STATUS_PATH])
def test_with_twilio_a_call_signed_with_a_shared_key_is_checked_with_its_secret(client, settings, algorithm, path):
    settings.SMS_BACKEND = TWILIO_BACKEND
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_WEBHOOK_SHARED_KEY_SECRET = SHARED_KEY_SECRET
    form = inbound_form(body="HELP") if path == INBOUND_PATH else status_form(sid=message_sid(), status="sent")
    assert client.post(path, form, **shared_key_signed(path, form, algorithm=algorithm)).status_code in (200, 204)
    # The auth token does not sign a call that names a shared key, nor another secret.
    assert client.post(path, form, **shared_key_signed(path, form, key=AUTH_TOKEN)).status_code == 403
    assert client.post(path, form, **shared_key_signed(path, form, key="another")).status_code == 403


def test_with_twilio_and_no_shared_key_secret_a_call_signed_with_one_is_refused(client, settings, caplog):
    settings.SMS_BACKEND = TWILIO_BACKEND
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_WEBHOOK_SHARED_KEY_SECRET = ""
    form = inbound_form(body="STOP")
    for key in (SHARED_KEY_SECRET, AUTH_TOKEN, ""):
        assert (
            client.post(INBOUND_PATH, form, **shared_key_signed(INBOUND_PATH, form, key=key or " ")).status_code == 403
        )
    assert "TWILIO_WEBHOOK_SHARED_KEY_SECRET" in caplog.text
    assert not SmsMessage.objects.exists()


def test_with_twilio_and_no_auth_token_every_call_is_refused(client, settings):
    settings.SMS_BACKEND = TWILIO_BACKEND
    settings.TWILIO_AUTH_TOKEN = ""
    form = inbound_form()
    response = client.post(INBOUND_PATH, form, HTTP_X_TWILIO_SIGNATURE=signature(INBOUND_PATH, form, key=" "))
    assert response.status_code == 403


def test_an_unsigned_status_callback_is_refused_and_changes_nothing(client):
    text = sms_message_send(to="+15555550123", body="Hi").message
    response = client.post(STATUS_PATH, status_form(sid=text.message_sid, status="failed", error_code="30003"))
    assert response.status_code == 403
    text.refresh_from_db()
    assert text.status == SmsMessage.Status.SENT and text.error_code == ""


@pytest.mark.parametrize("path", [INBOUND_PATH, STATUS_PATH])
def test_a_get_is_not_allowed(client, path):
    assert client.get(path).status_code == 405


# --- inbound texts ---------------------------------------------------------------------------


def test_a_text_with_no_open_session_gets_the_configured_answer_and_is_logged(client, settings, caplog):
    settings.SMS_NO_SESSION_REPLY = "No survey is open for you right now."
    with caplog.at_level(logging.INFO, logger="distributions.services.sms_inbound"):
        response = post_signed(client, INBOUND_PATH, inbound_form(sender="(555) 555-0123", body="Hello?"))
    assert answers(response) == ["No survey is open for you right now."]
    conversation = SmsConversation.objects.get()
    assert f"SMS conversation {conversation.pk} came with no open survey session" in caplog.text
    # The log outlives texts' retention. The number is matched whole: the conversation's id may contain "555".
    assert "5550123" not in caplog.text and "555-0123" not in caplog.text and "Hello?" not in caplog.text
    assert conversation.phone == "+15555550123"  # E.164, read in DEFAULT_PHONE_REGION
    received, answered = conversation.messages.order_by("id")
    assert (received.direction, received.body, received.status) == ("inbound", "Hello?", "received")
    assert (answered.direction, answered.body, answered.in_reply_to) == (
        "outbound",
        settings.SMS_NO_SESSION_REPLY,
        received,
    )
    assert answered.provider == "outbox" and answered.message_sid.startswith("OB")


def test_a_replayed_text_changes_nothing_and_gets_the_same_answer(client):
    form = inbound_form(body="Hello")
    first = answers(post_signed(client, INBOUND_PATH, form))
    rows = list(SmsMessage.objects.values_list("id", "body", "status"))
    again = answers(post_signed(client, INBOUND_PATH, form))
    assert again == first
    assert list(SmsMessage.objects.values_list("id", "body", "status")) == rows


@pytest.mark.parametrize(
    "word",
    [
        "STOP",
        "stop",
        " Stop! ",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "Revoke",
        "OPTOUT",
        "ARRET",
        "Arrêt",
        "ANNULLA",
        "BAJA",
    ],
)
def test_an_opt_out_keyword_opts_the_number_out_in_every_directory(client, settings, word):
    texted = [make_contact(phone="+15555550123"), make_contact(phone="+15555550123")]
    other = make_contact(phone="+15555550199")
    answer = answers(post_signed(client, INBOUND_PATH, inbound_form(body=word)))
    assert answer == [settings.SMS_STOP_REPLY]
    assert [contact.sms_opted_out for contact in Contact.objects.filter(pk__in=[c.pk for c in texted])] == [True, True]
    other.refresh_from_db()
    assert not other.sms_opted_out
    assert SmsMessage.objects.get(direction="inbound").keyword == SmsMessage.Keyword.OPT_OUT
    assert not Contact.objects.filter(unsubscribed=True).exists()  # email is not affected


@pytest.mark.parametrize("word", ["START", "unstop"])
def test_start_opts_the_number_back_in(client, settings, word):
    contact = make_contact(phone="+15555550123", sms_opted_out=True, unsubscribed=True)
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body=word))) == [settings.SMS_START_REPLY]
    contact.refresh_from_db()
    assert not contact.sms_opted_out
    assert contact.unsubscribed  # an email opt-out is not undone by a text


def test_yes_opts_back_in_a_number_that_opted_out(client, settings):
    contact = make_contact(phone="+15555550123")
    post_signed(client, INBOUND_PATH, inbound_form(body="STOP"))
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body="Yes"))) == [settings.SMS_START_REPLY]
    contact.refresh_from_db()
    assert not contact.sms_opted_out
    assert SmsMessage.objects.filter(direction="inbound").latest("id").keyword == SmsMessage.Keyword.OPT_IN


def test_yes_from_a_number_that_did_not_opt_out_is_no_keyword(client, settings):
    make_contact(phone="+15555550123")
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body="YES"))) == [settings.SMS_NO_SESSION_REPLY]
    assert SmsMessage.objects.get(direction="inbound").keyword == SmsMessage.Keyword.NONE


@pytest.mark.parametrize("word", ["help", "INFO", "Info."])
def test_help_answers_how_to_stop(client, settings, word):
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body=word))) == [settings.SMS_HELP_REPLY]
    assert "STOP" in settings.SMS_HELP_REPLY


def test_a_number_that_opted_out_gets_no_answer_to_another_text(client, settings):
    post_signed(client, INBOUND_PATH, inbound_form(body="STOP"))
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body="Hello?"))) == []
    assert list(SmsMessage.objects.filter(direction="outbound").values_list("body", flat=True)) == [
        settings.SMS_STOP_REPLY
    ]
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body="START"))) == [settings.SMS_START_REPLY]
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body="Hello?"))) == [settings.SMS_NO_SESSION_REPLY]


@pytest.mark.parametrize(
    "body, keyword",
    [
        ("STOP\u00a0", "opt_out"),  # a no-break space some keyboards end a word with
        ("\u200bStop", "opt_out"),  # a zero-width space
        ("ＳＴＯＰ", "opt_out"),  # full-width letters
        ("HELP\u00a0", "help"),
        ("Start\u2060", "opt_in"),  # a word joiner
        ("STOP ME", ""),
    ],
)
def test_a_keyword_with_invisible_or_compatibility_characters_is_still_one(body, keyword):
    assert sms_inbound.sms_keyword(body) == keyword


def test_a_keyword_inside_a_sentence_is_not_one(client, settings):
    contact = make_contact(phone="+15555550123")
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body="please do not stop"))) == [
        settings.SMS_NO_SESSION_REPLY
    ]
    contact.refresh_from_db()
    assert not contact.sms_opted_out


def test_keywords_go_unanswered_when_twilio_answers_them(client, settings):
    settings.SMS_ANSWER_KEYWORDS = False
    contact = make_contact(phone="+15555550123")
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body="STOP"))) == []
    contact.refresh_from_db()
    assert contact.sms_opted_out
    assert not SmsMessage.objects.filter(direction="outbound").exists()


def test_a_sender_that_is_not_a_phone_number_is_a_400_and_changes_nothing(client):
    response = post_signed(client, INBOUND_PATH, inbound_form(sender="not-a-number"))
    assert response.status_code == 400
    assert not SmsMessage.objects.exists()


def test_a_form_without_message_sid_is_a_400(client):
    form = inbound_form()
    del form["MessageSid"]
    assert post_signed(client, INBOUND_PATH, form).status_code == 400


@pytest.mark.parametrize(
    "field, value",
    [("Body", "Hi\x00there"), ("From", "+15555550123\x00"), ("MessageSid", "SM" + "a" * 63), ("To", "+1" * 20)],
)
def test_a_signed_form_twilio_would_not_send_is_a_400_and_changes_nothing(client, field, value):
    # PostgreSQL refuses a NUL and a value longer than its column: a 503 on every retry before.
    response = post_signed(client, INBOUND_PATH, {**inbound_form(body="STOP"), field: value})
    assert response.status_code == 400
    assert not SmsMessage.objects.exists()
    assert not SmsConversation.objects.exists()


def test_a_database_failure_is_a_503_not_a_500(client, monkeypatch):
    def broken(**kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr("distributions.services.sms_inbound.contacts_sms_opt_out", broken)
    response = post_signed(client, INBOUND_PATH, inbound_form(body="STOP"))
    assert response.status_code == 503
    assert not SmsMessage.objects.exists()


class AnsweringSession:
    """A session handler as two-way surveys will register one."""

    def __init__(self):
        self.opted_out_numbers = []

    def answer(self, *, conversation, message):
        return f"Got {message.body}" if message.body.isdigit() else None

    def help_text(self, *, conversation):
        return "Survey: Customer satisfaction. Reply STOP to stop."

    def opted_out(self, *, conversation, message):
        self.opted_out_numbers.append(conversation.phone)


def test_a_session_handler_answers_texts_it_owns(client, settings, monkeypatch):
    handler = AnsweringSession()
    monkeypatch.setattr(sms_inbound, "SESSION_HANDLERS", [])
    sms_inbound.sms_session_handler_register(handler)
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body="2"))) == ["Got 2"]
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body="what?"))) == [settings.SMS_NO_SESSION_REPLY]
    assert answers(post_signed(client, INBOUND_PATH, inbound_form(body="HELP"))) == [
        "Survey: Customer satisfaction. Reply STOP to stop."
    ]
    post_signed(client, INBOUND_PATH, inbound_form(body="STOP"))
    assert handler.opted_out_numbers == ["+15555550123"]


def test_with_twilio_the_answer_is_twiml_whose_statuses_come_back_to_its_row(client, settings):
    settings.SMS_BACKEND = TWILIO_BACKEND
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    response = post_signed(client, INBOUND_PATH, inbound_form(body="Hello"), key=AUTH_TOKEN)
    reply = SmsMessage.objects.get(direction="outbound")
    assert (reply.provider, reply.status, reply.message_sid) == ("twilio", "queued", "")
    message = ElementTree.fromstring(response.content).find("Message")
    assert message.get("action") == f"{settings.PUBLIC_BASE_URL}{STATUS_PATH}?sms={reply.pk}"
    sid = message_sid()
    callback = post_signed(
        client, STATUS_PATH, status_form(sid=sid, status="delivered"), key=AUTH_TOKEN, query=f"sms={reply.pk}"
    )
    assert callback.status_code == 204
    reply.refresh_from_db()
    assert (reply.message_sid, reply.status) == (sid, "delivered")


# --- status callbacks ------------------------------------------------------------------------


@pytest.fixture
def sent(settings):
    """A text sent through the outbox, tied to an invitation."""
    invitation = make_invitation(
        distribution=make_distribution(channel="sms"),
        contact=make_contact(phone="+15555550123"),
        status=Invitation.Status.SMS_SENT,
    )
    return sms_message_send(to="+15555550123", body="Your survey: https://x", invitation=invitation).message


def callback(client, text, status, error_code=""):
    response = post_signed(client, STATUS_PATH, status_form(sid=text.message_sid, status=status, error_code=error_code))
    assert response.status_code == 204
    text.refresh_from_db()
    return text


def test_statuses_move_forward(client, sent):
    sent.status = SmsMessage.Status.QUEUED
    sent.save()
    assert callback(client, sent, "sending").status == "sending"
    assert callback(client, sent, "sent").status == "sent"
    assert callback(client, sent, "delivered").status == "delivered"
    sent.invitation.refresh_from_db()
    assert sent.invitation.status == Invitation.Status.SMS_DELIVERED
    assert DeliveryEvent.objects.filter(invitation=sent.invitation, kind="sms_delivered").count() == 1


def test_a_late_status_changes_nothing(client, sent):
    callback(client, sent, "delivered")
    assert callback(client, sent, "sent").status == "delivered"
    assert callback(client, sent, "queued").status == "delivered"
    assert callback(client, sent, "failed", "30003").status == "delivered"  # a final status stays
    assert sent.error_code == ""


def test_a_duplicated_status_callback_changes_nothing(client, sent):
    callback(client, sent, "delivered")
    updated_at = sent.updated_at
    assert callback(client, sent, "delivered").updated_at == updated_at
    assert DeliveryEvent.objects.filter(invitation=sent.invitation).count() == 1


@pytest.mark.parametrize("field, value", [("ErrorCode", "3" * 11), ("ErrorCode", "30003\x00"), ("Foo", "\x00")])
def test_a_signed_status_callback_twilio_would_not_send_is_a_400_and_changes_nothing(client, sent, field, value):
    form = {**status_form(sid=sent.message_sid, status="undelivered"), field: value}
    assert post_signed(client, STATUS_PATH, form).status_code == 400
    sent.refresh_from_db()
    assert (sent.status, sent.error_code) == ("sent", "")
    assert not DeliveryEvent.objects.filter(invitation=sent.invitation).exists()


def test_undelivered_keeps_twilios_error_code_and_its_meaning(client, sent):
    text = callback(client, sent, "undelivered", "30003")
    assert (text.status, text.error_code) == ("undelivered", "30003")
    assert (
        text.status_detail
        == "Twilio error 30003: Unreachable destination handset: the phone is off or out of coverage."
    )
    sent.invitation.refresh_from_db()
    assert sent.invitation.status == Invitation.Status.SMS_FAILED
    assert "30003" in sent.invitation.status_detail


def test_an_unknown_error_code_links_to_its_page(client, sent):
    assert callback(client, sent, "failed", "39999").status_detail == (
        "Twilio error 39999: see https://www.twilio.com/docs/api/errors/39999"
    )


def test_a_status_of_a_text_we_did_not_send_changes_nothing(client, sent):
    response = post_signed(client, STATUS_PATH, status_form(sid=message_sid(), status="failed", error_code="30003"))
    assert response.status_code == 204
    sent.refresh_from_db()
    assert sent.status == "sent"


def test_an_unknown_status_value_changes_nothing(client, sent):
    assert callback(client, sent, "teleported").status == "sent"


def test_a_forged_row_id_in_the_query_cannot_take_over_another_text(client, sent):
    # sent already has a SID: a callback naming it by id with another SID leaves it alone.
    post_signed(client, STATUS_PATH, status_form(sid=message_sid(), status="failed"), query=f"sms={sent.pk}")
    sent.refresh_from_db()
    assert sent.status == "sent"
    post_signed(client, STATUS_PATH, status_form(sid=message_sid(), status="failed"), query="sms=99999999999999999999")
