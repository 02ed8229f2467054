"""Two-way SMS surveys end to end: an invitation's first text, replies through the signed inbound
webhook, re-asks, STOP / START / HELP, expiry, a newer invitation closing an older one; with the
invitation's status, its Response and the distribution history CSV checked at each step."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from directory.models import Contact
from distributions import jobs
from distributions.models import Invitation, Question, Response, SmsConversation, SmsMessage, SmsSession, Survey
from distributions.services import sms_inbound
from distributions.services.sms_sessions import (
    ENDED_AFTER_INVALID_REPLIES,
    HINTS,
    SmsSessionError,
    sms_answer_value,
    sms_session_start,
    sms_sessions_expire,
)
from tests.distributions.sms import INBOUND_PATH, inbound_form, post_signed
from tests.distributions.sms_surveys import (
    PHONE,
    history,
    make_sms_contact,
    make_sms_survey,
    reply,
    send_two_way,
    status,
)
from tests.factories import make_distribution, make_question, make_survey

pytestmark = pytest.mark.django_db

Q1 = "How was the service?\n1. Très bien\n2. Good\n3. Bad\nReply with a number."
Q2 = "How likely are you to recommend us?\nReply with a number from 0 to 10."
Q3 = "Anything else?"


def questions(survey) -> list[Question]:
    return list(survey.questions.order_by("position"))


def session_of(invitation) -> SmsSession:
    return SmsSession.objects.get(invitation=invitation)


def only_row(admin_client, survey) -> dict:
    rows = history(admin_client, survey)
    assert len(rows) == 1
    return rows[0]


# --- the first text ---------------------------------------------------------------------------


def test_the_invitation_text_is_the_introduction_and_the_first_question():
    survey = make_sms_survey()
    invitation, text = send_two_way(survey)
    assert text == f"Hi Ada, three questions about your case.\n\n{Q1}"
    sent = SmsMessage.objects.get(direction="outbound")
    assert (sent.body, sent.invitation, sent.conversation.phone) == (text, invitation, PHONE)
    session = session_of(invitation)
    assert (session.state, session.question, session.reasks) == ("open", questions(survey)[0], 0)
    assert session.expires_at == session.last_activity_at + timedelta(hours=24)


def test_without_an_introduction_the_first_text_is_the_first_question():
    _, text = send_two_way(make_sms_survey(sms_introduction=""))
    assert text == Q1


def test_starting_again_for_the_same_invitation_changes_nothing():
    invitation, text = send_two_way(make_sms_survey())
    with transaction.atomic():
        assert sms_session_start(invitation=invitation) == text
    assert SmsSession.objects.count() == 1 and session_of(invitation).state == "open"


def test_a_survey_with_no_question_a_text_can_ask_cannot_start():
    survey = make_survey()
    make_question(survey=survey, kind="multiple_choice", text="Pick one", choices="")
    invitation = make_distribution(survey=survey).invitations.create(
        contact=make_sms_contact(), address=PHONE, status="pending"
    )
    with pytest.raises(SmsSessionError, match="no question that can be asked by text"):
        sms_session_start(invitation=invitation)
    assert not SmsSession.objects.exists()


def test_an_invitation_without_a_phone_number_cannot_start():
    survey = make_sms_survey()
    contact = make_sms_contact(phone="")
    invitation = make_distribution(survey=survey).invitations.create(contact=contact, address="")
    with pytest.raises(SmsSessionError, match="No phone number"):
        sms_session_start(invitation=invitation)
    assert not SmsSession.objects.exists()


# --- replies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, expected",
    [
        ("1", {"number": 1, "text": "Très bien"}),
        (" 2. ", {"number": 2, "text": "Good"}),
        ("GOOD!", {"number": 2, "text": "Good"}),
        ("tres bien", {"number": 1, "text": "Très bien"}),
        ("TRÈS  Bien", {"number": 1, "text": "Très bien"}),
        ("4", None),
        ("0", None),
        ("great", None),
        ("", None),
        ("#2", {"number": 2, "text": "Good"}),
        ("# 3.", {"number": 3, "text": "Bad"}),
        ("2\ufe0f\u20e3", {"number": 2, "text": "Good"}),  # the keycap emoji 2️⃣
        ("２", {"number": 2, "text": "Good"}),  # a full-width digit
        ("#4", None),
        ("#", None),
        ("2. Good", {"number": 2, "text": "Good"}),  # the option copied as the text lists it
        ("1) tres bien!", {"number": 1, "text": "Très bien"}),
        ("3 - bad", {"number": 3, "text": "Bad"}),
        ("2. Bad", None),  # a number and another option's text: which one is meant?
        ("4. Good", None),
    ],
)
def test_a_multiple_choice_reply_is_the_number_or_the_option_text(body, expected):
    question = Question(kind="multiple_choice", text="How was it?", choices="Très bien\nGood\nBad")
    assert sms_answer_value(question, body) == expected


@pytest.mark.parametrize(
    "body, expected",
    [
        ("1", {"number": 1, "text": "2"}),
        ("2.", {"number": 2, "text": "1"}),
        ("10", {"number": 4, "text": "10"}),
        ("0", {"number": 3, "text": "0"}),
        ("Ten", None),
    ],
)
def test_a_number_in_range_is_the_option_number_even_when_an_option_reads_as_a_number(body, expected):
    # The text lists "1. 2", "2. 1", ... and asks for a number: "1" is the first option.
    question = Question(kind="multiple_choice", text="How many calls?", choices="2\n1\n0\n10")
    assert sms_answer_value(question, body) == expected


@pytest.mark.parametrize(
    "kind, body, expected",
    [
        ("multiple_choice", "2\u200b", {"number": 2, "text": "Good"}),
        ("multiple_choice", "\u2060good", {"number": 2, "text": "Good"}),
        ("rating", "\ufeff7", 7),
        ("text", "\u200b", None),
        ("text", " 👨\u200d👩\u200d👧 ", "👨\u200d👩\u200d👧"),  # a text answer keeps its joiners
    ],
)
def test_invisible_format_characters_in_a_reply_are_ignored(kind, body, expected):
    question = Question(kind=kind, text="How was it?", choices="Très bien\nGood\nBad")
    assert sms_answer_value(question, body) == expected


@pytest.mark.parametrize(
    "body, expected",
    [
        ("0", 0),
        ("10", 10),
        ("7.", 7),
        ("#8", 8),
        ("１０", 10),
        ("9\ufe0f\u20e3", 9),
        ("11", None),
        ("7.5", None),
        ("sept", None),
    ],
)
def test_a_rating_reply_is_a_whole_number_from_0_to_10(body, expected):
    assert sms_answer_value(Question(kind="rating", text="Rate us"), body) == expected


@pytest.mark.parametrize("body, expected", [("  Quick, thanks ", "Quick, thanks"), ("   ", None)])
def test_a_text_entry_reply_is_any_text(body, expected):
    assert sms_answer_value(Question(kind="text", text="Why?"), body) == expected


def test_a_survey_answered_by_text_from_start_to_finish(admin_client):
    survey = make_sms_survey()
    invitation, _ = send_two_way(survey)
    q1, q2, q3 = questions(survey)
    row = only_row(admin_client, survey)
    assert (row["Status"], row["Response Id"], row["End Date"]) == ("SMS Sent", "", "")

    assert reply("très BIEN") == [Q2]
    assert status(invitation) == "Survey Started"
    response = Response.objects.get(invitation=invitation)
    assert response.answers == {str(q1.pk): {"number": 1, "text": "Très bien"}}
    assert response.embedded_data == {"Store": "Milan"}  # recorded as the survey page records it
    assert response.finished_at is None
    row = only_row(admin_client, survey)
    assert (row["Status"], row["Response Id"], row["End Date"], row["Store"]) == (
        "Survey Started",
        response.public_id,
        "",
        "Milan",
    )

    assert reply("7") == [Q3]
    assert reply("Quick and kind.") == ["Thank you, Ada!"]
    assert status(invitation) == "Survey Finished"
    response.refresh_from_db()
    assert response.answers == {
        str(q1.pk): {"number": 1, "text": "Très bien"},
        str(q2.pk): 7,
        str(q3.pk): "Quick and kind.",
    }
    assert response.finished_at is not None
    assert session_of(invitation).state == "finished"
    row = only_row(admin_client, survey)
    assert (row["Status"], row["Response Id"]) == ("Survey Finished", response.public_id)
    assert row["End Date"] == response.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert list(invitation.events.values_list("kind", flat=True)) == ["sms_sent", "started", "finished"]

    # The survey is over: another text is answered as from a number with no survey.
    assert reply("2") == [settings.SMS_NO_SESSION_REPLY]
    response.refresh_from_db()
    assert len(response.answers) == 3


def test_replies_are_recorded_in_the_conversation_with_their_invitation():
    invitation, _ = send_two_way(make_sms_survey())
    reply("2")
    texts = list(SmsMessage.objects.order_by("id").values_list("direction", "body", "invitation"))
    assert texts[1:] == [("inbound", "2", invitation.pk), ("outbound", Q2, None)]


def test_without_a_thank_you_text_the_last_answer_is_not_answered():
    survey = make_sms_survey(sms_thank_you="")
    invitation, _ = send_two_way(survey)
    reply("1")
    reply("9")
    assert reply("No") == []
    assert status(invitation) == "Survey Finished"


def test_an_invalid_reply_is_asked_again_with_a_hint_then_the_survey_moves_on(admin_client):
    survey = make_sms_survey()  # two re-asks, then the next question (the defaults)
    invitation, _ = send_two_way(survey)
    q1, q2, _ = questions(survey)
    hint = HINTS[Question.Kind.MULTIPLE_CHOICE]
    assert reply("maybe") == [f"{hint}\n\n{Q1}"]
    assert session_of(invitation).reasks == 1
    assert reply("9") == [f"{hint}\n\n{Q1}"]
    assert status(invitation) == "SMS Sent" and not Response.objects.exists()
    assert reply("no idea") == [Q2]  # the third invalid reply: Q1 stays unanswered
    assert (session_of(invitation).question, session_of(invitation).reasks) == (q2, 0)
    assert only_row(admin_client, survey)["Status"] == "SMS Sent"

    assert reply("eleven") == [f"{HINTS[Question.Kind.RATING]}\n\n{Q2}"]
    assert reply("10") == [Q3]
    assert status(invitation) == "Survey Started"
    assert Response.objects.get(invitation=invitation).answers == {str(q2.pk): 10}


def test_after_the_re_asks_the_survey_may_end_instead(admin_client):
    survey = make_sms_survey(sms_invalid_reply_limit=1, sms_after_invalid_replies="end")
    invitation, _ = send_two_way(survey)
    q1, *_ = questions(survey)
    assert reply("2") == [Q2]
    assert reply("lots") == [f"{HINTS[Question.Kind.RATING]}\n\n{Q2}"]
    assert reply("plenty") == [ENDED_AFTER_INVALID_REPLIES]
    assert session_of(invitation).state == "closed"
    assert status(invitation) == "Survey Partially Finished"
    response = Response.objects.get(invitation=invitation)
    assert (response.answers, response.finished_at) == ({str(q1.pk): {"number": 2, "text": "Good"}}, None)
    row = only_row(admin_client, survey)
    assert (row["Status"], row["Response Id"], row["End Date"]) == ("Survey Partially Finished", response.public_id, "")
    assert reply("8") == [settings.SMS_NO_SESSION_REPLY]
    response.refresh_from_db()
    assert len(response.answers) == 1


def test_a_question_that_cannot_be_asked_by_text_is_skipped_and_the_admin_says_so(admin_client):
    survey = make_sms_survey()
    q1, q2, q3 = questions(survey)
    # No options: the admin's form refuses it, an older row or the API may still hold one.
    Question.objects.filter(pk=q2.pk).update(choices="", kind="multiple_choice")
    invitation, _ = send_two_way(survey)
    assert reply("1") == [Q3]
    assert reply("Fine") == ["Thank you, Ada!"]
    assert set(Response.objects.get(invitation=invitation).answers) == {str(q1.pk), str(q3.pk)}

    page = admin_client.get(reverse("admin:distributions_survey_change", args=[survey.pk])).content.decode()
    assert "Question 2 cannot be asked by text; a two-way SMS survey skips it. It has no options to reply with." in page
    assert page.count("No (skipped)") == 1 and page.count(">Yes<") == 2


def test_a_survey_closed_mid_session_takes_no_more_answers():
    survey = make_sms_survey()
    invitation, _ = send_two_way(survey)
    reply("1")
    survey.status = survey.Status.CLOSED
    survey.save()
    assert reply("8") == ["This survey is not open."]
    assert session_of(invitation).state == "closed"
    assert status(invitation) == "Survey Partially Finished"
    assert len(Response.objects.get(invitation=invitation).answers) == 1


# --- keywords ---------------------------------------------------------------------------------


def test_stop_mid_survey_opts_out_and_ends_the_session_keeping_the_answers(admin_client):
    survey = make_sms_survey()
    invitation, _ = send_two_way(survey)
    q1, *_ = questions(survey)
    reply("3")
    assert reply("Stop") == [settings.SMS_STOP_REPLY]
    assert Contact.objects.get(pk=invitation.contact_id).sms_opted_out
    assert session_of(invitation).state == "stopped"
    # Answers were given: the survey's status stays ahead of the opt-out, which the history keeps.
    assert status(invitation) == "Survey Partially Finished"
    assert "opted_out" in invitation.events.values_list("kind", flat=True)
    response = Response.objects.get(invitation=invitation)
    assert (response.answers, response.finished_at) == ({str(q1.pk): {"number": 3, "text": "Bad"}}, None)
    assert only_row(admin_client, survey)["Status"] == "Survey Partially Finished"

    # No survey is open any more: a number is not an answer to the next question, and the number,
    # opted out, is not answered.
    assert reply("7") == []
    assert Response.objects.get(invitation=invitation).answers == response.answers


def test_stop_before_any_answer_leaves_the_invitation_opted_out(admin_client):
    survey = make_sms_survey()
    invitation, _ = send_two_way(survey)
    assert reply("ARRÊT") == [settings.SMS_STOP_REPLY]
    assert status(invitation) == "Opted Out"
    assert session_of(invitation).state == "stopped"
    assert not Response.objects.exists()
    assert only_row(admin_client, survey)["Status"] == "Opted Out"


def test_start_opts_the_number_back_in_and_does_not_reopen_the_survey():
    survey = make_sms_survey()
    invitation, _ = send_two_way(survey)
    reply("1")
    reply("STOP")
    assert reply("start") == [settings.SMS_START_REPLY]
    assert not Contact.objects.get(pk=invitation.contact_id).sms_opted_out
    assert session_of(invitation).state == "stopped"
    assert status(invitation) == "Survey Partially Finished"
    assert reply("8") == [settings.SMS_NO_SESSION_REPLY]
    # A new invitation can be answered again.
    second, text = send_two_way(survey, contact=Contact.objects.get(pk=invitation.contact_id))
    assert reply("2") == [Q2]
    assert status(second) == "Survey Started"


def test_help_names_the_survey_and_how_to_stop_without_moving_the_session():
    invitation, _ = send_two_way(make_sms_survey())
    assert reply("help") == ["Our service: reply to each question to answer the survey. Reply STOP to unsubscribe."]
    session = session_of(invitation)
    assert (session.state, session.question.position, session.reasks) == ("open", 1, 0)
    assert status(invitation) == "SMS Sent"
    assert reply("1") == [Q2]  # the survey goes on


def test_info_is_help_and_not_an_answer_to_a_text_question():
    survey = make_sms_survey()
    invitation, _ = send_two_way(survey)
    reply("1")
    reply("7")
    assert reply("INFO") == ["Our service: reply to each question to answer the survey. Reply STOP to unsubscribe."]
    assert session_of(invitation).state == "open"
    assert str(questions(survey)[2].pk) not in Response.objects.get(invitation=invitation).answers


def test_revoke_mid_survey_opts_out_and_ends_the_session():
    survey = make_sms_survey()
    invitation, _ = send_two_way(survey)
    reply("1")
    reply("7")
    assert reply("revoke") == [settings.SMS_STOP_REPLY]
    assert Contact.objects.get(pk=invitation.contact_id).sms_opted_out
    assert session_of(invitation).state == "stopped"
    assert str(questions(survey)[2].pk) not in Response.objects.get(invitation=invitation).answers


def test_yes_answers_a_question_of_a_number_that_did_not_opt_out():
    survey = make_survey(sms_thank_you="Thanks")
    question = make_question(survey=survey, kind="multiple_choice", text="Was it solved?", choices="No\nYes")
    invitation, _ = send_two_way(survey)
    assert reply("YES") == ["Thanks"]
    answers = Response.objects.get(invitation=invitation).answers
    assert answers == {str(question.pk): {"number": 2, "text": "Yes"}}


def test_line_breaks_of_the_survey_texts_go_as_one_character_each():
    # The admin's text fields give CR LF; a text carries, and bills, one character per line break.
    survey = make_survey(sms_introduction="Hello!\r\nTwo questions.", sms_thank_you="Thank\r\nyou")
    make_question(survey=survey, kind="text", text="What went well?\r\nTell us.")
    make_question(survey=survey, kind="text", text="What went wrong?\r\nTell us.")
    _, text = send_two_way(survey)
    assert SmsMessage.objects.get(direction="outbound").body == "Hello!\nTwo questions.\n\nWhat went well?\nTell us."
    assert reply("Speed") == ["What went wrong?\nTell us."]
    assert reply("Nothing") == ["Thank\nyou"]
    assert not SmsMessage.objects.filter(body__contains="\r").exists()


def test_help_with_no_open_survey_is_the_general_answer():
    assert reply("HELP") == [settings.SMS_HELP_REPLY]


# --- expiry -----------------------------------------------------------------------------------


def test_an_idle_session_expires_keeping_the_answers(admin_client):
    survey = make_sms_survey(sms_session_expiry_hours=6)
    invitation, _ = send_two_way(survey)
    q1, *_ = questions(survey)
    reply("2")
    answered_at = session_of(invitation).last_activity_at
    assert session_of(invitation).expires_at == answered_at + timedelta(hours=6)  # each reply restarts the clock

    assert sms_sessions_expire(now=answered_at + timedelta(hours=5, minutes=59)) == 0
    assert sms_sessions_expire(now=answered_at + timedelta(hours=6)) == 1
    assert sms_sessions_expire(now=answered_at + timedelta(hours=7)) == 0  # once
    assert session_of(invitation).state == "expired"
    assert status(invitation) == "Session Expired"
    response = Response.objects.get(invitation=invitation)
    assert (response.answers, response.finished_at) == ({str(q1.pk): {"number": 2, "text": "Good"}}, None)
    row = only_row(admin_client, survey)
    assert (row["Status"], row["Response Id"], row["End Date"]) == ("Session Expired", response.public_id, "")

    assert reply("9") == [settings.SMS_NO_SESSION_REPLY]
    assert Response.objects.get(invitation=invitation).answers == response.answers


def test_the_expiry_job_is_scheduled_and_expires_sessions_idle_past_their_time():
    assert Schedule.objects.filter(func="distributions.jobs.expire_sms_sessions", repeats=-1).exists()
    invitation, _ = send_two_way(make_sms_survey())
    SmsSession.objects.filter(invitation=invitation).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs.expire_sms_sessions() == 1
    assert status(invitation) == "Session Expired"
    assert not Response.objects.exists()


def test_an_unanswered_session_of_a_text_that_may_not_have_gone_expires_keeping_sms_failed():
    """An uncertain hand-off leaves the invitation SMS Failed with its session open (the text may
    have arrived); if no answer comes, expiring it must not count it as sent."""
    invitation, _ = send_two_way(make_sms_survey())
    Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.SMS_FAILED)
    SmsSession.objects.filter(invitation=invitation).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs.expire_sms_sessions() == 1
    assert status(invitation) == "SMS Failed"
    assert SmsSession.objects.get(invitation=invitation).state == SmsSession.State.EXPIRED


def test_a_reply_after_the_expiry_time_finds_no_survey_even_before_the_job_runs():
    invitation, _ = send_two_way(make_sms_survey())
    SmsSession.objects.filter(invitation=invitation).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert reply("1") == [settings.SMS_NO_SESSION_REPLY]
    assert status(invitation) == "Session Expired"
    assert not Response.objects.exists()


# --- a newer invitation -----------------------------------------------------------------------


def test_a_new_invitation_to_the_number_closes_the_open_session(admin_client):
    first_survey = make_sms_survey(name="First")
    first, _ = send_two_way(first_survey)
    q1, *_ = questions(first_survey)
    reply("1")

    second_survey = make_sms_survey(name="Second", sms_introduction="")
    contact = Contact.objects.get(pk=first.contact_id)
    second, text = send_two_way(second_survey, contact=contact)
    assert text == Q1
    assert session_of(first).state == "closed" and session_of(second).state == "open"
    assert status(first) == "Survey Partially Finished"
    older = Response.objects.get(invitation=first)
    assert (older.answers, older.finished_at) == ({str(q1.pk): {"number": 1, "text": "Très bien"}}, None)
    assert only_row(admin_client, first_survey)["Status"] == "Survey Partially Finished"

    # Replies now answer the newer survey.
    assert reply("3") == [Q2]
    assert status(second) == "Survey Started"
    assert Response.objects.get(invitation=second).answers == {
        str(questions(second_survey)[0].pk): {"number": 3, "text": "Bad"}
    }
    assert Response.objects.get(invitation=first).answers == older.answers
    assert only_row(admin_client, second_survey)["Status"] == "Survey Started"


def test_a_new_invitation_closes_an_unanswered_session_without_starting_it():
    survey = make_sms_survey()
    first, _ = send_two_way(survey)
    send_two_way(survey, contact=Contact.objects.get(pk=first.contact_id))
    assert session_of(first).state == "closed"
    assert status(first) == "SMS Sent"
    assert "sms_session_closed" in first.events.values_list("kind", flat=True)


def test_sessions_on_other_numbers_are_left_alone():
    survey = make_sms_survey()
    first, _ = send_two_way(survey)
    send_two_way(survey, phone="+15555550124")
    assert session_of(first).state == "open"
    assert reply("1", sender="+15555550124") == [Q2]
    assert not Response.objects.filter(invitation=first).exists()


def test_the_admin_lists_sessions_read_only(admin_client):
    invitation, _ = send_two_way(make_sms_survey())
    session = session_of(invitation)
    listing = admin_client.get(reverse("admin:distributions_smssession_changelist")).content.decode()
    assert PHONE in listing and "Open" in listing
    page = admin_client.get(reverse("admin:distributions_smssession_change", args=[session.pk]))
    assert page.status_code == 200 and "Save" not in page.content.decode()


def test_many_questions_in_a_row_that_cannot_be_asked_are_all_skipped():
    survey = make_survey(sms_thank_you="Done.")
    make_question(survey=survey, kind="text", text="First?")
    for number in range(6):
        make_question(survey=survey, kind="multiple_choice", text=f"No options {number}", choices="")
    last = make_question(survey=survey, kind="rating", text="Last?")
    invitation, text = send_two_way(survey)
    assert text == "First?"
    assert reply("Fine") == ["Last?\nReply with a number from 0 to 10."]
    assert session_of(invitation).question == last
    assert reply("9") == ["Done."]
    assert status(invitation) == "Survey Finished"


def test_questions_at_the_same_position_are_asked_in_the_order_they_were_added():
    survey = make_survey(sms_thank_you="Done.")
    for text in ("A?", "B?", "C?"):
        make_question(survey=survey, kind="text", text=text, position=2)
    make_question(survey=survey, kind="text", text="Before?", position=1)
    make_question(survey=survey, kind="text", text="After?", position=3)
    _, text = send_two_way(survey)
    assert text == "Before?"
    assert [reply("x")[0] for _ in range(5)] == ["A?", "B?", "C?", "After?", "Done."]


def test_questions_that_cannot_be_asked_up_to_the_end_finish_the_survey():
    survey = make_survey(sms_thank_you="Done.")
    make_question(survey=survey, kind="text", text="First?")
    for number in range(6):
        make_question(survey=survey, kind="multiple_choice", text=f"No options {number}", choices="")
    invitation, _ = send_two_way(survey)
    assert reply("Fine") == ["Done."]
    assert status(invitation) == "Survey Finished"


def statements_of(body: str, expected: str) -> list[str]:
    """The statements answering `body` with `expected`, savepoints left out."""
    with CaptureQueriesContext(connection) as captured:
        assert reply(body) == [expected]
    return [
        query["sql"] for query in captured.captured_queries if not query["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]


def test_a_reply_mid_survey_takes_seven_statements_besides_its_transaction():
    # Each reply waits on the database once per statement, holding the number's row lock: the
    # conversation locked and its time set (its MessageSid looked up with it), the session, the
    # question asked with the ones after it, the answer, the session moved on, the text with its
    # invitation, the reply. The first answer reads the survey's declared fields (no
    # contact when there are none), and starts the response and the invitation (an event and
    # its status: two statements on SQLite, one on PostgreSQL) instead of saving the answer.
    survey = make_survey(sms_thank_you="Done.")
    for number in range(1, 6):
        make_question(survey=survey, kind="rating", text=f"Question {number}?")
    send_two_way(survey)
    first = statements_of("7", "Question 2?\nReply with a number from 0 to 10.")
    assert len(first) == (9 if connection.vendor == "postgresql" else 10), "\n".join(first)
    statements = statements_of("8", "Question 3?\nReply with a number from 0 to 10.")
    assert len(statements) == 7, "\n".join(statements)


def test_a_replay_changes_nothing_not_even_the_conversations_time():
    invitation, _ = send_two_way(make_sms_survey())
    form = inbound_form(sender=PHONE, body="1")
    first = post_signed(Client(), INBOUND_PATH, form)
    conversation = SmsConversation.objects.get()
    again = post_signed(Client(), INBOUND_PATH, form)
    assert (again.status_code, again.content) == (200, first.content)
    assert SmsConversation.objects.get().last_message_at == conversation.last_message_at
    assert SmsMessage.objects.filter(direction="inbound").count() == 1


def test_a_replay_the_look_up_under_the_lock_missed_is_undone_and_answered_the_same(monkeypatch):
    # On PostgreSQL the look-up under the lock reads what was committed when it began: a replay
    # whose original committed while it waited for the lock is not seen there, only by the insert.
    invitation, _ = send_two_way(make_sms_survey())
    form = inbound_form(sender=PHONE, body="1")
    first = post_signed(Client(), INBOUND_PATH, form)

    def state():
        return (
            Response.objects.get(invitation=invitation).answers,
            SmsSession.objects.values_list("question", "reasks", "last_activity_at").get(),
            list(SmsMessage.objects.values_list("id", "body", "invitation", "updated_at")),
            SmsConversation.objects.values_list("last_message_at", flat=True).get(),
        )

    before = state()
    stamped = sms_inbound._conversation_stamped

    def missing_it(**kwargs):
        conversation, seen = stamped(**kwargs)
        assert seen
        return conversation, False

    monkeypatch.setattr(sms_inbound, "_conversation_stamped", missing_it)
    again = post_signed(Client(), INBOUND_PATH, form)  # "1" would answer the rating asked now
    assert (again.status_code, again.content) == (200, first.content)
    assert state() == before


def test_a_question_deleted_while_it_is_asked_goes_on_with_the_first_unanswered_one():
    survey = make_sms_survey()
    invitation, _ = send_two_way(survey)
    q1, q2, q3 = questions(survey)
    assert reply("1") == [Q2]
    q2.delete()
    assert reply("5") == [Q3]  # the reply answered a question no longer there
    assert reply("Nothing") == ["Thank you, Ada!"]
    assert set(Response.objects.get(invitation=invitation).answers) == {str(q1.pk), str(q3.pk)}


def survey_form(**fields) -> dict:
    management = {}
    for prefix in ("questions", "fields", "collaborators"):
        management |= {
            f"{prefix}-TOTAL_FORMS": 0,
            f"{prefix}-INITIAL_FORMS": 0,
            f"{prefix}-MIN_NUM_FORMS": 0,
            f"{prefix}-MAX_NUM_FORMS": 1000,
        }
    return {"name": "By text", "introduction": "", "thank_you": "Thanks!", **management, **fields}


def test_the_survey_form_saves_the_two_way_sms_settings(admin_client):
    owner = make_survey().owner
    data = survey_form(
        owner=owner.pk,
        sms_introduction="Hi ${m://FirstName}!",
        sms_thank_you="Bye.",
        sms_invalid_reply_limit=0,
        sms_after_invalid_replies="end",
        sms_session_expiry_hours=48,
    )
    response = admin_client.post(reverse("admin:distributions_survey_add"), data)
    assert response.status_code == 302
    survey = Survey.objects.get(name="By text")
    assert (
        survey.sms_introduction,
        survey.sms_thank_you,
        survey.sms_invalid_reply_limit,
        survey.sms_after_invalid_replies,
        survey.sms_session_expiry_hours,
    ) == ("Hi ${m://FirstName}!", "Bye.", 0, "end", 48)


def test_the_survey_form_checks_the_sms_texts_and_the_expiry(admin_client):
    owner = make_survey().owner
    data = survey_form(owner=owner.pk, sms_thank_you="Bye ${m://FristName}", sms_session_expiry_hours=0)
    response = admin_client.post(reverse("admin:distributions_survey_add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "FirstName" in " ".join(errors["sms_thank_you"])
    assert "sms_session_expiry_hours" in errors
    assert not Survey.objects.filter(name="By text").exists()


def test_help_after_the_expiry_time_speaks_of_no_survey_even_before_the_job_runs():
    invitation, _ = send_two_way(make_sms_survey())
    SmsSession.objects.filter(invitation=invitation).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert reply("HELP") == [settings.SMS_HELP_REPLY]
    assert session_of(invitation).state == "expired"
    assert status(invitation) == "Session Expired"


def test_a_question_with_characters_xml_cannot_carry_is_still_asked_in_readable_twiml():
    # A vertical tab is the line break of text pasted from a word processor; XML 1.0 forbids it.
    survey = make_survey(name="Pasted")
    make_question(survey=survey, kind="rating", text="How likely are you to recommend us?")
    make_question(survey=survey, kind="text", text="What went well?\x0bAnd what did not?\x01")
    send_two_way(survey)
    assert reply("9") == ["What went well?\nAnd what did not?"]  # the reply helper parses the TwiML
