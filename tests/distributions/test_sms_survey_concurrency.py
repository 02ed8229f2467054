"""Two replies to a two-way SMS survey from one number arriving at once (PostgreSQL, threads with
their own connections, signed webhooks): they answer two questions one after the other, never the
same question twice; a replay racing its original answers once; a reply racing the expiry job
expires the session once; a reply racing the hand-off of a newer survey's text answers one survey,
and the newer one is the number's only open survey after both; a failed status callback racing
the worker's record of the same text deadlocks neither."""

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from directory.models import Contact
from distributions.channels.email import Outcome
from distributions.models import Invitation, Response, SmsMessage, SmsSession
from distributions.services import delivery, sms_sessions
from distributions.services.sms import sms_status_record
from distributions.services.sms_sessions import sms_session_start, sms_session_text_gone, sms_sessions_expire
from distributions.services.status import invitation_record
from tests.distributions.sms import INBOUND_PATH, inbound_form, message_sid, post_signed, status_form
from tests.distributions.sms_surveys import PHONE, make_sms_survey, reply, send_two_way, status
from tests.factories import make_distribution
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Q2 = "How likely are you to recommend us?\nReply with a number from 0 to 10."
Q3 = "Anything else?"


@pytest.fixture
def slow_answers(monkeypatch, postgres_only):
    """Each answer takes a moment to save: without the conversation's lock, the second reply
    would read the session before the first moved it on, and answer the same question."""
    save = sms_sessions._answer_save

    def slow_save(*args, **kwargs):
        time.sleep(0.4)
        return save(*args, **kwargs)

    monkeypatch.setattr(sms_sessions, "_answer_save", slow_save)


def test_two_replies_at_once_answer_two_questions_in_turn(slow_answers):
    survey = make_sms_survey()
    invitation, _ = send_two_way(survey)
    q1, q2, _ = survey.questions.order_by("position")
    bodies = ["1", "2"]  # each answers either question
    answered = run_together(2, lambda i: reply(bodies[i], client=Client()))

    assert sorted(answered) == sorted([[Q2], [Q3]])
    first = bodies[answered.index([Q2])]  # the reply that got the lock first answered Q1
    second = bodies[answered.index([Q3])]
    response = Response.objects.get(invitation=invitation)
    assert response.answers == {
        str(q1.pk): {"number": int(first), "text": q1.choice_list()[int(first) - 1]},
        str(q2.pk): int(second),
    }
    session = SmsSession.objects.get(invitation=invitation)
    assert (session.state, session.question.position, session.reasks) == ("open", 3, 0)
    assert status(invitation) == "Survey Started"
    assert invitation.events.filter(kind="started").count() == 1
    # Each answer follows its own text: the second text was recorded after the first was answered.
    thread = list(SmsMessage.objects.order_by("id").values_list("direction", "body"))
    assert thread[1:] == [("inbound", first), ("outbound", Q2), ("inbound", second), ("outbound", Q3)]


def test_a_replay_racing_its_original_answers_once_and_the_same(slow_answers):
    # The replay waits for the lock while the original answers; its look-up under the lock was
    # taken before the original committed, so it answers too, until its text's insert finds the
    # original's: then everything it did is undone, and it gives the original's answer.
    survey = make_sms_survey()
    invitation, _ = send_two_way(survey)
    q1 = survey.questions.order_by("position").first()
    form = inbound_form(sender=PHONE, body="2")
    responses = run_together(2, lambda i: post_signed(Client(), INBOUND_PATH, form))

    assert [response.status_code for response in responses] == [200, 200]
    assert responses[0].content == responses[1].content and Q2.split("\n")[0].encode() in responses[0].content
    assert Response.objects.get(invitation=invitation).answers == {str(q1.pk): {"number": 2, "text": "Good"}}
    session = SmsSession.objects.get(invitation=invitation)
    assert (session.state, session.question.position, session.reasks) == ("open", 2, 0)
    assert invitation.events.filter(kind="started").count() == 1
    thread = list(SmsMessage.objects.order_by("id").values_list("direction", "body", "invitation"))
    assert thread[1:] == [("inbound", "2", invitation.pk), ("outbound", Q2, None)]


def test_a_reply_racing_the_expiry_job_expires_the_session_once(postgres_only):
    invitation, _ = send_two_way(make_sms_survey())
    SmsSession.objects.filter(invitation=invitation).update(expires_at=timezone.now() - timedelta(seconds=1))
    outcomes = run_together(2, lambda i: reply("1", client=Client()) if i == 0 else sms_sessions_expire())

    assert outcomes[0] == [settings.SMS_NO_SESSION_REPLY]
    assert invitation.events.filter(kind="session_expired").count() == 1
    assert status(invitation) == "Session Expired"
    assert SmsSession.objects.get(invitation=invitation).state == "expired"
    assert not Response.objects.exists()


def test_a_reply_racing_the_newer_surveys_hand_off_answers_one_survey(slow_answers):
    older, _ = send_two_way(make_sms_survey(name="Older"))
    newer_survey = make_sms_survey(name="Newer", sms_introduction="")
    newer = Invitation.objects.create(
        distribution=make_distribution(survey=newer_survey, channel="two_way_sms"),
        contact=Contact.objects.get(pk=older.contact_id),
        address=PHONE,
    )
    with transaction.atomic():  # claimed: its session waits for its text
        sms_session_start(invitation=newer)

    def text_gone():
        with transaction.atomic():
            sms_session_text_gone(invitation_id=newer.pk)
            invitation_record(invitation=newer, kind="sms_sent", status=Invitation.Status.SMS_SENT)

    outcomes = run_together(2, lambda i: reply("1", client=Client()) if i == 0 else text_gone())

    assert outcomes[0] == [Q2]  # the first question of whichever survey it found
    answered = list(Response.objects.values_list("invitation_id", flat=True))
    assert answered in ([older.pk], [newer.pk])
    assert SmsSession.objects.get(invitation=older).state == "closed"
    assert SmsSession.objects.get(invitation=newer).state == "open"
    if answered == [older.pk]:  # answered before the newer text's record: partially finished by it
        assert status(older) == "Survey Partially Finished"
        assert reply("2") == [Q2]  # the newer survey's first question answered
        assert Response.objects.filter(invitation=newer).exists()
    else:
        assert status(older) == "SMS Sent"
        assert status(newer) == "Survey Started"


def test_a_failed_callback_racing_the_workers_record_of_the_same_text_deadlocks_neither(monkeypatch, postgres_only):
    """Twilio may call back (even failed) before its API has answered the worker: the callback and
    the worker's record of the same newer survey's text lock the conversation and the invitation
    in the same order, so neither waits for the other for ever (PostgreSQL would abort one)."""
    older, _ = send_two_way(make_sms_survey(name="Older"))
    newer = Invitation.objects.create(
        distribution=make_distribution(
            survey=make_sms_survey(name="Newer", sms_introduction=""), channel="two_way_sms"
        ),
        contact=Contact.objects.get(pk=older.contact_id),
        address=PHONE,
    )
    with transaction.atomic():  # claimed: its session waits for its text
        sms_session_start(invitation=newer)
    sid = message_sid()
    SmsMessage.objects.create(
        conversation=SmsSession.objects.get(invitation=newer).conversation,
        direction=SmsMessage.Direction.OUTBOUND,
        body="Newer survey",
        provider="twilio",
        message_sid=sid,
        status=SmsMessage.Status.QUEUED,
        invitation=newer,
    )
    text_gone = delivery.sms_session_text_gone
    conversation_locked = threading.Event()

    def slow_text_gone(**kwargs):  # the conversation locked: the callback comes meanwhile
        gone = text_gone(**kwargs)
        conversation_locked.set()
        time.sleep(0.5)
        return gone

    monkeypatch.setattr(delivery, "sms_session_text_gone", slow_text_gone)

    def worker():
        delivery._record(Invitation.objects.get(pk=newer.pk), Outcome.ACCEPTED, "", data={})

    def callback():
        # Once the worker holds the conversation, however long a loaded machine takes to get it there.
        assert conversation_locked.wait(timeout=30), "the worker never locked the conversation"
        return sms_status_record(params=status_form(sid=sid, status="failed", error_code="30008"))

    run_together(2, lambda i: worker() if i == 0 else callback())

    assert SmsMessage.objects.get(message_sid=sid).status == SmsMessage.Status.FAILED
    # The worker recorded first (it held the conversation): the text went, then failed for good.
    assert status(newer) == "SMS Failed"
    assert SmsSession.objects.get(invitation=newer).state == "closed"
    assert not SmsSession.objects.filter(conversation__phone=PHONE, state="open").exists()
