import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from distributions.models import Distribution, Response
from reporting.charts import Series, bar_chart, nice_ticks
from reporting.summary import WINDOW_DAYS, ratio, survey_channel_summary, survey_daily_responses
from tests.factories import make_distribution, make_invitation, make_survey, make_survey_response, make_user

pytestmark = pytest.mark.django_db

EMAIL, SMS, TWO_WAY = Distribution.Channel.EMAIL, Distribution.Channel.SMS, Distribution.Channel.TWO_WAY_SMS


def invite(distribution, *, started=False, finished=False):
    invitation = make_invitation(distribution=distribution)
    if started or finished:
        make_survey_response(invitation=invitation, finished_at=timezone.now() if finished else None)
    return invitation


def respond(distribution, *, started_days_ago, finished_days_ago=None, now=None):
    """A response started (and maybe finished) that many days before `now` (default: now)."""
    now = now or timezone.now()
    response = make_survey_response(invitation=make_invitation(distribution=distribution))
    finished_at = None if finished_days_ago is None else now - timedelta(days=finished_days_ago)
    Response.objects.filter(pk=response.pk).update(
        started_at=now - timedelta(days=started_days_ago), finished_at=finished_at
    )


# Anything the browser would fetch from elsewhere: a src/href/url() to another host. (The admin's
# own inline SVG carries an xmlns URL, which is a name, never fetched.)
EXTERNAL_REFERENCE = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import"""
)


def summary_url(survey):
    return reverse("reporting:survey_summary", args=[survey.pk])


# --- the numbers ------------------------------------------------------------------------------


def test_it_counts_audience_started_and_finished_per_channel():
    survey = make_survey()
    email = make_distribution(survey=survey, channel=EMAIL)
    other_email = make_distribution(survey=survey, channel=EMAIL)
    sms = make_distribution(survey=survey, channel=SMS)
    invite(email)
    invite(email, started=True)
    invite(email, finished=True)
    invite(other_email, finished=True)
    invite(sms)
    invite(sms, started=True)

    summaries = {summary.channel: summary for summary in survey_channel_summary(survey=survey)}

    assert (summaries[EMAIL].audience, summaries[EMAIL].started, summaries[EMAIL].finished) == (4, 3, 2)
    assert (summaries[SMS].audience, summaries[SMS].started, summaries[SMS].finished) == (2, 1, 0)


def test_it_computes_response_and_completion_rates():
    survey = make_survey()
    email = make_distribution(survey=survey, channel=EMAIL)
    for started, finished in [(False, False), (False, False), (True, False), (False, True)]:
        invite(email, started=started, finished=finished)

    [summary] = survey_channel_summary(survey=survey)

    assert summary.response_rate == 2 / 4
    assert summary.completion_rate == 1 / 2


def test_it_gives_no_completion_rate_when_nobody_started():
    survey = make_survey()
    invite(make_distribution(survey=survey, channel=SMS))

    [summary] = survey_channel_summary(survey=survey)

    assert summary.response_rate == 0
    assert summary.completion_rate is None


def test_ratio_is_none_when_dividing_by_zero():
    assert ratio(0, 0) is None
    assert ratio(3, 0) is None
    assert ratio(1, 4) == 0.25


def test_it_lists_only_channels_with_invitations_in_channel_order():
    survey = make_survey()
    invite(make_distribution(survey=survey, channel=TWO_WAY))
    invite(make_distribution(survey=survey, channel=EMAIL))
    make_distribution(survey=survey, channel=SMS)  # sent to nobody

    assert [summary.channel for summary in survey_channel_summary(survey=survey)] == [EMAIL, TWO_WAY]


def test_it_leaves_out_other_surveys():
    survey = make_survey()
    invite(make_distribution(survey=survey), finished=True)
    invite(make_distribution(survey=make_survey()), finished=True)

    [summary] = survey_channel_summary(survey=survey)

    assert (summary.audience, summary.started, summary.finished) == (1, 1, 1)


# --- the 14-day series ------------------------------------------------------------------------


def test_it_shows_every_day_of_the_window_with_zero_days():
    survey = make_survey()
    email = make_distribution(survey=survey, channel=EMAIL)
    now = timezone.now()
    respond(email, started_days_ago=3, now=now)
    today = timezone.localdate(now)  # the day the response's days count from, even after midnight

    [series] = survey_daily_responses(survey=survey, channels=[EMAIL], today=today)

    assert series.days == [today - timedelta(days=n) for n in range(WINDOW_DAYS - 1, -1, -1)]
    assert series.started == [0] * 10 + [1, 0, 0, 0]
    assert series.finished == [0] * WINDOW_DAYS


def test_it_counts_started_and_finished_on_their_own_days():
    survey = make_survey()
    email = make_distribution(survey=survey, channel=EMAIL)
    now = timezone.now()
    respond(email, started_days_ago=2, finished_days_ago=1, now=now)
    respond(email, started_days_ago=2, finished_days_ago=2, now=now)
    respond(email, started_days_ago=0, now=now)

    [series] = survey_daily_responses(survey=survey, channels=[EMAIL], today=timezone.localdate(now))

    assert series.started[-3:] == [2, 0, 1]
    assert series.finished[-3:] == [1, 1, 0]


def test_it_counts_a_response_started_before_the_window_only_on_its_finish_day():
    survey = make_survey()
    email = make_distribution(survey=survey, channel=EMAIL)
    now = timezone.now()
    respond(email, started_days_ago=30, finished_days_ago=1, now=now)
    respond(email, started_days_ago=20, now=now)

    [series] = survey_daily_responses(survey=survey, channels=[EMAIL], today=timezone.localdate(now))

    assert sum(series.started) == 0
    assert series.finished[-2:] == [1, 0]


def test_it_keeps_channels_apart_in_the_series():
    survey = make_survey()
    now = timezone.now()
    respond(make_distribution(survey=survey, channel=EMAIL), started_days_ago=0, now=now)
    respond(make_distribution(survey=survey, channel=SMS), started_days_ago=0, now=now)
    respond(make_distribution(survey=survey, channel=SMS), started_days_ago=0, now=now)

    series = survey_daily_responses(survey=survey, channels=[EMAIL, SMS], today=timezone.localdate(now))

    assert [(s.channel, s.started[-1]) for s in series] == [(EMAIL, 1), (SMS, 2)]


def test_the_summary_is_a_constant_number_of_queries():
    def queries_for(invitations: int) -> int:
        survey = make_survey()
        for channel in (EMAIL, SMS, TWO_WAY):
            distribution = make_distribution(survey=survey, channel=channel)
            for n in range(invitations):
                invite(distribution, started=n % 2 == 0, finished=n % 3 == 0)
        with CaptureQueriesContext(connection) as queries:
            channels = survey_channel_summary(survey=survey)
            survey_daily_responses(survey=survey, channels=[summary.channel for summary in channels])
        return len(queries)

    assert queries_for(1) == queries_for(12) == 2


# --- charts -----------------------------------------------------------------------------------


def test_a_bar_chart_is_accessible_svg_with_a_data_table():
    chart = bar_chart(
        title="Email: responses per day",
        categories=["Mar 01", "Mar 02"],
        series=[Series("Started", [3, 0]), Series("Finished", [1, 0])],
        x_label="Day",
        y_label="Responses",
    )

    assert '<svg role="img"' in chart
    assert 'aria-label="Email: responses per day.' in chart
    assert "<title>Mar 01 · Started: 3</title>" in chart  # the bar's tooltip
    assert "<title>Email: responses per day</title>" in chart
    assert '<th scope="row">Mar 02</th><td>0</td><td>0</td>' in chart  # a zero day in the table
    assert ">Day</text>" in chart and ">Responses</text>" in chart
    assert 'class="chart-legend"' in chart


def test_a_bar_chart_escapes_names():
    chart = bar_chart(title="<b>", categories=["<i>"], series=[Series("<script>", [1])])

    assert "<script>" not in chart and "<i>" not in chart and "<b>" not in chart
    assert "&lt;script&gt;" in chart


def test_nice_ticks_reach_the_peak_in_round_steps():
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(1000) == [0, 500, 1000]


# --- the page ---------------------------------------------------------------------------------


def test_the_page_shows_rates_and_a_dash_when_dividing_by_zero(admin_client):
    survey = make_survey()
    email = make_distribution(survey=survey, channel=EMAIL)
    invite(email, finished=True)
    invite(email)
    invite(make_distribution(survey=survey, channel=SMS))

    page = admin_client.get(summary_url(survey)).content.decode()

    assert "<td>50.0%</td><td>100.0%</td>" in page  # email
    assert "<td>0.0%</td><td>—</td>" in page  # SMS: nobody started
    assert page.count('<svg role="img"') == 2  # one chart per channel
    assert 'aria-label="Email: responses per day' in page


def test_the_page_has_no_external_urls(admin_client):
    survey = make_survey()
    invite(make_distribution(survey=survey), finished=True)

    page = admin_client.get(summary_url(survey)).content.decode()

    assert EXTERNAL_REFERENCE.search('<script src="https://cdn.example.com/chart.js">')  # the check can fail
    assert not EXTERNAL_REFERENCE.search(page)


def test_the_page_says_when_the_survey_was_not_distributed(admin_client):
    page = admin_client.get(summary_url(make_survey())).content.decode()

    assert "has not been distributed yet" in page


def test_the_page_is_a_constant_number_of_queries(admin_client):
    def queries_for(invitations: int) -> int:
        survey = make_survey()
        distribution = make_distribution(survey=survey)
        for n in range(invitations):
            invite(distribution, finished=n % 2 == 0)
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(summary_url(survey)).status_code == 200
        return len(queries)

    assert queries_for(1) == queries_for(10)


def test_anonymous_users_are_sent_to_the_login(client):
    response = client.get(summary_url(make_survey()))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_the_survey_view_permission_are_refused(client):
    client.force_login(make_user())

    assert client.get(summary_url(make_survey())).status_code == 403


def test_staff_who_may_view_the_survey_but_not_its_invitations_are_refused(client):
    user = make_user()
    user.user_permissions.add(Permission.objects.get(codename="view_survey"))
    client.force_login(user)

    assert client.get(summary_url(make_survey())).status_code == 403


def test_staff_who_may_view_the_survey_and_its_invitations_see_it(client):
    user = make_user()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_survey", "view_invitation"]))
    client.force_login(user)

    assert client.get(summary_url(make_survey())).status_code == 200


def test_the_page_links_to_the_distributions_page_only_for_who_may_open_it(client):
    survey = make_survey()
    distributions_url = reverse("admin:distributions_survey_distributions", args=[survey.pk])
    user = make_user()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_survey", "view_invitation"]))
    client.force_login(user)

    without = client.get(summary_url(survey)).content.decode()
    user.user_permissions.add(Permission.objects.get(codename="view_distribution"))
    user = type(user).objects.get(pk=user.pk)  # a fresh user: permissions are cached on the instance
    client.force_login(user)
    with_it = client.get(summary_url(survey)).content.decode()

    assert f'href="{distributions_url}"' not in without
    assert f'href="{distributions_url}"' in with_it
    assert client.get(distributions_url).status_code == 200


def test_the_survey_admin_page_links_to_the_summary(admin_client):
    survey = make_survey()

    page = admin_client.get(reverse("admin:distributions_survey_change", args=[survey.pk])).content.decode()

    assert f'href="{summary_url(survey)}">Distribution summary</a>' in page


def test_a_bar_chart_gives_each_series_its_own_colour():
    chart = bar_chart(
        title="Runs", categories=["Mar 01"], series=[Series("Succeeded", [1], "#009E73"), Series("Skipped", [1])]
    )

    assert chart.count('fill="#009E73"') == 1
