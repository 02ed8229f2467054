from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.conftest import error, result
from tests.factories import make_contact, make_run, make_task_run, make_workflow
from workflows.models import Run

pytestmark = pytest.mark.django_db


def test_it_lists_workflows(superuser_api):
    workflow = make_workflow(name="Closed cases", salesforce_object="Case")

    (element,) = result(superuser_api.get("workflows"))["elements"]

    assert (element["id"], element["name"], element["salesforceObject"], element["isEnabled"]) == (
        workflow.pk,
        "Closed cases",
        "Case",
        True,
    )


def test_it_lists_a_workflows_runs_newest_first(superuser_api):
    workflow = make_workflow()
    old = make_run(workflow=workflow)
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    new = make_run(workflow=workflow)
    make_run(workflow=make_workflow())

    elements = result(superuser_api.get(f"workflows/{workflow.pk}/runs"))["elements"]

    assert [row["id"] for row in elements] == [new.pk, old.pk]


def test_it_filters_runs_as_workflow_reporting_does(superuser_api):
    today = timezone.localdate()  # before the runs: one made after midnight is still from today on
    workflow = make_workflow()
    failed = make_run(workflow=workflow, status=Run.Status.FAILED)
    make_run(workflow=workflow, status=Run.Status.SUCCEEDED)
    old = make_run(workflow=workflow, status=Run.Status.FAILED)
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    searched = make_run(workflow=workflow, fields={"Id": "500ABCDEFGHIJKLMNO"})
    url = f"workflows/{workflow.pk}/runs"

    by_status = result(superuser_api.get(url, status="failed", **{"from": today.isoformat()}))["elements"]
    by_record = result(superuser_api.get(url, search="500ABCDEFGHIJKLMNO"))["elements"]
    up_to = result(superuser_api.get(url, to=(today - timedelta(days=5)).isoformat()))["elements"]

    assert [row["id"] for row in by_status] == [failed.pk]
    assert [row["id"] for row in by_record] == [searched.pk]
    assert [row["id"] for row in up_to] == [old.pk]


def test_it_refuses_a_filter_it_cannot_read(superuser_api):
    workflow = make_workflow()

    response = superuser_api.get(f"workflows/{workflow.pk}/runs", status="lost", to="next tuesday")

    assert response.status_code == 400
    assert set(error(response)["fieldErrors"]) == {"status", "to"}


def test_a_run_shows_its_event_fields_conditions_and_task_attempts(superuser_api):
    workflow = make_workflow()
    run = make_run(
        workflow=workflow,
        status=Run.Status.FAILED,
        attempts=1,
        fields={"Id": "500ABCDEFGHIJKLMNO", "Priority": "High"},
        condition_results=[
            {"field": "Priority", "operator": "equals", "expected": "High", "actual": "High", "passed": True}
        ],
    )
    make_task_run(run=run, status="failed", error="Mailbox unavailable.", resolved_input={"Email": "ada@example.com"})

    answer = result(superuser_api.get(f"workflows/{workflow.pk}/runs/{run.pk}"))

    assert answer["eventFields"]["Priority"] == "High"
    assert answer["eventFields"]["_Object"] == "Case"
    assert answer["conditionsEvaluated"] is True
    assert answer["conditions"][0]["passed"] is True
    (attempt,) = answer["taskAttempts"]
    assert (attempt["status"], attempt["error"], attempt["resolvedInput"]) == (
        "failed",
        "Mailbox unavailable.",
        {"Email": "ada@example.com"},
    )
    assert answer["firstError"] == "Mailbox unavailable."


def test_a_run_of_another_workflow_is_not_found(superuser_api):
    run = make_run(workflow=make_workflow())

    assert superuser_api.get(f"workflows/{make_workflow().pk}/runs/{run.pk}").status_code == 404


def test_replay_queues_a_new_run_linked_to_the_original(superuser_api):
    workflow = make_workflow()
    run = make_run(workflow=workflow, status=Run.Status.FAILED)

    response = superuser_api.post(f"workflows/{workflow.pk}/runs/{run.pk}/replay")

    replay = Run.objects.get(replay_of=run)
    assert response.status_code == 201
    assert result(response) == {"runId": replay.pk, "replayOf": run.pk, "status": replay.status}


def test_replay_of_a_disabled_workflows_run_says_to_enable_it(superuser_api):
    workflow = make_workflow(enabled=False)
    run = make_run(workflow=workflow)

    response = superuser_api.post(f"workflows/{workflow.pk}/runs/{run.pk}/replay")

    assert response.status_code == 400
    assert "Enable" in error(response)["errorMessage"]
    assert Run.objects.count() == 1


def test_a_deleted_contacts_task_inputs_are_erased(superuser_api):
    workflow = make_workflow()
    contact = make_contact(email="ada@example.com")
    run = make_run(workflow=workflow)
    contact_ref = str(contact.pk)
    make_task_run(run=run, resolved_input={"Email": "ada@example.com"}, output={"ContactId": contact_ref})

    contact.delete()

    (attempt,) = result(superuser_api.get(f"workflows/{workflow.pk}/runs/{run.pk}"))["taskAttempts"]
    assert attempt["resolvedInput"] == {}
    assert attempt["output"] == {"ContactId": contact_ref}


@pytest.mark.parametrize("number", ["99999999999999999999999", "١٢"])
def test_a_number_no_row_can_have_is_a_404(superuser_api, number):
    workflow = make_workflow()

    assert superuser_api.get(f"workflows/{number}/runs").status_code == 404
    assert superuser_api.get(f"workflows/{workflow.pk}/runs/{number}").status_code == 404


@pytest.mark.parametrize(
    ("time_zone", "filters", "listed"),
    [
        ("UTC", {"to": "9999-12-31"}, True),
        ("Asia/Tokyo", {"from": "0001-01-01"}, True),
        ("America/New_York", {"from": "9999-12-31"}, False),
        ("America/New_York", {"to": "9999-12-30"}, True),
    ],
)
def test_the_first_and_last_days_of_the_calendar_filter_runs(superuser_api, settings, time_zone, filters, listed):
    settings.TIME_ZONE = time_zone
    run = make_run(workflow=make_workflow())

    elements = result(superuser_api.get(f"workflows/{run.workflow_id}/runs", **filters))["elements"]

    assert [row["id"] for row in elements] == ([run.pk] if listed else [])


@pytest.mark.parametrize("day", ["01/02/2024", "2024-01-02T00:00:00Z", "20240102"])
def test_a_date_filter_is_written_yyyy_mm_dd(superuser_api, day):
    workflow = make_workflow()

    response = superuser_api.get(f"workflows/{workflow.pk}/runs", **{"from": day})

    assert response.status_code == 400
    assert error(response)["fieldErrors"] == {"from": ["Write the date as YYYY-MM-DD, e.g. 2024-03-05."]}


def test_the_schema_publishes_the_run_filters(client):
    schema = client.get("/API/v3/schema/?format=json").json()

    parameters = schema["paths"]["/API/v3/workflows/{workflowId}/runs"]["get"]["parameters"]
    query = {parameter["name"]: parameter["schema"] for parameter in parameters if parameter["in"] == "query"}

    assert set(query) == {"status", "from", "to", "search", "pageSize", "skipToken"}
    assert set(query["status"]["enum"]) == set(Run.Status.values)
    assert query["from"]["format"] == query["to"]["format"] == "date"
