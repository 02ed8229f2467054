"""A two-way SMS survey whose session expired after some answers was started: the survey's
Distributions page, the API's stats and the summary all count it so."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from distributions.selectors import distribution_with_counts
from distributions.services.sms_sessions import sms_sessions_expire
from reporting.summary import survey_channel_summary
from tests.distributions.sms_surveys import make_sms_survey, reply, send_two_way, status

pytestmark = pytest.mark.django_db


def expired(*, answers: list[str]):
    invitation, _ = send_two_way(make_sms_survey())
    for body in answers:
        reply(body)
    assert sms_sessions_expire(now=timezone.now() + timedelta(days=2)) == 1
    assert status(invitation) == "Session Expired"
    return invitation


def test_an_expired_session_with_answers_counts_as_started_on_the_distributions_page(admin_client):
    invitation = expired(answers=["2"])
    survey = invitation.distribution.survey

    page = admin_client.get(reverse("admin:distributions_survey_distributions", args=[survey.pk]))

    [(row, _, _)] = page.context["distributions"]
    assert (row.sent, row.opened, row.started, row.finished) == (1, 1, 1, 0)
    [summary] = survey_channel_summary(survey=survey)
    assert (summary.started, summary.finished) == (row.started, row.finished)


def test_an_expired_session_without_answers_is_not_started():
    invitation = expired(answers=[])

    counts = distribution_with_counts(distribution_id=invitation.distribution_id)

    assert (counts.sent, counts.started) == (1, 0)
    [summary] = survey_channel_summary(survey=invitation.distribution.survey)
    assert summary.started == 0
