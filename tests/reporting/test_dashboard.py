from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from distributions.models import Distribution, Invitation
from distributions.services.responses import invitation_opt_out
from reporting.summary import WINDOW_DAYS, invitation_funnel, runs_per_day_by_status
from tests.factories import (
    make_delivery_event,
    make_distribution,
    make_invitation,
    make_run,
    make_survey,
    make_survey_response,
    make_user,
    make_workflow,
)
from tests.pages import texts
from tests.reporting.test_summary import EXTERNAL_REFERENCE
from workflows.models import Run

pytestmark = pytest.mark.django_db

Status = Invitation.Status
DASHBOARD_URL = "/admin/reporting/dashboard/"


def run_created(workflow, *, days_ago: int, status=Run.Status.SUCCEEDED, now=None):
    run = make_run(workflow=workflow, status=status)
    Run.objects.filter(pk=run.pk).update(created_at=(now or timezone.now()) - timedelta(days=days_ago))
    return run


def invitation(distribution, status=Status.PENDING, *, started=False, finished=False, delivered_kind=""):
    made = make_invitation(distribution=distribution, status=status)
    if started or finished:
        make_survey_response(invitation=made, finished_at=timezone.now() if finished else None)
    if delivered_kind:
        make_delivery_event(invitation=made, kind=delivered_kind)
    return made


def funnel_counts() -> dict[str, int]:
    return {step.label: step.count for step in invitation_funnel()}


# --- runs per day -----------------------------------------------------------------------------


def test_it_counts_runs_per_day_by_status_with_zero_days():
    workflow = make_workflow()
    now = timezone.now()
    run_created(workflow, days_ago=0, now=now)
    run_created(workflow, days_ago=0, status=Run.Status.FAILED, now=now)
    run_created(workflow, days_ago=2, status=Run.Status.FAILED, now=now)
    run_created(workflow, days_ago=WINDOW_DAYS, now=now)  # before the window
    today = timezone.localdate(now)  # the day the runs' days count from, even after midnight

    runs = runs_per_day_by_status(today=today)

    assert runs.days[-1] == today and len(runs.days) == WINDOW_DAYS
    assert runs.by_status["succeeded"] == [0] * 13 + [1]
    assert runs.by_status["failed"] == [0] * 11 + [1, 0, 1]
    assert runs.by_status["queued"] == [0] * WINDOW_DAYS
    assert list(runs.by_status) == [status.value for status in Run.Status]


# --- the funnel -------------------------------------------------------------------------------


def test_the_funnel_counts_each_step_as_got_at_least_this_far():
    email = make_distribution(channel=Distribution.Channel.EMAIL)
    sms = make_distribution(channel=Distribution.Channel.SMS)
    invitation(email)  # pending: nowhere
    invitation(email, Status.EMAIL_SKIPPED)  # nowhere
    invitation(email, Status.EMAIL_FAILED)  # nowhere
    invitation(email, Status.EMAIL_SENT)  # sent
    invitation(email, Status.EMAIL_HARD_BOUNCE)  # sent
    invitation(email, Status.EMAIL_SENT, delivered_kind="delivered")  # delivered
    invitation(email, Status.EMAIL_SENT, delivered_kind="email_delivered")  # delivered
    invitation(email, Status.EMAIL_OPENED)  # opened
    invitation(email, Status.SURVEY_STARTED, started=True)  # started
    invitation(email, Status.SURVEY_FINISHED, finished=True, delivered_kind="delivered")  # finished
    invitation(sms, Status.SMS_SENT)  # sent
    invitation(sms, Status.SMS_DELIVERED)  # delivered
    invitation(sms, Status.SURVEY_FINISHED, finished=True)  # finished

    assert funnel_counts() == {"Sent": 10, "Delivered": 7, "Opened": 4, "Started": 3, "Finished": 2}


def test_a_response_counts_on_every_earlier_step_whatever_the_status():
    # A late event can leave the status behind the response (e.g. link expired, then finished).
    invitation(make_distribution(), Status.LINK_EXPIRED, finished=True)

    assert funnel_counts() == {"Sent": 1, "Delivered": 1, "Opened": 1, "Started": 1, "Finished": 1}


def test_a_recipient_who_opted_out_from_the_message_counts_as_sent_and_delivered():
    # Sent, delivered (the ESP said so), then the recipient used the email's opt-out link.
    after_sending = invitation(make_distribution(), Status.EMAIL_SENT, delivered_kind="delivered")
    Invitation.objects.filter(pk=after_sending.pk).update(sent_at=timezone.now())
    after_sending.refresh_from_db()
    assert invitation_opt_out(invitation=after_sending)
    # Opted out before: the recipient rules skipped it, nothing went out.
    invitation(make_distribution(), Status.OPTED_OUT)

    assert funnel_counts() == {"Sent": 1, "Delivered": 1, "Opened": 0, "Started": 0, "Finished": 0}


def test_a_delivered_event_for_an_email_still_being_recorded_counts_as_sent():
    # The ESP's webhook can arrive before the worker has recorded Email Sent: never more
    # delivered than sent.
    in_flight = invitation(make_distribution(), Status.PENDING, delivered_kind="delivered")
    Invitation.objects.filter(pk=in_flight.pk).update(sent_at=timezone.now())

    assert funnel_counts() == {"Sent": 1, "Delivered": 1, "Opened": 0, "Started": 0, "Finished": 0}


def test_the_funnel_leaves_out_invitations_created_before_the_window():
    old = invitation(make_distribution(), Status.SURVEY_FINISHED, finished=True)
    Invitation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=WINDOW_DAYS))

    assert set(funnel_counts().values()) == {0}


def test_the_funnel_ignores_events_that_are_not_deliveries():
    invitation(make_distribution(), Status.EMAIL_SENT, delivered_kind="deferred")

    assert funnel_counts()["Delivered"] == 0


# --- the page ---------------------------------------------------------------------------------


def test_the_dashboard_draws_both_charts_accessibly(admin_client):
    run_created(make_workflow(), days_ago=1, status=Run.Status.FAILED)
    invitation(make_distribution(), Status.EMAIL_SENT)

    page = admin_client.get(DASHBOARD_URL).content.decode()

    assert page.count('<svg role="img"') == 2
    assert 'aria-label="Workflow runs per day by status (last 14 days).' in page
    assert 'aria-label="Invitation funnel (invitations created in the last 14 days).' in page
    assert "Failed: 1</title>" in page  # a bar's tooltip
    assert page.count('class="chart-data"') == 2  # a data table under each chart
    # The runs chart's legend names every status, those without runs too.
    assert texts(page, '(//ul[@class="chart-legend"])[1]/li') == [label for _, label in Run.Status.choices]


def test_the_dashboard_links_to_each_surveys_summary(admin_client):
    survey = make_survey(name="Case closed")

    page = admin_client.get(DASHBOARD_URL).content.decode()

    assert f'href="{reverse("reporting:survey_summary", args=[survey.pk])}">Case closed</a>' in page


def test_the_dashboard_has_no_external_urls(admin_client):
    invitation(make_distribution(), Status.SURVEY_FINISHED, finished=True)

    page = admin_client.get(DASHBOARD_URL).content.decode()

    assert not EXTERNAL_REFERENCE.search(page)


def test_the_dashboard_is_a_constant_number_of_queries(admin_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(DASHBOARD_URL).status_code == 200
        return len(captured)

    workflow = make_workflow()
    distribution = make_distribution()
    run_created(workflow, days_ago=0)
    invitation(distribution, Status.EMAIL_SENT)
    few = queries()
    for days_ago in range(10):
        run_created(workflow, days_ago=days_ago, status=Run.Status.FAILED)
        invitation(distribution, Status.SURVEY_FINISHED, finished=True, delivered_kind="delivered")

    assert queries() == few


def test_anonymous_users_are_sent_to_the_login(client):
    response = client.get(DASHBOARD_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_users_who_are_not_staff_are_sent_to_the_login(client):
    client.force_login(make_user(is_staff=False))

    response = client.get(DASHBOARD_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_dashboard_url_is_the_named_one():
    assert reverse("reporting:dashboard") == DASHBOARD_URL


@pytest.mark.parametrize(
    "permissions",
    [
        (),
        ("workflows.view_run",),
        ("distributions.view_invitation",),
        ("distributions.view_survey",),
        ("workflows.view_workflow", "directory.view_contact"),
    ],
)
def test_the_admin_index_links_to_the_dashboard_exactly_for_who_may_open_it(client, permissions):
    user = make_user()
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client.force_login(user)

    index = client.get(reverse("admin:index"))
    links = texts(index.content, "//div[@id='reporting-dashboard']//caption/a/@href")

    may_open = client.get(reverse("reporting:dashboard")).status_code == 200
    assert links == ([reverse("reporting:dashboard")] if may_open else [])
    assert may_open == bool({"workflows.view_run", "distributions.view_invitation"} & set(permissions))
