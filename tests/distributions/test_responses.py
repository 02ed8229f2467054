from datetime import timedelta

import pytest
from django.utils import timezone

from distributions.models import Invitation, Response
from distributions.services.answers import ANSWER_REQUIRED, CHOOSE_A_RATING, CHOOSE_AN_OPTION, REMOVE_NUL
from distributions.services.responses import (
    ResponseError,
    ResponseInvalid,
    invitation_mark_expired,
    invitation_opt_out,
    response_save,
)
from distributions.services.status import invitation_record
from tests.factories import make_contact, make_invitation, make_question, make_survey, make_survey_field

pytestmark = pytest.mark.django_db
Status = Invitation.Status


def event_kinds(invitation):
    return list(invitation.events.values_list("kind", flat=True))


def refreshed(invitation):
    invitation.refresh_from_db()
    return invitation


@pytest.fixture
def survey():
    survey = make_survey()
    make_question(survey=survey, kind="multiple_choice", text="How was it?", choices="Good\nFair\nPoor")
    make_question(survey=survey, kind="rating", text="Recommend us?", required=True)
    make_question(survey=survey, kind="text", text="Anything else?")
    return survey


def keys(survey):
    choice, rating, text = survey.questions.all()
    return str(choice.pk), str(rating.pk), str(text.pk)


def test_it_records_started_then_partially_finished_on_a_first_save_without_finishing(survey):
    invitation = make_invitation(survey=survey)
    choice, _, _ = keys(survey)

    response = response_save(invitation=invitation, answers={choice: "1"}, finish=False)

    assert response.finished_at is None
    assert refreshed(invitation).status == Status.SURVEY_PARTIALLY_FINISHED
    assert event_kinds(invitation) == ["started", "partially_finished"]


def test_it_records_each_later_save_and_keeps_one_response(survey):
    invitation = make_invitation(survey=survey)
    choice, _, _ = keys(survey)

    response_save(invitation=invitation, answers={choice: "1"}, finish=False)
    response_save(invitation=invitation, answers={choice: "2"}, finish=False)

    assert Response.objects.get(invitation=invitation).answers == {choice: {"number": 2, "text": "Fair"}}
    assert event_kinds(invitation) == ["started", "partially_finished", "partially_finished"]


def test_it_finishes_with_finished_at_and_status(survey):
    invitation = make_invitation(survey=survey)
    choice, rating, text = keys(survey)

    response = response_save(invitation=invitation, answers={choice: "3", rating: "10", text: "  Fast!  "}, finish=True)

    assert response.finished_at is not None
    assert response.answers == {choice: {"number": 3, "text": "Poor"}, rating: 10, text: "Fast!"}
    assert refreshed(invitation).status == Status.SURVEY_FINISHED
    assert event_kinds(invitation) == ["started", "finished"]


def test_it_keeps_answers_not_submitted_and_clears_blank_ones(survey):
    invitation = make_invitation(survey=survey)
    choice, rating, text = keys(survey)
    response_save(invitation=invitation, answers={choice: "1", text: "Slow"}, finish=False)

    response = response_save(invitation=invitation, answers={rating: "4", text: "   "}, finish=False)

    assert response.answers == {choice: {"number": 1, "text": "Good"}, rating: 4}


def test_it_records_declared_embedded_data_by_exact_name_with_defaults():
    survey = make_survey()
    make_question(survey=survey)
    make_survey_field(survey=survey, name="Store", default_value="Unknown store")
    make_survey_field(survey=survey, name="Region")
    make_survey_field(survey=survey, name="Tier", default_value="Standard")
    contact = make_contact(embedded_data={"store": "Milan", "Region": "North", "Tier": "", "Other": "x"})
    invitation = make_invitation(survey=survey, contact=contact)

    response = response_save(invitation=invitation, answers={}, finish=False)

    # "store" differs from the declared "Store" by case only: not taken, the default applies.
    assert response.embedded_data == {"Store": "Unknown store", "Region": "North", "Tier": "Standard"}


def test_it_records_embedded_data_as_it_was_when_the_response_started(survey):
    make_survey_field(survey=survey, name="Store")
    contact = make_contact(embedded_data={"Store": "Milan"})
    invitation = make_invitation(survey=survey, contact=contact)
    response_save(invitation=invitation, answers={}, finish=False)
    contact.embedded_data = {"Store": "Rome"}
    contact.save()

    response = response_save(invitation=invitation, answers={}, finish=False)

    assert response.embedded_data == {"Store": "Milan"}


def test_it_requires_required_questions_to_finish_but_not_to_save(survey):
    invitation = make_invitation(survey=survey)
    choice, rating, _ = keys(survey)
    response_save(invitation=invitation, answers={choice: "1"}, finish=False)

    with pytest.raises(ResponseInvalid) as raised:
        response_save(invitation=invitation, answers={choice: "1"}, finish=True)

    assert raised.value.errors == {rating: ANSWER_REQUIRED}
    assert Response.objects.get(invitation=invitation).finished_at is None
    assert refreshed(invitation).status == Status.SURVEY_PARTIALLY_FINISHED


@pytest.mark.parametrize("rating_value", ["11", "-1", "7.5", "seven", "٧", "+7"])
def test_it_refuses_a_rating_outside_0_to_10_and_saves_nothing(survey, rating_value):
    invitation = make_invitation(survey=survey)
    _, rating, _ = keys(survey)

    with pytest.raises(ResponseInvalid) as raised:
        response_save(invitation=invitation, answers={rating: rating_value}, finish=False)

    assert raised.value.errors == {rating: CHOOSE_A_RATING}
    assert not Response.objects.filter(invitation=invitation).exists()
    assert event_kinds(invitation) == []
    assert refreshed(invitation).status == Status.PENDING


def test_it_accepts_the_ends_of_the_rating_scale(survey):
    invitation = make_invitation(survey=survey)
    _, rating, _ = keys(survey)

    assert response_save(invitation=invitation, answers={rating: "0"}, finish=False).answers == {rating: 0}
    assert response_save(invitation=invitation, answers={rating: "10"}, finish=False).answers == {rating: 10}


@pytest.mark.parametrize("choice_value", ["0", "4", "Good", "1.0"])
def test_it_refuses_a_choice_that_is_not_an_option_number(survey, choice_value):
    invitation = make_invitation(survey=survey)
    choice, _, _ = keys(survey)

    with pytest.raises(ResponseInvalid) as raised:
        response_save(invitation=invitation, answers={choice: choice_value}, finish=False)

    assert raised.value.errors == {choice: CHOOSE_AN_OPTION}


def test_it_refuses_a_text_answer_holding_a_nul_character_and_saves_nothing(survey):
    # No keyboard types one, but a crafted post can, and PostgreSQL cannot store it.
    invitation = make_invitation(survey=survey)
    _, _, text = keys(survey)

    with pytest.raises(ResponseInvalid) as raised:
        response_save(invitation=invitation, answers={text: "fine\x00thanks"}, finish=False)

    assert raised.value.errors == {text: REMOVE_NUL}
    assert not Response.objects.filter(invitation=invitation).exists()


def test_a_finished_response_cannot_be_changed(survey):
    invitation = make_invitation(survey=survey)
    choice, rating, _ = keys(survey)
    response_save(invitation=invitation, answers={choice: "1", rating: "9"}, finish=True)

    with pytest.raises(ResponseError) as raised:
        response_save(invitation=invitation, answers={choice: "3"}, finish=False)

    assert raised.value.code == "finished"
    assert Response.objects.get(invitation=invitation).answers[choice]["number"] == 1
    assert event_kinds(invitation) == ["started", "finished"]


def test_it_refuses_answers_on_an_expired_link(survey):
    invitation = make_invitation(survey=survey, expires_at=timezone.now() - timedelta(minutes=1))

    with pytest.raises(ResponseError) as raised:
        response_save(invitation=invitation, answers={}, finish=False)

    assert raised.value.code == "expired"


def test_it_refuses_answers_when_the_survey_is_not_active(survey):
    survey.status = "paused"
    survey.save()
    invitation = make_invitation(survey=survey)

    with pytest.raises(ResponseError) as raised:
        response_save(invitation=invitation, answers={}, finish=False)

    assert raised.value.code == "not_open"


def test_a_finished_invitation_stays_finished_when_an_older_event_arrives(survey):
    invitation = make_invitation(survey=survey)
    _, rating, _ = keys(survey)
    response_save(invitation=invitation, answers={rating: "8"}, finish=True)

    changed = invitation_record(
        invitation=invitation,
        kind="opened",
        status=Status.EMAIL_OPENED,
        occurred_at=timezone.now() - timedelta(hours=1),
        provider="test",
    )

    assert changed is False
    assert refreshed(invitation).status == Status.SURVEY_FINISHED
    assert "opened" in event_kinds(invitation)


def test_opting_out_unsubscribes_the_contact_and_shows_after_the_email_was_opened(survey):
    invitation = make_invitation(survey=survey, status=Status.EMAIL_OPENED)

    assert invitation_opt_out(invitation=invitation) is True

    assert refreshed(invitation).status == Status.OPTED_OUT
    invitation.contact.refresh_from_db()
    assert invitation.contact.unsubscribed is True
    assert event_kinds(invitation) == ["opted_out"]


def test_opting_out_twice_records_one_event(survey):
    invitation = make_invitation(survey=survey)
    invitation_opt_out(invitation=invitation)

    assert invitation_opt_out(invitation=invitation) is False

    assert event_kinds(invitation) == ["opted_out"]


def test_opting_out_after_finishing_keeps_the_survey_finished(survey):
    invitation = make_invitation(survey=survey)
    _, rating, _ = keys(survey)
    response_save(invitation=invitation, answers={rating: "8"}, finish=True)

    invitation_opt_out(invitation=invitation)

    assert refreshed(invitation).status == Status.SURVEY_FINISHED
    assert invitation.contact.unsubscribed is True


def test_marking_an_expired_link_records_one_event(survey):
    invitation = make_invitation(survey=survey, status=Status.EMAIL_SENT, expires_at=timezone.now() - timedelta(days=1))

    assert invitation_mark_expired(invitation=invitation) is True
    assert invitation_mark_expired(invitation=invitation) is False

    assert refreshed(invitation).status == Status.LINK_EXPIRED
    assert event_kinds(invitation) == ["link_expired"]


def test_a_link_not_yet_expired_is_not_marked(survey):
    invitation = make_invitation(survey=survey, expires_at=timezone.now() + timedelta(days=1))

    assert invitation_mark_expired(invitation=invitation) is False
    assert event_kinds(invitation) == []


def test_a_finished_survey_is_not_marked_expired(survey):
    invitation = make_invitation(survey=survey)
    _, rating, _ = keys(survey)
    response_save(invitation=invitation, answers={rating: "8"}, finish=True)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert invitation_mark_expired(invitation=refreshed(invitation)) is False
    assert invitation.status == Status.SURVEY_FINISHED


def test_a_partial_response_keeps_its_status_when_the_link_expires(survey):
    invitation = make_invitation(survey=survey)
    response_save(invitation=invitation, answers={}, finish=False)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert invitation_mark_expired(invitation=refreshed(invitation)) is True

    # Forward-only: having started the survey ranks above the link expiring; the event tells it.
    assert refreshed(invitation).status == Status.SURVEY_PARTIALLY_FINISHED
    assert event_kinds(invitation)[-1] == "link_expired"
