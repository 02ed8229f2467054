"""Test events' runs in reporting: marked and filterable in Workflow Reporting, out of the dashboard."""

import pytest
from django.contrib.auth.models import Permission

from distributions.models import Invitation
from reporting.summary import invitation_funnel, runs_per_day_by_status
from tests.factories import make_distribution, make_invitation, make_run, make_user, make_workflow
from tests.pages import result_rows, texts
from workflows.models import Run
from workflows.models import TestEvent as SentTestEvent

pytestmark = pytest.mark.django_db

RUNS_URL = "/admin/workflows/run/"
DASHBOARD_URL = "/admin/reporting/dashboard/"


def test_run(workflow, **fields):
    test_event = SentTestEvent.objects.create(
        workflow=workflow, notification_id="04l000000000001AAA", test_recipient="tester@example.org"
    )
    return make_run(workflow=workflow, test_event=test_event, **fields)


test_run.__test__ = False  # a builder, not a test


def test_workflow_reporting_marks_test_runs_and_filters_them(admin_client):
    workflow = make_workflow()
    make_run(workflow=workflow)
    test_run(workflow)

    rows = result_rows(admin_client.get(RUNS_URL).content)
    assert sorted(row["test_marker"] for row in rows) == ["Salesforce", "Test"]

    only_tests = result_rows(admin_client.get(RUNS_URL, {"source": "test"}).content)
    only_real = result_rows(admin_client.get(RUNS_URL, {"source": "salesforce"}).content)
    assert [row["test_marker"] for row in only_tests] == ["Test"]
    assert [row["test_marker"] for row in only_real] == ["Salesforce"]


def test_a_test_runs_page_says_who_sent_it_and_where_its_emails_went(admin_client):
    run = test_run(make_workflow())

    response = admin_client.get(f"{RUNS_URL}{run.pk}/change/")

    [note] = texts(response.content, "//div[contains(@class, 'field-test_event_note')]//div[@class='readonly']")
    assert note.startswith("Test sent from the admin")
    assert "tester@example.org" in note and "Left out of the dashboard's counts" in note


def test_the_dashboard_leaves_test_runs_out_of_its_counts():
    workflow = make_workflow()
    make_run(workflow=workflow, status=Run.Status.SUCCEEDED)
    test_run(workflow, status=Run.Status.SUCCEEDED)
    test_run(workflow, status=Run.Status.FAILED)

    runs = runs_per_day_by_status()

    assert runs.by_status["succeeded"][-1] == 1
    assert runs.by_status["failed"][-1] == 0


def test_the_dashboards_funnel_leaves_test_runs_invitations_out():
    workflow = make_workflow()
    sent = Invitation.Status.EMAIL_SENT
    make_invitation(distribution=make_distribution(run=make_run(workflow=workflow)), status=sent)
    make_invitation(distribution=make_distribution(run=test_run(workflow)), status=sent)
    make_invitation(distribution=make_distribution(), status=sent)  # not from a workflow run: counted

    steps = {step.label: step.count for step in invitation_funnel()}

    assert steps["Sent"] == 2


def test_the_dashboard_chart_counts_only_salesforce_runs(client):
    user = make_user()
    user.user_permissions.add(Permission.objects.get(codename="view_run"))
    client.force_login(user)
    workflow = make_workflow()
    test_run(workflow, status=Run.Status.SUCCEEDED)

    response = client.get(DASHBOARD_URL)

    assert response.status_code == 200
    assert "Succeeded 0" in response.content.decode()


def test_the_dashboard_says_that_test_runs_are_left_out(admin_client):
    page = " ".join(admin_client.get(DASHBOARD_URL).content.decode().split())

    assert "Runs of test events (sent from a workflow's page) are left out" in page.replace("&#x27;", "'")
    assert "Invitations sent by test events' runs are left out" in page.replace("&#x27;", "'")
