"""A run's detail page in Workflow Reporting, and replaying runs from it and from the list."""

import pytest
from django.urls import reverse

from tests.factories import (
    make_contact,
    make_distribution,
    make_invitation,
    make_run,
    make_task_run,
    make_workflow,
)
from workflows.models import Run, Workflow

pytestmark = pytest.mark.django_db


def detail(admin_client, run):
    response = admin_client.get(reverse("admin:workflows_run_change", args=[run.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_the_event_fields_with_their_metadata(admin_client):
    run = make_run(workflow=make_workflow())

    content = detail(admin_client, run)

    assert "<th>Store__c</th><td>Milan</td>" in content
    assert f"<th>_NotificationId</th><td>{run.notification.notification_id}</td>" in content
    assert "<th>_Object</th><td>Case</td>" in content


def test_it_shows_each_condition_with_its_event_value_and_result(admin_client):
    result = {"field": "IsClosed", "operator": "equals", "expected": "true", "actual": "false", "passed": False}
    run = make_run(workflow=make_workflow(), status="conditions_not_met", condition_results=[result])

    content = detail(admin_client, run)

    assert (
        "<td>IsClosed</td><td>equals (case-sensitive)</td><td>true</td><td>false</td><td>False</td><td></td>" in content
    )


def test_it_words_each_condition_operator_as_the_workflow_page_does(admin_client):
    results = [
        {"field": "Origin", "operator": "equals_ignoring_case", "expected": "web", "actual": "Web", "passed": True},
        {"field": "Tier", "operator": "retired_operator", "expected": "x", "actual": "x", "passed": True},
    ]
    run = make_run(workflow=make_workflow(), status="succeeded", condition_results=results)

    content = detail(admin_client, run)

    assert "<td>Origin</td><td>equals (ignoring case)</td><td>web</td>" in content
    assert "<td>Tier</td><td>retired_operator</td>" in content


@pytest.mark.parametrize(
    "status, attempts, shown",
    [
        ("queued", 0, "Not evaluated yet: the run is queued"),
        ("running", 1, "Not evaluated yet: the run is running"),
        ("succeeded", 1, "No conditions: every event runs the tasks."),
        ("queued", 1, "No conditions: every event runs the tasks."),  # a retry: evaluated at attempt 1
    ],
)
def test_it_tells_conditions_not_evaluated_yet_from_no_conditions(admin_client, status, attempts, shown):
    run = make_run(workflow=make_workflow(), status=status, attempts=attempts, condition_results=[])

    assert shown in detail(admin_client, run)


def test_it_shows_every_task_attempt_with_input_output_error_and_timing(admin_client):
    run = make_run(workflow=make_workflow(), status="succeeded")
    make_task_run(run=run, attempt=1, status="retrying", error="SMTP server unavailable, will retry.")
    make_task_run(
        run=run,
        attempt=2,
        resolved_input={"email": "ada@example.com"},
        output={"ContactAction": "created"},
        notes=["Customer_Last_Name__c was empty."],
    )

    content = detail(admin_client, run)

    assert "SMTP server unavailable, will retry." in content
    assert "Failed, will retry" in content
    assert "<th>email</th><td>ada@example.com</td>" in content
    assert "<th>ContactAction</th><td>created</td>" in content
    assert "<li>Customer_Last_Name__c was empty.</li>" in content
    assert "250 ms" in content


def test_it_links_the_contact_distribution_invitation_and_inbound_message(admin_client):
    run = make_run(workflow=make_workflow(), status="succeeded")
    contact = make_contact(first_name="Ada", email="ada@example.com")
    distribution = make_distribution(run=run, task_position=1)
    invitation = make_invitation(distribution=distribution, contact=contact)
    make_task_run(run=run, kind="distribute_survey", output={"ContactId": str(contact.pk)})

    content = detail(admin_client, run)

    assert reverse("admin:directory_contact_change", args=[contact.pk]) in content
    assert reverse("admin:distributions_distribution_change", args=[distribution.pk]) in content
    assert reverse("admin:distributions_invitation_change", args=[invitation.pk]) in content
    assert reverse("admin:workflows_inboundmessage_change", args=[run.notification.inbound_message_id]) in content


def test_it_links_a_replay_and_its_original_both_ways(admin_client):
    original = make_run(workflow=make_workflow(), status="failed")
    replay = Run.objects.create(
        workflow=original.workflow,
        notification=original.notification,
        replay_of=original,
        next_attempt_at=original.next_attempt_at,
    )

    assert reverse("admin:workflows_run_change", args=[replay.pk]) in detail(admin_client, original)
    assert reverse("admin:workflows_run_change", args=[original.pk]) in detail(admin_client, replay)


def test_it_lets_nobody_edit_a_run(admin_client):
    run = make_run(workflow=make_workflow())

    response = admin_client.post(reverse("admin:workflows_run_change", args=[run.pk]), {"status": "failed"})

    run.refresh_from_db()
    assert response.status_code == 403
    assert run.status == "queued"


def test_it_replays_from_the_detail_button_as_a_new_linked_run(admin_client):
    original = make_run(workflow=make_workflow(), status="failed", attempts=3)
    make_task_run(run=original, status="failed", error="Mailbox unavailable.")

    assert reverse("admin:workflows_run_replay", args=[original.pk]) in detail(admin_client, original)
    response = admin_client.post(reverse("admin:workflows_run_replay", args=[original.pk]), follow=True)

    replay = Run.objects.get(replay_of=original)
    original.refresh_from_db()
    assert response.redirect_chain[-1][0] == reverse("admin:workflows_run_change", args=[replay.pk])
    assert f"Replayed as run {replay.pk}" in response.content.decode()
    assert replay.notification_id == original.notification_id
    assert (original.status, original.attempts, original.task_runs.count()) == ("failed", 3, 1)


def test_it_replays_a_selection_of_failed_runs_from_the_list(admin_client):
    workflow = make_workflow()
    failed = [make_run(workflow=workflow, status="failed") for _ in range(2)]

    response = admin_client.post(
        reverse("admin:workflows_run_changelist"),
        {"action": "replay", "_selected_action": [run.pk for run in failed]},
        follow=True,
    )

    assert "2 runs queued again" in response.content.decode()
    assert set(Run.objects.filter(replay_of__isnull=False).values_list("replay_of", flat=True)) == {
        run.pk for run in failed
    }
    assert all(Run.objects.get(pk=run.pk).status == "failed" for run in failed)


def test_it_says_why_a_replay_from_the_button_is_refused(admin_client):
    original = make_run(workflow=make_workflow(enabled=False), status="skipped")

    response = admin_client.post(reverse("admin:workflows_run_replay", args=[original.pk]), follow=True)

    assert f"Enable {original.workflow.name} before replaying" in response.content.decode()
    assert not Run.objects.filter(replay_of=original).exists()
    assert Workflow.objects.get(pk=original.workflow_id).enabled is False


def test_it_does_not_replay_on_a_get(admin_client):
    original = make_run(workflow=make_workflow(), status="failed")

    admin_client.get(reverse("admin:workflows_run_replay", args=[original.pk]))

    assert not Run.objects.filter(replay_of=original).exists()


def test_it_says_why_a_replay_from_the_list_is_refused(admin_client):
    original = make_run(workflow=make_workflow(enabled=False), status="skipped")

    response = admin_client.post(
        reverse("admin:workflows_run_changelist"), {"action": "replay", "_selected_action": [original.pk]}, follow=True
    )

    assert f"Enable {original.workflow.name} before replaying" in response.content.decode()
    assert not Run.objects.filter(replay_of=original).exists()
