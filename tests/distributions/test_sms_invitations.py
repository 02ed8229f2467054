"""The distribute-survey task's SMS invitation method: the phone it needs, the text it sends
through Twilio's API (faked at the HTTP edge), exactly once, and the rules it shares with email."""

import hashlib
import urllib.parse
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import responses
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from directory.models import Contact, Membership
from distributions.channels.twilio import TwilioSmsBackend
from distributions.jobs import send_due_invitations
from distributions.models import Distribution, FrequencyRule, Invitation, SmsMessage
from distributions.selectors import distribution_with_counts
from distributions.services import delivery
from distributions.services.delivery import SEND_LEASE
from distributions.services.invitation_channels import SmsSendEvent
from distributions.services.sms import sms_status_record
from distributions.services.sms_inbound import InboundText, sms_inbound_receive
from tests.distributions.sms import (
    MESSAGES_URL,
    api_error,
    api_message,
    message_sid,
    status_form,
    twilio_rest_faked,
)
from tests.factories import (
    case_fields,
    make_distribute_task,
    make_run,
    make_survey,
    make_user,
    make_workflow,
    outbound_message,
    salesforce_id,
)
from tests.threads import run_together
from workflows.models import Run
from workflows.services.execution import run_execute

pytestmark = pytest.mark.django_db

Status = Invitation.Status
PHONE = "+14155550100"
SMS_CONFIG = {
    "method": "sms",
    "phone": "${event://ContactPhone}",
    "sms_text": "Hi ${m://FirstName}, how did we do with case ${event://CaseNumber}? ${l://SurveyURL}",
}


@pytest.fixture
def twilio(settings):
    with twilio_rest_faked(settings, every_request_fired=False) as api:
        yield api


def accept(api, *, sid=None):
    """Twilio creates each text it is asked for: `sid` for the first, a new one for each other."""
    sids = iter([sid] if sid else [])

    def created(request):
        return 201, {}, api_message(sid=next(sids, None) or message_sid(), status="queued")

    api.add_callback(responses.POST, MESSAGES_URL, callback=created)


def sent_bodies(api) -> list[dict]:
    return [dict(urllib.parse.parse_qsl(call.request.body)) for call in api.calls]


@pytest.fixture
def survey():
    return make_survey(name="Customer satisfaction")


def sms_workflow(survey, **config):
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, **{**SMS_CONFIG, **config})
    return workflow


def run_for(workflow, **fields):
    return make_run(workflow=workflow, fields=case_fields(**{"ContactPhone": "(415) 555-0100", **fields}))


def output(run):
    return run.task_runs.get().output


def test_a_status_callback_that_comes_before_twilios_api_answers_is_kept(twilio, execute, survey):
    """Twilio may call back before its API call returns: the callback names our row (?sms=<id>)."""
    sid = "SM" + "e" * 32

    def created_after_an_early_failure(request):
        callback = dict(urllib.parse.parse_qsl(request.body))["StatusCallback"]
        our_id = urllib.parse.parse_qs(urllib.parse.urlsplit(callback).query)["sms"][0]
        form = status_form(sid=sid, status="undelivered", error_code="30003")
        assert sms_status_record(params=form, message_id=our_id)
        return 201, {}, api_message(sid=sid, status="queued")

    twilio.add_callback(responses.POST, MESSAGES_URL, callback=created_after_an_early_failure)
    execute(run_for(sms_workflow(survey)))
    message = SmsMessage.objects.get()
    assert (message.message_sid, message.status, message.error_code) == (sid, SmsMessage.Status.UNDELIVERED, "30003")
    assert Invitation.objects.get().status == Status.SMS_FAILED


def test_a_piped_value_s_bidirectional_controls_stay_inside_it_in_the_text(twilio, execute, survey):
    # An override left open would reverse the rest of the text, the link included.
    rlo, pdf = "\u202e", "\u202c"
    accept(twilio)
    execute(run_for(sms_workflow(survey), Customer_First_Name__c=f"Ada {rlo}x"))

    [sent] = sent_bodies(twilio)
    assert sent["Body"].startswith(f"Hi Ada {rlo}x{pdf}, how did we do with case 00001026? https://")


def test_it_texts_the_piped_text_with_a_short_individual_link(twilio, execute, survey):
    accept(twilio, sid="SM" + "a" * 32)
    run = execute(run_for(sms_workflow(survey)))
    invitation = Invitation.objects.select_related("distribution").get()
    [sent] = sent_bodies(twilio)
    short_link = f"https://surveys.example.com/r/{invitation.short_code}"
    assert sent["To"] == PHONE
    assert sent["Body"] == f"Hi Ada, how did we do with case 00001026? {short_link}"
    message = SmsMessage.objects.get()
    assert sent["StatusCallback"] == f"https://surveys.example.com/webhooks/twilio/status/?sms={message.pk}"
    assert (invitation.distribution.channel, invitation.address) == (Distribution.Channel.SMS, PHONE)
    assert invitation.status == Status.SMS_SENT
    assert mail.outbox == []
    assert run.status == Run.Status.SUCCEEDED
    assert output(run) == {
        "ContactId": str(invitation.contact_id),
        "DistributionId": str(invitation.distribution_id),
        "InvitationId": str(invitation.pk),
        "SurveyLink": short_link,
        "Outcome": "Sending now",
        "Channel": "SMS",
        "Phone": PHONE,
    }
    assert (message.invitation_id, message.message_sid) == (invitation.pk, "SM" + "a" * 32)


def test_line_breaks_typed_in_the_admin_go_as_one_character_each(twilio, execute, survey):
    # A browser submits a textarea's line breaks as CR LF; the counter under it counts one each.
    accept(twilio)
    text = "Hi ${m://FirstName},\r\nhow did we do?\r\n${l://SurveyURL}"
    execute(run_for(sms_workflow(survey, sms_text=text)))
    invitation = Invitation.objects.get()
    [sent] = sent_bodies(twilio)
    assert sent["Body"] == f"Hi Ada,\nhow did we do?\nhttps://surveys.example.com/r/{invitation.short_code}"
    assert SmsMessage.objects.get().body == sent["Body"]


def test_the_short_link_opens_the_invitations_survey_page(twilio, execute, survey, client):
    accept(twilio)
    execute(run_for(sms_workflow(survey)))
    invitation = Invitation.objects.get()
    response = client.get(f"/r/{invitation.short_code}")
    assert response.status_code == 302
    assert response["Location"] == f"https://surveys.example.com/s/{invitation.token}/"
    assert client.get(response["Location"]).status_code == 200
    assert client.get("/r/nosuchcode0").status_code == 404


def test_the_short_link_is_looked_up_by_its_codes_digest(twilio, execute, survey, client):
    """As survey link tokens are: the database compares the digest, so the lookup's timing says
    nothing about the code (which opens the survey as the token does)."""
    accept(twilio)
    execute(run_for(sms_workflow(survey)))
    invitation = Invitation.objects.get()

    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/r/{invitation.short_code}")

    assert response["Location"] == f"https://surveys.example.com/s/{invitation.token}/"
    assert invitation.short_code_digest == hashlib.sha256(invitation.short_code.encode()).hexdigest()
    sql = "\n".join(query["sql"] for query in queries.captured_queries)
    assert invitation.short_code_digest in sql
    assert invitation.short_code not in sql


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("", "Phone (from ${event://ContactPhone}) is empty"),
        ("not a number", "Phone 'not a number' (from ${event://ContactPhone}) is not a number a text can go to"),
        ("415 555 0100 ext. 12", "Phone '415 555 0100 ext. 12' (from ${event://ContactPhone})"),
    ],
)
def test_a_missing_or_unusable_phone_is_a_task_error_naming_the_field(twilio, execute, survey, phone, expected):
    run = execute(run_for(sms_workflow(survey), ContactPhone=phone))
    task_run = run.task_runs.get()
    assert expected in task_run.error
    assert run.status == Run.Status.FAILED
    assert (Contact.objects.count(), Invitation.objects.count(), len(twilio.calls)) == (0, 0, 0)


def test_a_run_executed_again_texts_once(twilio, execute, survey):
    accept(twilio)
    run = execute(run_for(sms_workflow(survey)))
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, claimed_at=None, next_attempt_at=timezone.now())
    execute(run)
    send_due_invitations()
    assert len(twilio.calls) == 1
    assert Invitation.objects.count() == 1


def test_a_worker_that_died_after_the_claim_never_texts_twice(twilio, execute, survey):
    accept(twilio)
    execute(run_for(sms_workflow(survey)), worker_dies_after_commit=True)
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at is not None) == (Status.PENDING, True)
    send_due_invitations()  # the claim is not due again: its worker may still be sending
    Invitation.objects.update(sent_at=timezone.now() - timedelta(minutes=11))
    send_due_invitations()  # the reaper: in doubt, so never sent again
    invitation.refresh_from_db()
    assert len(twilio.calls) == 0
    assert invitation.status == Status.SMS_FAILED
    assert "Interrupted: the worker stopped after claiming this text" in invitation.status_detail
    assert invitation.events.filter(kind=SmsSendEvent.INTERRUPTED).count() == 1


def test_a_delayed_text_is_sent_by_the_schedule_once(twilio, execute, survey):
    accept(twilio)
    run = execute(run_for(sms_workflow(survey, send_delay=2, send_delay_unit="hours")))
    assert output(run)["Outcome"].startswith("Scheduled for ")
    send_due_invitations()
    assert len(twilio.calls) == 0
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    send_due_invitations()
    send_due_invitations()
    assert len(twilio.calls) == 1
    assert Invitation.objects.get().status == Status.SMS_SENT


def test_a_refused_number_is_sms_failed_with_twilios_code_and_meaning(twilio, execute, survey):
    twilio.post(
        MESSAGES_URL,
        body=api_error(code=21610, message="Attempt to send to unsubscribed recipient", status=400),
        status=400,
    )
    execute(run_for(sms_workflow(survey)))
    invitation = Invitation.objects.get()
    assert invitation.status == Status.SMS_FAILED
    assert invitation.status_detail.startswith("Twilio error 21610: ")
    assert invitation.events.get(kind=SmsSendEvent.FAILED).data["error_code"] == "21610"


def test_a_number_twilio_says_opted_out_is_opted_out_and_not_texted_again(twilio, execute, survey):
    # Its STOP reached Twilio but not us (another of the account's numbers, the webhook down).
    twilio.post(
        MESSAGES_URL,
        body=api_error(code=21610, message="Attempt to send to unsubscribed recipient", status=400),
        status=400,
    )
    execute(run_for(sms_workflow(survey), ContactEmail="grace@example.com"))
    assert Contact.objects.get().sms_opted_out
    assert not Contact.objects.get().unsubscribed  # email is not affected
    twilio.calls.reset()
    execute(run_for(sms_workflow(survey, sms_text="Another text ${l://SurveyURL}"), ContactEmail="grace@example.com"))
    assert Invitation.objects.latest("id").status == Status.OPTED_OUT
    assert len(twilio.calls) == 0


def test_twilio_busy_retries_later_and_sends_once(twilio, execute, survey):
    twilio.post(MESSAGES_URL, body=api_error(code=20429, message="Too Many Requests", status=429), status=429)
    execute(run_for(sms_workflow(survey)))
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at) == (Status.PENDING, None)
    assert invitation.events.filter(kind=SmsSendEvent.DEFERRED).count() == 1
    twilio.replace("POST", MESSAGES_URL, body=api_message(sid="SM" + "b" * 32), status=201)
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    send_due_invitations()
    send_due_invitations()
    assert len(twilio.calls) == 2
    assert Invitation.objects.get().status == Status.SMS_SENT


def test_status_callbacks_move_it_to_delivered_or_failed(twilio, execute, survey):
    accept(twilio, sid="SM" + "c" * 32)
    execute(run_for(sms_workflow(survey)))
    sms_status_record(params=status_form(sid="SM" + "c" * 32, status="undelivered", error_code="30003"))
    sms_status_record(params=status_form(sid="SM" + "c" * 32, status="delivered"))  # late, out of order
    invitation = Invitation.objects.get()
    assert invitation.status == Status.SMS_FAILED
    assert invitation.status_detail.startswith("Twilio error 30003: ")


def test_a_number_that_replied_stop_is_opted_out_and_not_texted(twilio, execute, survey):
    execute(run_for(sms_workflow(survey), ContactEmail="grace@example.com"))
    Contact.objects.update(sms_opted_out=True)
    Invitation.objects.all().delete()
    Distribution.objects.all().delete()
    twilio.calls.reset()
    run = execute(run_for(sms_workflow(survey), ContactEmail="grace@example.com"))
    invitation = Invitation.objects.get()
    assert invitation.status == Status.OPTED_OUT
    assert "has opted out of texts (replied STOP)" in output(run)["Outcome"]
    assert len(twilio.calls) == 0
    counts = distribution_with_counts(distribution_id=invitation.distribution_id)
    assert (counts.sent, counts.skipped) == (0, 1)


def text_from(phone: str, body: str) -> None:
    sms_inbound_receive(text=InboundText(message_sid=message_sid(), from_number=phone, to_number="", body=body))


def test_stop_in_answer_to_an_sms_invitation_makes_it_opted_out(twilio, execute, survey):
    accept(twilio)
    execute(run_for(sms_workflow(survey)))
    text_from(PHONE, "Stop")
    invitation = Invitation.objects.get()
    assert invitation.status == Status.OPTED_OUT
    assert invitation.events.filter(kind="opted_out").count() == 1
    assert SmsMessage.objects.get(direction="inbound").invitation == invitation
    assert Contact.objects.get().sms_opted_out
    # The text went out: the Distributions page and the API count it as sent, not skipped.
    counts = distribution_with_counts(distribution_id=invitation.distribution_id)
    assert (counts.sent, counts.skipped) == (1, 0)


def test_stop_after_an_sms_invitation_that_failed_leaves_it_failed(twilio, execute, survey):
    twilio.post(MESSAGES_URL, body=api_error(code=21211, message="Invalid 'To' Phone Number", status=400), status=400)
    execute(run_for(sms_workflow(survey)))
    text_from(PHONE, "STOP")
    assert Invitation.objects.get().status == Status.SMS_FAILED
    assert Contact.objects.get().sms_opted_out


def test_a_number_that_replied_stop_before_its_contact_existed_is_not_texted(twilio, execute, survey):
    # STOP opts the number out, not only the contacts that had it then (none here).
    text_from("+14155550100", "STOP")
    run = execute(run_for(sms_workflow(survey), ContactEmail="grace@example.com"))
    invitation = Invitation.objects.get()
    assert invitation.status == Status.OPTED_OUT
    assert "+14155550100 has opted out of texts (replied STOP)" in output(run)["Outcome"]
    assert len(twilio.calls) == 0
    # START from the number opts it back in.
    text_from("+14155550100", "START")
    accept(twilio)
    execute(run_for(sms_workflow(survey, sms_text="Again ${l://SurveyURL}"), ContactEmail="grace@example.com"))
    assert len(twilio.calls) == 1


def test_an_email_opt_out_of_a_list_stops_texts_too(twilio, execute, survey):
    accept(twilio)
    execute(run_for(sms_workflow(survey)))
    Membership.objects.update(unsubscribed=True)
    run = execute(run_for(sms_workflow(survey, sms_text="Another text ${l://SurveyURL}")))
    assert output(run)["Outcome"].startswith("Opted Out: ")
    assert len(twilio.calls) == 1


def test_the_same_text_to_the_same_number_within_12_hours_is_sms_skipped(twilio, execute, survey):
    accept(twilio)
    execute(run_for(sms_workflow(survey)))
    run = execute(run_for(sms_workflow(survey)))
    second = Invitation.objects.order_by("pk").last()
    assert second.status == Status.SMS_SKIPPED
    assert output(run)["Outcome"].startswith("SMS Skipped: Duplicate of invitation ")
    assert "the same text goes to +14155550100 at most once in 12 hours" in second.status_detail
    assert len(twilio.calls) == 1


def test_another_text_to_the_same_number_is_sent(twilio, execute, survey):
    accept(twilio)
    execute(run_for(sms_workflow(survey)))
    execute(run_for(sms_workflow(survey, sms_text="A second question: ${l://SurveyURL}")))
    assert len(twilio.calls) == 2


def test_a_frequency_rule_skips_the_text_and_says_which(twilio, execute, survey):
    accept(twilio)
    execute(run_for(sms_workflow(survey)))
    FrequencyRule.objects.create(directory=Contact.objects.get().directory, max_messages=1, period_days=7)
    run = execute(run_for(sms_workflow(survey, sms_text="Other text ${l://SurveyURL}")))
    assert output(run)["Outcome"].startswith(
        'SMS Skipped: Skipped by the frequency rule "at most 1 messages per 7 days"'
    )
    assert len(twilio.calls) == 1


def test_a_text_due_at_night_waits_for_the_morning_in_the_recipients_zone(twilio, execute, survey, settings):
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    accept(twilio)
    # 05:30 UTC is 21:30 in Los Angeles (PST, UTC-8): quiet until 08:00 there, 16:00 UTC.
    night = datetime(2026, 1, 15, 5, 30, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: night)
        run = execute(run_for(sms_workflow(survey)))
    invitation = Invitation.objects.get()
    assert invitation.send_after == datetime(2026, 1, 15, 16, 0, tzinfo=UTC)
    assert output(run)["Outcome"].startswith(
        "Scheduled for 2026-01-15 16:00 UTC. Quiet hours (21:00-08:00 in America/Los_Angeles"
    )
    assert invitation.events.filter(kind=SmsSendEvent.QUIET_HOURS).count() == 1
    assert len(twilio.calls) == 0


def test_quiet_hours_do_not_hold_a_text_by_day_there(twilio, execute, survey, settings):
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    accept(twilio)
    noon_in_paris = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: noon_in_paris)
        execute(run_for(sms_workflow(survey), ContactPhone="+33 6 12 34 56 78"))
    assert Invitation.objects.get().status == Status.SMS_SENT
    assert sent_bodies(twilio)[0]["To"] == "+33612345678"


def test_an_email_task_without_a_method_still_emails(execute, survey):
    from tests.factories import make_sender_domain

    make_sender_domain("example.com")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey)
    execute(make_run(workflow=workflow))
    assert len(mail.outbox) == 1
    assert Invitation.objects.get().distribution.channel == Distribution.Channel.EMAIL


def test_a_redelivered_salesforce_message_texts_once(twilio, execute, survey, client):
    accept(twilio)
    workflow = sms_workflow(survey)
    message = outbound_message(case_fields(ContactPhone="(415) 555-0100"), notification_ids=[salesforce_id("04l")])
    for _ in range(2):  # Salesforce sends it again when it did not hear the acknowledgement
        assert client.post(workflow.event_path, message, content_type="text/xml").status_code == 200
    for run in Run.objects.all():
        execute(run)
    assert Run.objects.count() == 1
    assert len(twilio.calls) == 1


def test_a_worker_that_died_after_twilio_accepted_is_recorded_sent_and_never_resent(twilio, execute, survey):
    accept(twilio, sid="SM" + "d" * 32)
    with mock.patch.object(delivery, "_record", side_effect=RuntimeError("worker killed")):
        execute(run_for(sms_workflow(survey)))
    assert len(twilio.calls) == 1
    Invitation.objects.update(sent_at=timezone.now() - SEND_LEASE - timedelta(seconds=1))
    send_due_invitations()
    assert len(twilio.calls) == 1
    invitation = Invitation.objects.get()
    assert invitation.status == Status.SMS_SENT
    assert invitation.events.get(kind=SmsSendEvent.SENT).description.startswith(
        "The worker stopped after the SMS provider accepted this text (SM" + "d" * 32
    )


def test_a_worker_that_died_while_twilio_was_answering_is_reported_and_never_resent(twilio, execute, survey):
    accept(twilio)
    with mock.patch.object(TwilioSmsBackend, "send", side_effect=RuntimeError("worker killed")):
        execute(run_for(sms_workflow(survey)))
    Invitation.objects.update(sent_at=timezone.now() - SEND_LEASE - timedelta(seconds=1))
    send_due_invitations()
    invitation = Invitation.objects.get()
    assert invitation.status == Status.SMS_FAILED
    assert "may have been sent" in invitation.status_detail
    assert len(twilio.calls) == 0


def test_a_delayed_text_goes_to_the_number_its_contact_has_when_it_is_sent(twilio, execute, survey):
    accept(twilio)
    execute(run_for(sms_workflow(survey, send_delay=1, send_delay_unit="hours")))
    Contact.objects.update(phone="+12125550100")
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    send_due_invitations()
    assert sent_bodies(twilio)[0]["To"] == "+12125550100"
    invitation = Invitation.objects.get()
    assert invitation.address == "+12125550100"
    assert invitation.events.get(kind=SmsSendEvent.READDRESSED).description == (
        "The contact's phone number changed from +14155550100 to +12125550100 before sending: sent to +12125550100."
    )


def test_a_delayed_text_to_a_contact_who_replied_stop_meanwhile_is_not_sent(twilio, execute, survey):
    execute(run_for(sms_workflow(survey, send_delay=1, send_delay_unit="hours")))
    Contact.objects.update(sms_opted_out=True)
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    send_due_invitations()
    assert len(twilio.calls) == 0
    assert Invitation.objects.get().status == Status.OPTED_OUT


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_due_text_send_it_once(postgres_only, twilio, survey):
    accept(twilio)
    run_execute(run_id=run_for(sms_workflow(survey, send_delay=1, send_delay_unit="minutes")).pk)
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    run_together(4, lambda _: send_due_invitations())
    assert len(twilio.calls) == 1
    assert Invitation.objects.get().status == Status.SMS_SENT


def test_a_task_without_a_phone_sends_its_failure_notice_naming_the_field(twilio, execute):
    owner = make_user(email="owner@example.com")
    workflow = sms_workflow(make_survey(name="Customer satisfaction", owner=owner))
    execute(run_for(workflow, ContactPhone="n/a"))
    [notice] = mail.outbox
    assert notice.to == ["owner@example.com"]
    assert "Phone 'n/a' (from ${event://ContactPhone}) is not a number a text can go to" in notice.body
    assert len(twilio.calls) == 0


def test_a_test_event_with_a_test_address_texts_no_one(twilio, execute, survey):
    from workflows.services.test_events import test_event_create

    workflow = sms_workflow(survey)
    fields = case_fields(ContactPhone="(415) 555-0100")
    test_event = test_event_create(
        workflow=workflow, fields=fields, test_recipient="tester@example.org", user=workflow.owner
    )
    run = execute(make_run(workflow=workflow, fields=fields, test_event=test_event))
    assert "Not texted: this test event sends to the test address tester@example.org" in run.task_runs.get().error
    assert (len(twilio.calls), Invitation.objects.count()) == (0, 0)


def test_a_delayed_text_that_falls_due_at_night_waits_for_the_morning(twilio, execute, survey, settings):
    accept(twilio)
    execute(run_for(sms_workflow(survey, send_delay=1, send_delay_unit="hours")))
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    Invitation.objects.update(send_after=datetime(2026, 1, 15, 5, 0, tzinfo=UTC))
    night = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)  # 22:00 in Los Angeles
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: night)
        send_due_invitations()
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.send_after) == (Status.PENDING, datetime(2026, 1, 15, 16, 0, tzinfo=UTC))
    assert len(twilio.calls) == 0
    morning = datetime(2026, 1, 15, 16, 0, 30, tzinfo=UTC)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: morning)
        send_due_invitations()
    assert Invitation.objects.get().status == Status.SMS_SENT
    assert len(twilio.calls) == 1


def test_an_sms_task_is_not_warned_about_sender_domains(survey):
    from distributions.tasks import config_warnings

    workflow = sms_workflow(survey, from_email="someone@unverified.example")
    assert config_warnings(workflow.tasks.get().config, workflow) == []


def test_an_sms_task_travels_in_a_workflow_export_with_its_method_and_text(survey):
    import json

    from workflows.services.transfer import workflows_export, workflows_import

    sms_workflow(survey)
    exported = workflows_export()
    [task] = exported["workflows"][0]["tasks"]
    assert (task["config"]["method"], task["config"]["sms_text"], task["config"]["survey"]) == (
        "sms",
        SMS_CONFIG["sms_text"],
        "Customer satisfaction",
    )
    from workflows.models import Workflow

    Workflow.objects.all().delete()
    [(workflow, _created)] = workflows_import(document=json.loads(json.dumps(exported)))
    config = workflow.tasks.get().config
    assert (config["method"], config["sms_text"], config["phone"], config["survey"]) == (
        "sms",
        SMS_CONFIG["sms_text"],
        SMS_CONFIG["phone"],
        survey.pk,
    )


def test_a_text_needs_no_email(twilio, execute, survey):
    accept(twilio)
    run = execute(run_for(sms_workflow(survey), ContactEmail=""))
    assert run.status == Run.Status.SUCCEEDED, run.task_runs.get().error
    contact = Contact.objects.get()
    assert (contact.email, contact.phone) == ("", PHONE)
    assert Invitation.objects.get().status == Status.SMS_SENT


def test_an_email_given_to_an_sms_task_is_still_checked(twilio, execute, survey):
    run = execute(run_for(sms_workflow(survey), ContactEmail="not-an-email"))
    assert (
        "Email 'not-an-email' (from ${event://ContactEmail}) is not a valid email address" in run.task_runs.get().error
    )
    assert len(twilio.calls) == 0


def test_a_text_put_off_for_quiet_hours_keeps_its_link_working_for_the_days_set(twilio, execute, survey, settings):
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    accept(twilio)
    night = datetime(2026, 1, 15, 5, 30, tzinfo=UTC)  # 21:30 in Los Angeles: quiet until 16:00 UTC
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: night)
        execute(run_for(sms_workflow(survey, link_expiration_days=1)))

    invitation = Invitation.objects.get()
    assert invitation.send_after == datetime(2026, 1, 15, 16, 0, tzinfo=UTC)
    assert invitation.expires_at == datetime(2026, 1, 16, 16, 0, tzinfo=UTC)


def test_a_delayed_text_put_off_for_quiet_hours_when_due_keeps_its_link_working_for_the_days_set(
    twilio, execute, survey, settings
):
    accept(twilio)
    execute(run_for(sms_workflow(survey, send_delay=1, send_delay_unit="hours", link_expiration_days=1)))
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    due = datetime(2026, 1, 15, 5, 0, tzinfo=UTC)
    Invitation.objects.update(send_after=due, expires_at=due + timedelta(days=1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: datetime(2026, 1, 15, 6, 0, tzinfo=UTC))
        send_due_invitations()

    invitation = Invitation.objects.get()
    assert invitation.send_after == datetime(2026, 1, 15, 16, 0, tzinfo=UTC)
    assert invitation.expires_at == datetime(2026, 1, 16, 16, 0, tzinfo=UTC)
