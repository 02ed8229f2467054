"""The distribute-survey task's two-way SMS survey method, through the session contract of
services/sms_sessions.py: sms_session_start(invitation=...) -> the first message's text, called in
the sending transaction. The tests hold to that contract only (a stand-in replaces the function),
so they check what this method does with it, whatever the sessions do inside."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from distributions.jobs import send_due_invitations
from distributions.models import Distribution, Invitation, SmsMessage
from distributions.services import delivery
from tests.factories import case_fields, make_distribute_task, make_run, make_survey, make_workflow
from workflows.models import Run

pytestmark = pytest.mark.django_db

Status = Invitation.Status
FIRST_MESSAGE = "Customer satisfaction: 3 questions. Reply STOP to stop.\n1. How likely are you to recommend us? 0-10"


@pytest.fixture
def sessions(monkeypatch):
    """The sessions' start, replaced by a stand-in that records each call and whether it was made
    inside a transaction. -> the list of calls (invitation ids)"""
    calls = []

    def sms_session_start(*, invitation):
        assert transaction.get_connection().in_atomic_block, "called outside the sending transaction"
        assert invitation.pk and invitation.sent_at is not None, "called before the invitation was claimed"
        calls.append(invitation.pk)
        return FIRST_MESSAGE

    monkeypatch.setattr(delivery, "sms_session_start", sms_session_start)
    return calls


def two_way_run(**config):
    survey = make_survey(name="Customer satisfaction")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(
        workflow=workflow, survey=survey, method="two_way_sms", phone="${event://ContactPhone}", **config
    )
    return make_run(workflow=workflow, fields=case_fields(ContactPhone="+1 415 555 0100"))


def test_it_texts_the_sessions_first_message_once(sessions, execute):
    run = execute(two_way_run())
    invitation = Invitation.objects.select_related("distribution").get()
    assert invitation.distribution.channel == Distribution.Channel.TWO_WAY_SMS
    assert sessions == [invitation.pk]
    message = SmsMessage.objects.get()
    assert (message.body, message.conversation.phone, message.invitation_id) == (
        FIRST_MESSAGE,
        "+14155550100",
        invitation.pk,
    )
    assert (invitation.status, invitation.text_body) == (Status.SMS_SENT, FIRST_MESSAGE)
    output = run.task_runs.get().output
    assert (output["Channel"], output["Phone"], output["Outcome"]) == ("Two-way SMS", "+14155550100", "Sending now")
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, claimed_at=None, next_attempt_at=timezone.now())
    execute(run)
    send_due_invitations()
    assert (SmsMessage.objects.count(), len(sessions)) == (1, 1)


def test_a_delayed_two_way_invitation_starts_its_session_when_it_is_sent(sessions, execute):
    execute(two_way_run(send_delay=1, send_delay_unit="hours"))
    assert sessions == [] and not SmsMessage.objects.exists()
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    send_due_invitations()
    send_due_invitations()
    assert len(sessions) == 1
    assert SmsMessage.objects.get().body == FIRST_MESSAGE


def test_a_second_two_way_invitation_to_the_number_is_sent_to_replace_the_first(sessions, execute):
    execute(two_way_run())
    execute(two_way_run())
    assert len(sessions) == 2
    assert list(Invitation.objects.values_list("status", flat=True)) == [Status.SMS_SENT] * 2


def test_a_session_that_cannot_start_when_due_fails_that_invitation_only(sessions, execute, monkeypatch):
    execute(two_way_run(send_delay=1, send_delay_unit="hours"))
    execute(two_way_run(send_delay=1, send_delay_unit="hours"))
    first, second = Invitation.objects.order_by("pk")
    start = delivery.sms_session_start

    def start_or_fail(*, invitation):
        if invitation.pk == first.pk:
            raise ValueError("the survey has no question that can be asked by text")
        return start(invitation=invitation)

    monkeypatch.setattr(delivery, "sms_session_start", start_or_fail)
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    send_due_invitations()
    send_due_invitations()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.sent_at) == (Status.SMS_FAILED, None)
    assert first.status_detail == (
        "Not sent: the two-way survey could not start (the survey has no question that can be asked by text)."
    )
    assert second.status == Status.SMS_SENT
    assert list(SmsMessage.objects.values_list("invitation_id", flat=True)) == [second.pk]


# --- with the product's own sessions (services/sms_sessions.py) ------------------------------


def test_the_real_session_opens_and_its_first_question_is_texted(execute):
    from distributions.models import SmsSession, Survey
    from tests.factories import make_question

    run = two_way_run()
    survey = Survey.objects.get(pk=run.workflow.tasks.get().config["survey"])
    make_question(survey=survey, kind="rating", text="How likely are you to recommend us?")
    execute(run)
    invitation = Invitation.objects.get()
    session = SmsSession.objects.get(invitation=invitation)
    assert session.state == SmsSession.State.OPEN
    message = SmsMessage.objects.get()
    assert "How likely are you to recommend us?" in message.body
    assert invitation.status == Status.SMS_SENT


def test_a_survey_with_nothing_to_ask_by_text_fails_the_task_and_writes_nothing(execute):
    run = execute(two_way_run())
    assert run.task_runs.get().error.startswith("The two-way SMS survey could not start: ")
    assert not Invitation.objects.exists() and not SmsMessage.objects.exists()


def test_a_two_way_text_waiting_for_its_retry_is_not_expired_and_its_session_starts_when_it_goes(execute, monkeypatch):
    from distributions.channels.email import Outcome
    from distributions.channels.sms import SmsHandOff
    from distributions.channels.sms_outbox import OutboxSmsBackend
    from distributions.models import SmsSession, Survey
    from distributions.services.sms_sessions import sms_sessions_expire
    from tests.factories import make_question

    run = two_way_run()
    survey = Survey.objects.get(pk=run.workflow.tasks.get().config["survey"])
    Survey.objects.filter(pk=survey.pk).update(sms_session_expiry_hours=1)
    make_question(survey=survey, kind="rating", text="How likely are you to recommend us?")
    unavailable = SmsHandOff(Outcome.TEMPORARY, detail="Twilio answered 503")
    with monkeypatch.context() as patched:
        patched.setattr(OutboxSmsBackend, "send", lambda self, **kwargs: unavailable)
        execute(run)
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at) == (Status.PENDING, None)  # deferred, to be retried

    # Two hours of retries later, past the survey's expiry: the text never went, nothing expired.
    assert sms_sessions_expire(now=timezone.now() + timedelta(hours=2)) == 0
    invitation.refresh_from_db()
    assert invitation.status == Status.PENDING

    # The retry sends it; the session's hour starts then.
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    send_due_invitations()
    invitation.refresh_from_db()
    assert invitation.status == Status.SMS_SENT
    session = SmsSession.objects.get()
    assert session.state == SmsSession.State.OPEN
    assert session.expires_at > timezone.now() + timedelta(minutes=59)


def test_a_two_way_text_skipped_at_its_retry_ends_its_session_instead_of_expiring_it(execute, monkeypatch):
    from directory.models import Contact
    from distributions.channels.email import Outcome
    from distributions.channels.sms import SmsHandOff
    from distributions.channels.sms_outbox import OutboxSmsBackend
    from distributions.models import SmsSession, Survey
    from distributions.services.sms_sessions import sms_sessions_expire
    from tests.factories import make_question

    run = two_way_run()
    survey = Survey.objects.get(pk=run.workflow.tasks.get().config["survey"])
    make_question(survey=survey, kind="rating", text="How likely are you to recommend us?")
    unavailable = SmsHandOff(Outcome.TEMPORARY, detail="Twilio answered 503")
    with monkeypatch.context() as patched:
        patched.setattr(OutboxSmsBackend, "send", lambda self, **kwargs: unavailable)
        execute(run)
    Contact.objects.update(unsubscribed=True)  # opted out of everything before the retry
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    send_due_invitations()
    invitation = Invitation.objects.get()
    assert invitation.status == Status.OPTED_OUT
    assert list(SmsMessage.objects.values_list("status", flat=True)) == [SmsMessage.Status.FAILED]  # the put-off try
    assert SmsSession.objects.get().state == SmsSession.State.CLOSED

    sms_sessions_expire(now=timezone.now() + timedelta(days=2))
    invitation.refresh_from_db()
    assert invitation.status == Status.OPTED_OUT  # not Session Expired: nothing was sent


def test_a_put_off_two_way_text_whose_session_a_newer_survey_closed_is_not_sent_any_more(execute, monkeypatch):
    from distributions.channels.email import Outcome
    from distributions.channels.sms import SmsHandOff
    from distributions.channels.sms_outbox import OutboxSmsBackend
    from distributions.models import Survey
    from tests.factories import make_question

    def rated_run():
        run = two_way_run()
        survey = Survey.objects.get(pk=run.workflow.tasks.get().config["survey"])
        make_question(survey=survey, kind="rating", text=f"How likely are you to recommend us ({survey.pk})?")
        return run

    unavailable = SmsHandOff(Outcome.TEMPORARY, detail="Twilio answered 429")
    with monkeypatch.context() as patched:
        patched.setattr(OutboxSmsBackend, "send", lambda self, **kwargs: unavailable)
        execute(rated_run())
    execute(rated_run())  # a newer survey to the number: it replaces the first one's session
    older, newer = Invitation.objects.order_by("pk")
    Invitation.objects.filter(pk=older.pk).update(send_after=timezone.now() - timedelta(seconds=1))
    send_due_invitations()
    older.refresh_from_db()
    newer.refresh_from_db()
    # Sent now, its question would come after the newer survey's, and its reply be taken as the
    # answer to the newer survey's question (the number's open session).
    assert older.status == Status.SMS_FAILED
    assert "session" in older.status_detail
    assert newer.status == Status.SMS_SENT
    sent = SmsMessage.objects.exclude(status=SmsMessage.Status.FAILED)
    assert list(sent.values_list("invitation_id", flat=True)) == [newer.pk]
