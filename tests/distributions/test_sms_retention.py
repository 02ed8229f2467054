"""Texts follow the retention settings and contact deletion, like the rest of a person's data:
SMS messages, ended two-way SMS sessions and emptied conversations go after RETENTION_DAYS; a
deleted contact's texts go with it, also those sent to a number it no longer has."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from distributions.models import Invitation, Response, SmsConversation, SmsMessage, SmsSession
from distributions.services.recipient_rules import _numbers_opted_out
from distributions.services.sms import sms_message_send
from distributions.services.sms_inbound import InboundText, sms_inbound_receive
from distributions.services.sms_retention import texts_purge
from tests.distributions.sms_surveys import PHONE, make_sms_contact, make_sms_survey, reply, send_two_way
from tests.factories import make_distribution

pytestmark = pytest.mark.django_db

OTHER = "+14155550100"


def age(queryset, days, *fields):
    then = timezone.now() - timedelta(days=days)
    queryset.update(**{field: then for field in fields})


def old_texts_from(number, *bodies):
    """`number` texted `bodies` in turn, 31 days ago (past the 30-day retention)."""
    for position, body in enumerate(bodies, start=1):
        sms_inbound_receive(text=InboundText(message_sid=f"SM{position}", from_number=number, to_number="", body=body))
    age(SmsMessage.objects.all(), 31, "created_at")
    age(SmsConversation.objects.all(), 31, "created_at", "last_message_at")


def finished_survey_by_text():
    """A two-way SMS survey answered to the end: its session ended, its response finished."""
    invitation, _ = send_two_way(make_sms_survey())
    for body in ("2", "9", "Nothing"):
        reply(body)
    invitation.refresh_from_db()
    assert invitation.get_status_display() == "Survey Finished"
    return invitation


def test_old_texts_an_ended_session_and_the_emptied_conversation_go_the_invitation_stays():
    invitation = finished_survey_by_text()
    age(SmsMessage.objects.all(), 31, "created_at")
    age(SmsSession.objects.all(), 31, "created_at", "ended_at")
    age(SmsConversation.objects.all(), 31, "created_at", "last_message_at")

    counts = texts_purge()

    assert counts == {"distributions.SmsMessage": 7, "distributions.SmsSession": 1, "distributions.SmsConversation": 1}
    assert not SmsMessage.objects.exists() and not SmsConversation.objects.exists()
    invitation.refresh_from_db()
    assert invitation.get_status_display() == "Survey Finished"
    assert Response.objects.get(invitation=invitation).finished_at is not None


def test_recent_texts_stay():
    finished_survey_by_text()
    age(SmsMessage.objects.all(), 29, "created_at")
    age(SmsSession.objects.all(), 29, "created_at", "ended_at")
    age(SmsConversation.objects.all(), 29, "created_at", "last_message_at")

    assert texts_purge() == {}
    assert (SmsMessage.objects.count(), SmsSession.objects.count(), SmsConversation.objects.count()) == (7, 1, 1)


def test_it_follows_the_retention_setting(settings):
    finished_survey_by_text()
    age(SmsMessage.objects.all(), 10, "created_at")
    settings.RETENTION_DAYS = 7
    assert texts_purge()["distributions.SmsMessage"] == 7


def test_an_old_conversation_with_a_recent_text_keeps_it():
    make_sms_contact()
    sms_message_send(to=PHONE, body="Old")
    age(SmsMessage.objects.all(), 40, "created_at")
    age(SmsConversation.objects.all(), 40, "created_at")
    sms_message_send(to=PHONE, body="New")

    assert texts_purge() == {"distributions.SmsMessage": 1}
    assert list(SmsMessage.objects.values_list("body", flat=True)) == ["New"]
    assert SmsConversation.objects.count() == 1


def test_a_conversation_with_an_open_session_keeps_its_texts_and_the_session():
    invitation, _ = send_two_way(make_sms_survey())
    age(SmsMessage.objects.all(), 40, "created_at")
    age(SmsSession.objects.all(), 40, "created_at")
    age(SmsConversation.objects.all(), 40, "created_at")

    assert texts_purge() == {}
    assert SmsSession.objects.get().state == SmsSession.State.OPEN
    assert reply("2")  # the session goes on
    assert SmsMessage.objects.filter(conversation__phone=invitation.address).count() == 3


def test_the_purge_is_scheduled_daily():
    schedule = Schedule.objects.get(name="Purge old texts")
    assert (schedule.func, schedule.schedule_type) == ("distributions.jobs.purge_texts", Schedule.DAILY)


def test_a_deleted_contacts_texts_to_a_number_it_no_longer_has_go_too():
    invitation = finished_survey_by_text()
    contact = invitation.contact
    contact.phone = OTHER  # changed after the survey
    contact.save()

    contact.delete()

    assert not SmsConversation.objects.filter(phone=PHONE).exists()
    assert not SmsMessage.objects.exists() and not SmsSession.objects.exists()
    assert Invitation.objects.get(pk=invitation.pk).address == ""


def test_a_deleted_contacts_texts_lose_their_words_when_someone_else_now_has_the_number():
    invitation = finished_survey_by_text()
    make_sms_contact(first_name="Grace", email="grace@example.com")  # the number is now Grace's too
    sms_message_send(to=PHONE, body="Hello Grace")

    invitation.contact.delete()

    assert list(SmsMessage.objects.exclude(body="").values_list("body", flat=True)) == ["Hello Grace"]
    assert SmsMessage.objects.filter(body="").count() == 7
    assert SmsConversation.objects.filter(phone=PHONE).exists()


def test_a_deleted_contacts_number_that_replied_stop_stays_opted_out_and_keeps_nothing_else():
    invitation, _ = send_two_way(make_sms_survey())
    reply("2")
    reply("STOP")

    invitation.contact.delete()

    [stop] = SmsMessage.objects.all()
    assert (stop.conversation.phone, stop.keyword, stop.body, stop.invitation_id) == (
        PHONE,
        SmsMessage.Keyword.OPT_OUT,
        "",
        None,
    )
    assert not SmsSession.objects.exists()
    later = Invitation(distribution=make_distribution(channel="sms"), address=PHONE)
    assert _numbers_opted_out([later]) == {PHONE}


def test_a_deleted_contacts_number_that_replied_stop_then_start_keeps_nothing():
    invitation, _ = send_two_way(make_sms_survey())
    reply("STOP")
    reply("START")

    invitation.contact.delete()

    assert not SmsConversation.objects.exists() and not SmsMessage.objects.exists()


def test_a_numbers_last_stop_outlives_the_purge_so_the_number_stays_opted_out():
    # A contact created (or given the number) after the STOP is found opted out only by the
    # number's texts: the STOP that decides must not go with the old texts.

    old_texts_from(OTHER, "Hello", "STOP")

    texts_purge()

    assert list(SmsMessage.objects.values_list("body", flat=True)) == ["STOP"]
    invitation = Invitation(distribution=make_distribution(channel="sms"), address=OTHER)
    assert _numbers_opted_out([invitation]) == {OTHER}


def test_a_stop_followed_by_start_goes_with_the_old_texts():
    old_texts_from(OTHER, "STOP", "START")

    texts_purge()

    assert not SmsMessage.objects.exists() and not SmsConversation.objects.exists()


def test_texts_phones_and_words_stay_out_of_the_log(caplog):
    # The log outlives RETENTION_DAYS and a contact's erasure: it names conversations by id.
    caplog.set_level("DEBUG")
    for sid, body in (("SM1", "My order 4711 never came"), ("SM2", "STOP"), ("SM3", "START")):
        sms_inbound_receive(text=InboundText(message_sid=sid, from_number=OTHER, to_number="", body=body))
    assert caplog.records
    # The text's words, not its number alone: "4711" may well be part of a logged id.
    assert OTHER not in caplog.text and "order 4711" not in caplog.text and "never came" not in caplog.text
