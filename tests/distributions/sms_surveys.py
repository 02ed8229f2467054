"""Two-way SMS surveys as the tests drive them: a survey of three questions, an invitation sent as
the distribute-survey task sends one (the session started and its first text recorded in the same
transaction), replies through the signed inbound webhook, and the distribution history CSV."""

import csv
import io

from defusedxml import ElementTree
from django.db import transaction
from django.test import Client
from django.urls import reverse

from distributions.models import Invitation
from distributions.services.sms import sms_message_send
from distributions.services.sms_sessions import sms_session_start, sms_session_text_gone
from distributions.services.status import invitation_record
from tests.distributions.sms import INBOUND_PATH, inbound_form, post_signed
from tests.factories import make_contact, make_distribution, make_question, make_survey, make_survey_field

PHONE = "+15555550123"


def make_sms_survey(**fields):
    """A survey of a multiple-choice, a rating and a text-entry question, declaring "Store"."""
    defaults = {
        "name": "Case follow-up",
        "public_title": "Our service",
        "sms_introduction": "Hi ${m://FirstName}, three questions about your case.",
        "sms_thank_you": "Thank you, ${m://FirstName}!",
    }
    survey = make_survey(**{**defaults, **fields})
    make_question(survey=survey, kind="multiple_choice", text="How was the service?", choices="Très bien\nGood\nBad")
    make_question(survey=survey, kind="rating", text="How likely are you to recommend us?")
    make_question(survey=survey, kind="text", text="Anything else?")
    make_survey_field(survey=survey, name="Store", default_value="none")
    return survey


def make_sms_contact(*, phone=PHONE, **fields):
    defaults = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    return make_contact(phone=phone, embedded_data={"Store": "Milan"}, **{**defaults, **fields})


def send_two_way(survey, *, contact=None, phone=PHONE) -> tuple[Invitation, str]:
    """A two-way SMS invitation sent as the sender does: the session is started and the text it
    gives is sent, in one transaction; then the invitation is SMS Sent and its session opens, in
    another. -> (invitation, text)."""
    contact = contact or make_sms_contact(phone=phone)
    distribution = make_distribution(survey=survey, channel="two_way_sms")
    invitation = Invitation.objects.create(distribution=distribution, contact=contact, address=phone)
    with transaction.atomic():
        text = sms_session_start(invitation=invitation)
        sms_message_send(to=phone, body=text, invitation=invitation)
    with transaction.atomic():
        sms_session_text_gone(invitation_id=invitation.pk)
        invitation_record(invitation=invitation, kind="sms_sent", status=Invitation.Status.SMS_SENT)
    return invitation, text


def reply(body: str, *, sender=PHONE, client=None) -> list[str]:
    """Text `body` from `sender` through the signed inbound webhook -> the texts answered."""
    response = post_signed(client or Client(), INBOUND_PATH, inbound_form(sender=sender, body=body))
    assert response.status_code == 200, response.content
    return [element.text for element in ElementTree.fromstring(response.content).iter("Message")]


def history(admin_client, survey) -> list[dict]:
    """The survey's distribution history CSV, one dict per row."""
    response = admin_client.get(reverse("reporting:survey_history_csv", args=[survey.pk]))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def status(invitation) -> str:
    invitation.refresh_from_db()
    return invitation.get_status_display()
