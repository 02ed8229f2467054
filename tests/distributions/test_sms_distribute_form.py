"""The distribute-survey task form's method: email by default, the SMS methods' phone and text."""

import pytest

from distributions.tasks import DistributeSurveyForm, task_method
from tests.distributions.test_distribute_form import form
from tests.factories import make_survey

pytestmark = pytest.mark.django_db

SMS_TEXT = "Hi ${m://FirstName}, tell us how we did: ${l://SurveyURL}"


@pytest.fixture(autouse=True)
def survey():
    return make_survey(name="Customer satisfaction")


def test_a_form_without_a_method_is_an_email_invitation(survey):
    bound = form(survey=str(survey.pk))
    assert bound.errors == {}
    assert bound.to_config()["method"] == "email"
    assert task_method({}) == "email"


def test_the_email_method_still_needs_a_subject(survey):
    assert form(survey=str(survey.pk), subject="").errors["subject"] == ["This field is required."]


def test_an_sms_invitation_needs_no_subject_but_a_phone_and_a_text_with_the_link(survey):
    bound = form(survey=str(survey.pk), method="sms", subject="", html_body="", phone="", sms_text="Hello")
    assert bound.errors["phone"][0].startswith("The SMS methods text this number")
    assert bound.errors["sms_text"] == [
        "The text has no survey link: add ${l://SurveyURL}, so each recipient gets their own link."
    ]
    assert "subject" not in bound.errors and "html_body" not in bound.errors


def test_a_complete_sms_invitation_is_saved_with_its_method_and_text(survey):
    bound = form(
        survey=str(survey.pk), method="sms", subject="", html_body="", phone="${event://Phone}", sms_text=SMS_TEXT
    )
    assert bound.errors == {}
    config = bound.to_config()
    assert (config["method"], config["sms_text"], config["phone"]) == ("sms", SMS_TEXT, "${event://Phone}")


def test_the_sms_text_is_checked_as_piped_text(survey):
    bound = form(survey=str(survey.pk), method="sms", phone="${event://Phone}", sms_text="${evnt://X} ${l://SurveyURL}")
    assert "is not piped text" in bound.errors["sms_text"][0]


def test_a_two_way_survey_needs_a_phone_and_no_text(survey):
    bound = form(survey=str(survey.pk), method="two_way_sms", subject="", html_body="", phone="${event://Phone}")
    assert bound.errors == {}


def test_the_sms_text_field_has_the_piped_text_menu_and_the_segment_counter():
    html = str(DistributeSurveyForm()["sms_text"])
    assert "data-sms-segments" in html
    assert "distributions/sms_segments.js" in str(DistributeSurveyForm().media)


def test_the_email_method_needs_the_email_and_the_sms_methods_do_not(survey):
    assert form(survey=str(survey.pk), email="").errors["email"] == ["This field is required."]
    sms = form(survey=str(survey.pk), method="sms", email="", phone="${event://Phone}", sms_text=SMS_TEXT)
    assert sms.errors == {}
