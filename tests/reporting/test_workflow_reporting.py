"""Workflow Reporting's run list: filters, searches, and no full count at scale."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reporting.run_selectors import runs_search
from tests.factories import case_fields, make_contact, make_run, make_task_run, make_workflow
from tests.pages import result_rows, texts
from workflows.models import Run

pytestmark = pytest.mark.django_db

RUNS_URL = reverse("admin:workflows_run_changelist")


def listed_run_ids(admin_client, query=None):
    response = admin_client.get(RUNS_URL, query or {})
    assert response.status_code == 200
    return {run.pk for run in response.context["cl"].result_list}


@pytest.mark.parametrize("status", [choice for choice, _ in Run.Status.choices])
def test_it_filters_runs_by_each_status(admin_client, status):
    workflow = make_workflow()
    wanted = make_run(workflow=workflow, status=status)
    other_status = Run.Status.SUCCEEDED if status != Run.Status.SUCCEEDED else Run.Status.FAILED
    make_run(workflow=workflow, status=other_status)

    assert listed_run_ids(admin_client, {"status__exact": status}) == {wanted.pk}


def test_it_filters_runs_by_workflow(admin_client):
    wanted = make_run(workflow=make_workflow())
    make_run(workflow=make_workflow())

    assert listed_run_ids(admin_client, {"workflow__id__exact": wanted.workflow_id}) == {wanted.pk}


def test_it_filters_runs_by_salesforce_object(admin_client):
    wanted = make_run(workflow=make_workflow(salesforce_object="Opportunity"))
    make_run(workflow=make_workflow(salesforce_object="Case"))

    assert listed_run_ids(admin_client, {"workflow__salesforce_object": "Opportunity"}) == {wanted.pk}


def test_it_filters_runs_by_date_range(admin_client):
    workflow = make_workflow()
    now = timezone.now()
    old, recent, today = (make_run(workflow=workflow) for _ in range(3))
    Run.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=40))
    Run.objects.filter(pk=recent.pk).update(created_at=now - timedelta(days=3))
    Run.objects.filter(pk=today.pk).update(created_at=now)
    local_today = timezone.localdate(now)  # the runs' day, even if midnight has passed since

    last_week = {"created_at_from": (local_today - timedelta(days=6)).isoformat()}
    only_recent = {
        "created_at_from": (local_today - timedelta(days=10)).isoformat(),
        "created_at_to": (local_today - timedelta(days=1)).isoformat(),
    }
    assert listed_run_ids(admin_client, last_week) == {recent.pk, today.pk}
    assert listed_run_ids(admin_client, only_recent) == {recent.pk}


def test_it_offers_quick_date_ranges(admin_client):
    make_run(workflow=make_workflow())

    before = timezone.localdate()
    content = admin_client.get(RUNS_URL).content
    after = timezone.localdate()  # the page's today: either, should midnight pass meanwhile

    [last_week] = texts(content, '//*[@id="changelist-filter"]//a[normalize-space()="Last 7 days"]/@href')
    week_ago = {(today - timedelta(days=6)).isoformat() for today in (before, after)}
    [created_at_from] = parse_qs(urlsplit(last_week).query)["created_at_from"]
    assert created_at_from in week_ago
    assert texts(content, '//*[@id="changelist-filter"]//input[@name="created_at_from"]/@type') == ["date"]


def test_it_explains_a_malformed_date(admin_client):
    response = admin_client.get(RUNS_URL, {"created_at_from": "yesterday"})

    # The admin's answer to a bad lookup parameter: back to the list with ?e=1, not a 500.
    assert response.status_code == 302
    assert "e=1" in response["Location"]


def test_it_finds_a_run_by_salesforce_record_id(admin_client):
    workflow = make_workflow()
    wanted = make_run(workflow=workflow, fields=case_fields(Id="500AA0000012345AAA"))
    make_run(workflow=workflow)

    assert listed_run_ids(admin_client, {"q": "500AA0000012345AAA"}) == {wanted.pk}


@pytest.mark.parametrize("term", ["5005g00000ABCDE", "5005G00000ABCDEAA5", "5005g00000abcdeaa5"])
def test_it_finds_a_run_by_the_other_forms_of_its_records_id(admin_client, term):
    # Salesforce sends 5005g00000ABCDEAA5; a record's URL may show the 15-character form.
    workflow = make_workflow()
    wanted = make_run(workflow=workflow, fields=case_fields(Id="5005g00000ABCDEAA5"))
    make_run(workflow=workflow, fields=case_fields(Id="5005g00000abcdeAAA"))  # another record

    assert listed_run_ids(admin_client, {"q": term}) == {wanted.pk}


def test_it_finds_a_run_by_notification_id(admin_client):
    workflow = make_workflow()
    wanted = make_run(workflow=workflow)
    make_run(workflow=workflow)

    assert listed_run_ids(admin_client, {"q": wanted.notification.notification_id}) == {wanted.pk}


def test_the_search_by_id_reads_indexes_not_the_notification_table(postgres_only):
    run = make_run(workflow=make_workflow())
    term = run.notification.notification_id

    # With sequential scans priced out, a plan still scanning the table would mean no index serves
    # the search: the notification id is looked up in notification_once (notification id first).
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = runs_search(runs=Run.objects.all(), term=term).explain()

    assert "notification_once" in plan
    assert "notification_record" in plan
    assert "Seq Scan on workflows_notification" not in plan


def test_it_matches_ids_exactly_as_salesforce_does(admin_client):
    wanted = make_run(workflow=make_workflow(), fields=case_fields(Id="500AA0000012345AAA"))

    assert listed_run_ids(admin_client, {"q": "500aa0000012345aaa"}) == set()
    assert wanted.pk not in listed_run_ids(admin_client, {"q": "500AA00000"})


def test_it_finds_the_runs_that_acted_on_a_contact_by_email(admin_client):
    workflow = make_workflow()
    ada = make_contact(email="Ada@Example.com")
    wanted = make_run(workflow=workflow)
    make_task_run(run=wanted, output={"ContactId": str(ada.pk)})
    other = make_run(workflow=workflow)
    make_task_run(run=other, output={"ContactId": str(make_contact(email="grace@example.com").pk)})

    assert listed_run_ids(admin_client, {"q": "ada@example.COM"}) == {wanted.pk}


def test_it_lists_the_columns_of_a_run(admin_client):
    run = make_run(
        workflow=make_workflow(name="Closed cases", salesforce_object="Case"),
        fields=case_fields(Id="500AA0000099999AAA"),
        status=Run.Status.FAILED,
        attempts=2,
    )
    make_task_run(run=run, status="failed", error="No email address: ContactEmail was empty.")

    response = admin_client.get(RUNS_URL)

    assert response.context_data["title"] == "Workflow Reporting"
    [row] = result_rows(response.content)
    assert {column: row[column] for column in row if column != "started"} == {
        "test_marker": "Salesforce",
        "workflow": "Closed cases",
        "salesforce_object": "Case",
        "record_id": "500AA0000099999AAA",
        "status": "Failed",
        "attempts": "2",
        "replay_of_run": "-",
        "short_error": "No email address: ContactEmail was empty.",
    }


def test_it_does_not_count_the_whole_run_table(admin_client):
    workflow = make_workflow()
    for _ in range(3):
        make_run(workflow=workflow)

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(RUNS_URL)

    assert response.status_code == 200
    counts = [query["sql"] for query in queries if "COUNT(" in query["sql"].upper()]
    assert counts, "the paginator counts something"
    assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_it_counts_past_the_cap_as_the_cap(admin_client, monkeypatch):
    from workflows.admin import pagination as paginator

    monkeypatch.setattr(paginator, "COUNT_CAP", 2)
    workflow = make_workflow()
    for _ in range(3):
        make_run(workflow=workflow, status=Run.Status.FAILED)

    response = admin_client.get(RUNS_URL, {"status__exact": "failed"})

    assert response.context["cl"].result_count == 2


def test_it_shows_which_run_a_replay_replays(admin_client):
    from workflows.services.replay import runs_replay

    workflow = make_workflow()
    original = make_run(workflow=workflow, status=Run.Status.FAILED)
    assert f"run {original.pk}<" not in admin_client.get("/admin/workflows/run/").content.decode()
    runs_replay(runs=[original], user=original.workflow.owner)
    assert f"run {original.pk}<" in admin_client.get("/admin/workflows/run/").content.decode()
