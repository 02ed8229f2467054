"""A newer two-way SMS survey to a number whose older survey is still open: the older one ends
only once the newer one's text has gone to Twilio (or may have). When that text fails for good or
is not sent, the person never got the newer survey, and their replies still answer the older one;
a reply arriving while the newer text is on its way answers the older one too."""

from datetime import timedelta

import pytest
import requests
import responses
from defusedxml import ElementTree
from django.utils import timezone

from directory.models import Contact
from distributions.jobs import send_due_invitations
from distributions.models import Invitation, Response, SmsSession
from distributions.services.delivery import SEND_LEASE, invitations_claim_due, invitations_reap_interrupted
from distributions.services.sms import sms_message_send, sms_status_record
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
State = SmsSession.State
PHONE = "+14155550100"
OLDER_Q2 = "What did you buy?"
OLDER_Q3 = "Older survey: anything else?"
NEWER_Q2 = "Newer survey: anything else?"


@pytest.fixture
def twilio(settings):
    with twilio_rest_faked(settings, every_request_fired=False) as api:
        yield api


def send_two_way(capture, *, name: str, second: str, **config) -> Invitation:
    """Run a distribute-survey task texting a two-way survey (a rating, then `second` and, for the
    older survey, a third question) to PHONE. -> its invitation"""
    survey = make_survey(name=name)
    make_question(survey=survey, kind="rating", text=f"{name}: how likely are you to recommend us?")
    make_question(survey=survey, kind="text", text=second)
    if second == OLDER_Q2:
        make_question(survey=survey, kind="text", text=OLDER_Q3)
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(
        workflow=workflow, survey=survey, method="two_way_sms", phone="${event://ContactPhone}", **config
    )
    run = make_run(workflow=workflow, fields=case_fields(ContactPhone="+1 415 555 0100"))
    with capture(execute=True):
        run_execute(run_id=run.pk)
    return Invitation.objects.filter(distribution__survey=survey).get()


def reply(client, body: str) -> list[str]:
    response = post_signed(client, INBOUND_PATH, inbound_form(sender=PHONE, body=body), key=AUTH_TOKEN)
    assert response.status_code == 200, response.content
    return [element.text for element in ElementTree.fromstring(response.content).iter("Message")]


def accepted(twilio):
    twilio.post(MESSAGES_URL, body=api_message(status="queued", to=PHONE), status=201)


def older_started(twilio, client, capture) -> Invitation:
    """The older survey texted and its first question answered: it asks its second."""
    accepted(twilio)
    older = send_two_way(capture, name="Older", second=OLDER_Q2)
    assert older.status == Status.SMS_SENT
    assert reply(client, "8") == [OLDER_Q2]
    return older


def state(invitation) -> str:
    return SmsSession.objects.get(invitation=invitation).state


def status(invitation) -> str:
    invitation.refresh_from_db()
    return invitation.status


def assert_older_goes_on(client, older, newer):
    """The older survey is still the number's: the next reply answers its second question."""
    assert (state(older), status(older)) == (State.OPEN, Status.SURVEY_STARTED)
    assert reply(client, "Shoes") == [OLDER_Q3]
    assert "Shoes" in str(Response.objects.get(invitation=older).answers)
    assert not Response.objects.filter(invitation=newer).exists()
    assert SmsSession.objects.filter(conversation__phone=PHONE, state=State.OPEN).count() == 1


def test_a_newer_text_twilio_refused_leaves_the_older_survey_open(twilio, client, django_capture_on_commit_callbacks):
    older = older_started(twilio, client, django_capture_on_commit_callbacks)
    twilio.post(MESSAGES_URL, body=api_error(code=21614, message="Not a mobile number", status=400), status=400)
    newer = send_two_way(django_capture_on_commit_callbacks, name="Newer", second=NEWER_Q2)
    assert newer.status == Status.SMS_FAILED
    assert state(newer) == State.CLOSED
    assert_older_goes_on(client, older, newer)
    assert "sms_session_closed" not in older.events.values_list("kind", flat=True)


def test_a_newer_text_skipped_at_its_retry_leaves_the_older_survey_open(
    twilio, client, django_capture_on_commit_callbacks
):
    older = older_started(twilio, client, django_capture_on_commit_callbacks)
    twilio.post(MESSAGES_URL, body=api_error(code=20429, message="Too many requests", status=429), status=429)
    newer = send_two_way(django_capture_on_commit_callbacks, name="Newer", second=NEWER_Q2)
    assert (newer.status, newer.sent_at) == (Status.PENDING, None)  # put off, to be retried
    assert state(newer) == State.WAITING
    assert_older_goes_on(client, older, newer)

    Contact.objects.update(unsubscribed=True)  # opted out of everything before the retry
    Invitation.objects.filter(pk=newer.pk).update(send_after=timezone.now() - timedelta(seconds=1))
    send_due_invitations()
    assert status(newer) == Status.OPTED_OUT
    assert state(newer) == State.CLOSED
    assert state(older) == State.OPEN


def test_a_reply_while_the_newer_text_is_on_its_way_answers_the_older_survey(
    twilio, client, django_capture_on_commit_callbacks
):
    older = older_started(twilio, client, django_capture_on_commit_callbacks)
    answered = []

    def twilio_answers(request):
        # The newer invitation is claimed and its text is at Twilio: the person answers the older
        # survey's question meanwhile.
        answered.append(reply(client, "Shoes"))
        return 201, {}, api_message(status="queued", to=PHONE)

    twilio.add_callback(responses.POST, MESSAGES_URL, callback=twilio_answers)
    newer = send_two_way(django_capture_on_commit_callbacks, name="Newer", second=NEWER_Q2)
    assert answered == [[OLDER_Q3]]
    assert "Shoes" in str(Response.objects.get(invitation=older).answers)
    assert not Response.objects.filter(invitation=newer).exists()

    # Its text went: the newer survey takes over, the older one partially finished.
    assert newer.status == Status.SMS_SENT
    assert (state(older), status(older)) == (State.CLOSED, Status.SURVEY_PARTIALLY_FINISHED)
    assert state(newer) == State.OPEN
    assert reply(client, "3") == [NEWER_Q2]
    assert status(newer) == Status.SURVEY_STARTED


def test_a_newer_text_that_went_closes_the_older_survey(twilio, client, django_capture_on_commit_callbacks):
    older = older_started(twilio, client, django_capture_on_commit_callbacks)
    accepted(twilio)
    newer = send_two_way(django_capture_on_commit_callbacks, name="Newer", second=NEWER_Q2)
    assert newer.status == Status.SMS_SENT
    assert (state(older), status(older)) == (State.CLOSED, Status.SURVEY_PARTIALLY_FINISHED)
    assert SmsSession.objects.get(invitation=older).state_detail == "A newer two-way SMS survey was sent to the number."
    assert state(newer) == State.OPEN
    assert reply(client, "3") == [NEWER_Q2]
    assert Response.objects.get(invitation=older).finished_at is None


def test_a_newer_text_whose_hand_off_is_in_doubt_closes_the_older_survey(
    twilio, client, django_capture_on_commit_callbacks
):
    older = older_started(twilio, client, django_capture_on_commit_callbacks)
    twilio.post(MESSAGES_URL, body=requests.exceptions.ConnectionError("Connection reset by peer"))
    newer = send_two_way(django_capture_on_commit_callbacks, name="Newer", second=NEWER_Q2)
    assert newer.status == Status.SMS_FAILED  # it may have arrived: its replies answer it
    assert (state(older), status(older)) == (State.CLOSED, Status.SURVEY_PARTIALLY_FINISHED)
    assert state(newer) == State.OPEN
    assert reply(client, "3") == [NEWER_Q2]


def newer_claimed(django_capture_on_commit_callbacks) -> Invitation:
    """A newer two-way invitation to the number, put off an hour, then claimed by the schedule
    (its session waiting for its text) and not sent yet."""
    newer = send_two_way(
        django_capture_on_commit_callbacks, name="Newer", second=NEWER_Q2, send_delay=1, send_delay_unit="hours"
    )
    Invitation.objects.filter(pk=newer.pk).update(send_after=timezone.now() - timedelta(seconds=1))
    assert [invitation.pk for invitation in invitations_claim_due(invitation_ids=[newer.pk])] == [newer.pk]
    return newer


def test_a_newer_text_whose_worker_stopped_closes_the_older_survey_once_reaped(
    twilio, client, django_capture_on_commit_callbacks
):
    older = older_started(twilio, client, django_capture_on_commit_callbacks)
    newer = newer_claimed(django_capture_on_commit_callbacks)
    # Claimed, and its worker stopped before handing the text over (or while it did).
    assert state(newer) == State.WAITING
    assert reply(client, "Shoes") == [OLDER_Q3]

    assert invitations_reap_interrupted(now=timezone.now() + SEND_LEASE + timedelta(minutes=1)) == 1
    assert status(newer) == Status.SMS_FAILED  # it may have been sent: its replies answer it
    assert (state(older), status(older)) == (State.CLOSED, Status.SURVEY_PARTIALLY_FINISHED)
    assert state(newer) == State.OPEN
    assert reply(client, "3") == [NEWER_Q2]


def test_a_newer_text_reported_delivered_before_its_worker_recorded_it_closes_the_older_survey(
    twilio, client, django_capture_on_commit_callbacks
):
    older = older_started(twilio, client, django_capture_on_commit_callbacks)
    newer = newer_claimed(django_capture_on_commit_callbacks)
    # Its text handed to Twilio, whose status callback comes before the worker records the
    # hand-off (or instead of it: the worker stopped there, and the reaper leaves texts whose
    # status has moved on).
    accepted(twilio)
    sid = sms_message_send(to=PHONE, body="Newer survey", invitation=newer).message.message_sid
    assert sms_status_record(params=status_form(sid=sid, status="delivered"))
    assert status(newer) == Status.SMS_DELIVERED
    assert invitations_reap_interrupted(now=timezone.now() + SEND_LEASE + timedelta(minutes=1)) == 0

    assert (state(older), status(older)) == (State.CLOSED, Status.SURVEY_PARTIALLY_FINISHED)
    assert state(newer) == State.OPEN
    assert reply(client, "3") == [NEWER_Q2]
    assert status(newer) == Status.SURVEY_STARTED
