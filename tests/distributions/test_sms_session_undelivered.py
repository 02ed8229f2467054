"""A two-way SMS survey whose first text never reached the phone: Twilio refused it, or reported
it undelivered. Its session ends there: the number's later texts are not taken as answers to a
survey it never received, and the expiry job does not turn SMS Failed into Session Expired."""

from datetime import timedelta

import pytest
from defusedxml import ElementTree
from django.utils import timezone

from distributions.models import Invitation, Response, SmsMessage, SmsSession
from distributions.services.sms import sms_status_record
from distributions.services.sms_sessions import sms_sessions_expire
from tests.distributions.sms import (
    AUTH_TOKEN,
    INBOUND_PATH,
    MESSAGES_URL,
    api_error,
    api_message,
    inbound_form,
    post_signed,
    status_form,
    twilio_rest_faked,
)
from tests.factories import case_fields, make_distribute_task, make_question, make_run, make_survey, make_workflow
from workflows.services.execution import run_execute

pytestmark = pytest.mark.django_db

Status = Invitation.Status
PHONE = "+14155550100"
SID = "SM" + "d" * 32


@pytest.fixture
def twilio(settings):
    with twilio_rest_faked(settings, every_request_fired=False) as api:
        yield api


def send_two_way(django_capture_on_commit_callbacks, *, questions=1) -> Invitation:
    survey = make_survey(name="Customer satisfaction")
    make_question(survey=survey, kind="rating", text="How likely are you to recommend us?")
    if questions > 1:
        make_question(survey=survey, kind="text", text="Anything else?")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, method="two_way_sms", phone="${event://ContactPhone}")
    run = make_run(workflow=workflow, fields=case_fields(ContactPhone="+1 415 555 0100"))
    with django_capture_on_commit_callbacks(execute=True):
        run_execute(run_id=run.pk)
    return Invitation.objects.get()


def reply(client, body: str) -> list[str]:
    response = post_signed(client, INBOUND_PATH, inbound_form(sender=PHONE, body=body), key=AUTH_TOKEN)
    assert response.status_code == 200, response.content
    return [element.text for element in ElementTree.fromstring(response.content).iter("Message")]


def assert_not_an_answer(client, invitation, settings):
    assert reply(client, "7") == [settings.SMS_NO_SESSION_REPLY]
    assert sms_sessions_expire(now=timezone.now() + timedelta(days=30)) == 0
    invitation.refresh_from_db()
    assert invitation.status == Status.SMS_FAILED
    assert not Response.objects.filter(invitation=invitation).exists()


def test_a_first_text_twilio_refused_ends_the_session(twilio, client, settings, django_capture_on_commit_callbacks):
    twilio.post(MESSAGES_URL, body=api_error(code=21614, message="Not a mobile number", status=400), status=400)
    invitation = send_two_way(django_capture_on_commit_callbacks)
    assert invitation.status == Status.SMS_FAILED
    session = SmsSession.objects.get(invitation=invitation)
    assert session.state == SmsSession.State.CLOSED
    assert "could not be sent" in session.state_detail
    assert_not_an_answer(client, invitation, settings)


@pytest.mark.parametrize("status", ["undelivered", "failed"])
def test_a_first_text_reported_undelivered_ends_the_session(
    twilio, client, settings, django_capture_on_commit_callbacks, status
):
    twilio.post(MESSAGES_URL, body=api_message(sid=SID, status="queued"), status=201)
    invitation = send_two_way(django_capture_on_commit_callbacks)
    assert invitation.status == Status.SMS_SENT
    assert sms_status_record(params=status_form(sid=SID, status=status, error_code="30006"))
    session = SmsSession.objects.get(invitation=invitation)
    assert session.state == SmsSession.State.CLOSED
    assert_not_an_answer(client, invitation, settings)


def test_a_reply_after_delivery_still_answers(twilio, client, settings, django_capture_on_commit_callbacks):
    twilio.post(MESSAGES_URL, body=api_message(sid=SID, status="queued"), status=201)
    invitation = send_two_way(django_capture_on_commit_callbacks)
    sms_status_record(params=status_form(sid=SID, status="delivered"))
    reply(client, "7")
    assert SmsSession.objects.get().state == SmsSession.State.FINISHED
    invitation.refresh_from_db()
    assert invitation.status == Status.SURVEY_FINISHED
    assert SmsMessage.objects.filter(direction="inbound", invitation=invitation).count() == 1


def test_a_late_undelivered_report_after_an_answer_leaves_the_session_open(
    twilio, client, django_capture_on_commit_callbacks
):
    twilio.post(MESSAGES_URL, body=api_message(sid=SID, status="queued"), status=201)
    invitation = send_two_way(django_capture_on_commit_callbacks, questions=2)
    assert reply(client, "7") == ["Anything else?"]  # the text did arrive
    sms_status_record(params=status_form(sid=SID, status="undelivered", error_code="30003"))
    assert SmsSession.objects.get().state == SmsSession.State.OPEN
    reply(client, "All good")
    invitation.refresh_from_db()
    assert invitation.status == Status.SURVEY_FINISHED
