import pytest

from distributions.models import Survey
from tests.api.conftest import error, result
from tests.factories import make_question, make_survey, make_survey_field, make_user

pytestmark = pytest.mark.django_db


def test_it_lists_surveys_in_the_reference_shape(superuser_api):
    survey = make_survey(name="Customer satisfaction", owner=make_user(username="owner"))

    (element,) = result(superuser_api.get("surveys"))["elements"]

    assert element["id"] == survey.public_id
    assert element["id"].startswith("SV_")
    assert (element["name"], element["ownerId"], element["isActive"]) == ("Customer satisfaction", "owner", True)
    assert element["creationDate"].endswith("Z")


def test_it_gets_a_survey_with_its_questions_and_declared_embedded_data(superuser_api):
    survey = make_survey()
    question = make_question(survey=survey, kind="multiple_choice", text="How was it?", choices="Good\nBad")
    make_survey_field(survey=survey, name="Store", default_value="Online")

    answer = result(superuser_api.get(f"surveys/{survey.public_id}"))

    assert answer["questions"] == [
        {
            "questionId": f"QID{question.pk}",
            "questionText": "How was it?",
            "questionType": "multiple_choice",
            "choices": ["Good", "Bad"],
            "required": False,
            "position": 1,
        }
    ]
    assert answer["embeddedData"] == [{"name": "Store", "defaultValue": "Online"}]


def test_it_does_not_answer_to_the_database_key(superuser_api):
    survey = make_survey()

    assert superuser_api.get(f"surveys/{survey.pk}").status_code == 404


def test_a_put_renames_and_activates(superuser_api):
    survey = make_survey(status=Survey.Status.NEW)
    make_question(survey=survey)

    answer = result(superuser_api.put(f"surveys/{survey.public_id}", {"name": "Renamed", "isActive": True}))

    survey.refresh_from_db()
    assert (survey.name, survey.status) == ("Renamed", Survey.Status.ACTIVE)
    assert answer["isActive"] is True


def test_a_put_pauses_an_active_survey(superuser_api):
    survey = make_survey(status=Survey.Status.ACTIVE)

    superuser_api.put(f"surveys/{survey.public_id}", {"isActive": False})

    survey.refresh_from_db()
    assert survey.status == Survey.Status.PAUSED


def test_activating_a_survey_without_questions_is_refused_as_in_the_admin_and_changes_nothing(superuser_api):
    survey = make_survey(name="Empty", status=Survey.Status.NEW)

    response = superuser_api.put(f"surveys/{survey.public_id}", {"name": "Still empty", "isActive": True})

    assert response.status_code == 400
    assert "Add at least one question" in error(response)["errorMessage"]
    survey.refresh_from_db()
    assert (survey.name, survey.status) == ("Empty", Survey.Status.NEW)
