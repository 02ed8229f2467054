"""Two submits of one survey link at once (PostgreSQL, threads with their own connections): a
double click, or two tabs. One response is written, started and finished once, and each request
gets a page that says what happened to its answers."""

import time

import pytest
from django.test import Client

from distributions.models import Invitation, Response
from distributions.services import responses
from tests.factories import make_contact, make_invitation, make_question, make_survey
from tests.pages import texts
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slow_merge(monkeypatch, postgres_only):
    """Checking answers takes a moment: without the invitation's lock, both submits would read no
    response yet and each write one, or both finish it."""
    merge = responses.answers_merge

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return merge(*args, **kwargs)

    monkeypatch.setattr(responses, "answers_merge", slow)


@pytest.fixture
def invitation():
    survey = make_survey(thank_you="Thanks!")
    make_question(survey=survey, kind="rating", text="Recommend us?", required=True)
    contact = make_contact(first_name="Ada", email="ada@example.com")
    return make_invitation(survey=survey, contact=contact, status=Invitation.Status.EMAIL_SENT)


def submit(invitation, rating):
    question = invitation.distribution.survey.questions.get()
    page = Client().post(f"/s/{invitation.token}/", {f"q{question.pk}": rating, "action": "finish"})
    return page.status_code, texts(page.content, "//h1")


def test_a_double_click_finishes_once_and_thanks_both(slow_merge, invitation):
    pages = run_together(2, lambda i: submit(invitation, "9"))

    assert pages == [(200, ["Your answers are in"])] * 2
    response = Response.objects.get(invitation=invitation)
    assert response.answers == {str(invitation.distribution.survey.questions.get().pk): 9}
    kinds = list(invitation.events.order_by("id").values_list("kind", flat=True))
    assert kinds == ["started", "finished"]
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SURVEY_FINISHED


def test_two_tabs_with_other_answers_keep_the_first_and_tell_the_second(slow_merge, invitation):
    pages = run_together(2, lambda i: submit(invitation, str(i + 1)))

    thanks, refused = (200, ["Your answers are in"]), (200, ["You have already answered this survey. Thank you."])
    assert sorted(pages) == sorted([thanks, refused])
    kept = Response.objects.get(invitation=invitation).answers
    thanked = pages.index(thanks)
    assert list(kept.values()) == [thanked + 1]
