"""End to end through a real SMTP server on loopback: Salesforce's message → one email → an answer."""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from distributions.models import Invitation, Response
from tests.distributions.smtp_server import smtp_server
from tests.factories import (
    case_fields,
    make_distribute_task,
    make_question,
    make_sender_domain,
    make_survey,
    make_survey_field,
    make_workflow,
    outbound_message,
)
from workflows.models import Run

pytestmark = pytest.mark.django_db

Status = Invitation.Status


@pytest.fixture
def server(settings):
    with smtp_server(settings) as handler:
        yield handler


@pytest.fixture
def workflow():
    make_sender_domain("example.com")
    survey = make_survey(name="Customer satisfaction")
    make_question(survey=survey, kind="rating", text="How likely are you to recommend us?")
    make_survey_field(survey=survey, name="Priority")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, reply_to="help@example.com")
    return workflow


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """Post as Salesforce does; the sync worker runs the workflow, and sends, on commit."""

    def post(workflow, body):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(workflow.event_path, body, content_type="text/xml")
        assert response.status_code == 200 and b"<Ack>true</Ack>" in response.content

    return post


def text_part(message):
    part = next(part for part in message.walk() if part.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()


def test_an_outbound_message_produces_exactly_one_smtp_delivery(workflow, post, server, settings):
    post(workflow, outbound_message(case_fields()))

    [delivery] = server.deliveries
    invitation = Invitation.objects.get()
    assert (delivery.mail_from, delivery.rcpt_tos) == ("surveys@example.com", ["ada@example.com"])
    message = delivery.message
    assert message["From"] == "Customer care <surveys@example.com>"
    assert message["Reply-To"] == "help@example.com"
    assert message["Subject"] == "How did we do with case 00001026?"
    assert message["Message-ID"] == invitation.message_id
    assert f"{settings.PUBLIC_BASE_URL}/s/{invitation.token}/" in text_part(message)
    assert invitation.status == Status.EMAIL_SENT
    assert Run.objects.get().status == Run.Status.SUCCEEDED


def test_a_redelivered_message_produces_no_second_delivery(workflow, post, server):
    body = outbound_message(case_fields())
    post(workflow, body)
    post(workflow, body)
    assert len(server.deliveries) == 1
    assert Invitation.objects.count() == 1


def test_the_emailed_link_opens_the_survey_and_answering_it_records_the_contacts_data(workflow, post, server, client):
    post(workflow, outbound_message(case_fields(Priority="High")))
    link = re.search(r"https?://\S+/s/[\w-]+/", text_part(server.deliveries[0].message))[0]
    path = urlsplit(link).path
    assert client.get(path).status_code == 200

    question = Invitation.objects.get().distribution.survey.questions.get()
    client.post(path, {f"q{question.pk}": "9", "action": "finish"})

    invitation = Invitation.objects.get()
    assert invitation.status == Status.SURVEY_FINISHED
    assert Response.objects.get(invitation=invitation).embedded_data == {"Priority": "High"}


@pytest.fixture
def server_without_smtputf8(settings):
    with smtp_server(settings, smtputf8=False) as handler:
        yield handler


def test_an_invitation_to_a_non_ascii_local_part_goes_out_with_smtputf8(workflow, post, server):
    post(workflow, outbound_message(case_fields(ContactEmail="jörg@example.com")))

    assert server.commands[-1] == "RCPT TO:<jörg@example.com>"
    assert "SMTPUTF8" in server.commands[0].upper().split()
    invitation = Invitation.objects.get()
    assert (invitation.address, invitation.status) == ("jörg@example.com", Status.EMAIL_SENT)


def test_without_smtputf8_such_an_invitation_fails_saying_why_and_nothing_is_sent(
    workflow, post, server_without_smtputf8
):
    post(workflow, outbound_message(case_fields(ContactEmail="jörg@example.com")))

    assert server_without_smtputf8.commands == []
    invitation = Invitation.objects.get()
    assert invitation.status == Status.EMAIL_FAILED
    assert "does not offer SMTPUTF8" in invitation.status_detail
    assert "jörg@example.com" in invitation.status_detail


def test_an_invitation_from_an_idn_sender_domain_goes_out_in_dns_form(post, server):
    make_sender_domain("exämple.com")
    survey = make_survey(name="Kundenzufriedenheit")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, from_email="umfragen@exämple.com")

    post(workflow, outbound_message(case_fields()))

    [delivery] = server.deliveries
    invitation = Invitation.objects.get()
    assert delivery.mail_from == "umfragen@xn--exmple-cua.com"
    assert delivery.message["From"] == "Customer care <umfragen@xn--exmple-cua.com>"
    assert delivery.message["Message-ID"] == invitation.message_id
    assert invitation.message_id.endswith("@xn--exmple-cua.com>")
    assert invitation.status == Status.EMAIL_SENT


def test_a_piped_sender_name_cannot_add_headers_or_recipients(post, server):
    survey = make_survey(name="Customer satisfaction")
    make_sender_domain("example.com")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, from_name="${event://Store__c}")

    post(workflow, outbound_message(case_fields(Store__c="Milan\r\nBcc: eve@evil.example, <eve@evil.example>")))

    [delivery] = server.deliveries
    assert delivery.rcpt_tos == ["ada@example.com"]
    assert delivery.message["Bcc"] is None
    assert delivery.message["From"] == '"Milan Bcc: eve@evil.example, <eve@evil.example>" <surveys@example.com>'


def test_the_email_carries_one_click_unsubscribe_that_works_without_cookies(workflow, post, server):
    post(workflow, outbound_message(case_fields()))
    message = server.deliveries[0].message

    url = re.fullmatch(r"<(\S+)>", message["List-Unsubscribe"].strip())[1]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # As a mailbox provider sends it: no cookie, no CSRF token, the header's key/value pair as the body.
    answer = Client(enforce_csrf_checks=True).post(
        urlsplit(url).path, message["List-Unsubscribe-Post"], content_type="application/x-www-form-urlencoded"
    )

    assert answer.status_code == 200
    invitation = Invitation.objects.get()
    assert invitation.status == Status.OPTED_OUT
    assert invitation.contact.unsubscribed is True
