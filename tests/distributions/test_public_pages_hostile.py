"""Public pages reached with hostile URLs: an unknown link is the 404 page, never a 500."""

import pytest
from django.test import Client

from distributions.models import Response
from tests.factories import make_invitation, make_question, make_survey
from tests.pages import texts

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", ["%00", "abc%00defg", "%00" * 10])
def test_a_short_link_code_holding_a_nul_byte_is_the_404_page(code):
    response = Client(raise_request_exception=False).get(f"/r/{code}")

    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/s/%00/", "/s/%00/opt-out/"])
def test_a_survey_token_holding_a_nul_byte_is_the_404_page(path):
    assert Client(raise_request_exception=False).get(path).status_code == 404


@pytest.mark.parametrize("tail", ["extra/", "%3E", "opt-out/extra/", "%20/"])
def test_a_survey_link_with_something_added_is_the_survey_link_404_page(tail):
    # Mail and SMS apps cut links or glue characters to them; the respondent reads what to do,
    # in the survey pages' look, not Django's bare "Not Found".
    response = Client().get(f"/s/some-token/{tail}")

    assert response.status_code == 404
    assert texts(response.content, "//h1") == ["We can't find this survey link"]
    assert "default-src 'none'" in response["Content-Security-Policy"]


def test_a_short_link_with_something_added_is_the_survey_link_404_page():
    response = Client().get("/r/AbCdEf1234/")

    assert response.status_code == 404
    assert texts(response.content, "//h1") == ["We can't find this survey link"]


def test_other_unknown_paths_keep_django_s_404_page():
    response = Client().get("/nothing-here/")

    assert response.status_code == 404
    assert "We can't find this survey link" not in response.content.decode()


def test_answers_too_large_to_read_get_a_survey_page_saying_so(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    invitation = make_invitation(survey=make_survey(status="active"))
    question = make_question(survey=invitation.distribution.survey, kind="text")
    survey_url = f"/s/{invitation.token}/"
    answers = {f"q{question.pk}": "x" * 2000, "action": "finish"}

    response = Client(raise_request_exception=False).post(survey_url, answers)

    assert response.status_code == 400
    assert texts(response.content, "//h1") == ["Your answers were not sent"]
    assert texts(response.content, "//a/@href") == [survey_url]
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert not Response.objects.exists()
