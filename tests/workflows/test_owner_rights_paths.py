"""Other ways into a workflow owner's rights than its task pages and its test event form: the
workflow list's filters (which can spell out the event URL's token), replaying a test run (which
sends a test event's typed values and test address again), and the workflow page's takeover save.
Owners and superusers keep every one of them."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.api.conftest import api_client_for
from tests.factories import make_directory_task, make_run, make_user, make_workflow
from tests.workflows.test_owner_permissions import staff_with, superusers_workflow, workflow_form
from workflows.models import Run, Task
from workflows.models import TestEvent as SentTestEvent

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/workflows/workflow/"


def listed(client, **query) -> bool:
    """Whether the workflow list, filtered by `query`, lists the superuser's workflow."""
    page = client.get(CHANGELIST, query)
    return page.status_code == 200 and "Root workflow" in page.content.decode()


# --- the event URL's token, spelled out by the workflow list ----------------------------------


@pytest.mark.parametrize("codenames", [("view_workflow",), ("view_workflow", "change_workflow")])
def test_the_workflow_list_does_not_tell_a_non_owner_whether_the_token_starts_with_what_they_guess(codenames):
    """Django's changelist accepts any lookup on the model's own fields from the query string, the
    token's included: ?token__startswith=<guess> lists the workflow only when the guess is right, so
    the token (43 characters of 64 possible each; the masked URL gives away the first 6) falls to a
    few thousand requests, one character at a time. Whoever has it runs the tasks with the owner's
    rights on the values they post."""
    workflow = superusers_workflow()
    _, client = staff_with(*codenames)
    right = workflow.token[:7]
    wrong = workflow.token[:6] + ("A" if workflow.token[6] != "A" else "B")

    assert listed(client, token__startswith=right) == listed(client, token__startswith=wrong)


@pytest.mark.parametrize("lookup", ["token", "token__startswith", "token__regex", "token_digest__startswith"])
def test_the_workflow_list_refuses_any_filter_on_the_token_even_to_superusers(admin_client, lookup):
    workflow = superusers_workflow()

    answer = admin_client.get(CHANGELIST, {lookup: workflow.token[:7]})

    assert answer.status_code == 400
    assert workflow.token not in answer.content.decode()


# --- replaying a test run -----------------------------------------------------------------------


def test_run_of_a_test_event_typed_by(*, workflow, sender):
    """A test run whose field values and test address `sender` typed (when the workflow was theirs)."""
    test_event = SentTestEvent.objects.create(
        workflow=workflow,
        created_by=sender,
        notification_id="04l000000000001AAA",
        test_recipient="chosen-by-sender@example.org",
    )
    return make_run(workflow=workflow, test_event_id=test_event.pk, status=Run.Status.SUCCEEDED)


test_run_of_a_test_event_typed_by.__test__ = False  # a builder, not a test


def test_a_non_owner_cannot_replay_a_test_run_of_a_superusers_workflow_in_the_admin():
    """A test run's replay is a test event sent again: its typed values, its test address, run by the
    workflow's current owner's rights. The values and the address were chosen by whoever sent the
    test, e.g. the replayer, when the workflow was still theirs, before a superuser took it over to
    put a survey of theirs behind its distribute task. Sending a test event is the owner's; replaying
    one must be too."""
    replayer, client = staff_with("view_workflow", "view_run", "add_run")
    workflow = superusers_workflow()
    make_directory_task(workflow=workflow)
    run = test_run_of_a_test_event_typed_by(workflow=workflow, sender=replayer)

    client.post(reverse("admin:workflows_run_replay", args=[run.pk]))
    client.post(
        reverse("admin:workflows_run_changelist"), {"action": "replay", "_selected_action": [run.pk], "index": 0}
    )

    assert not Run.objects.filter(replay_of=run).exists()


def test_a_non_owner_cannot_replay_a_test_run_of_a_superusers_workflow_through_the_api():
    replayer = make_user()
    api = api_client_for(replayer, "workflows.view_workflow", "workflows.view_run", "workflows.add_run")
    workflow = superusers_workflow()
    run = test_run_of_a_test_event_typed_by(workflow=workflow, sender=replayer)

    api.post(f"workflows/{workflow.pk}/runs/{run.pk}/replay")

    assert not Run.objects.filter(replay_of=run).exists()


def test_a_non_owner_still_replays_a_run_salesforce_started():
    """What held: a Salesforce run's values are Salesforce's, not the replayer's (README: view and add run)."""
    _, client = staff_with("view_workflow", "view_run", "add_run")
    workflow = superusers_workflow()
    run = make_run(workflow=workflow, status=Run.Status.FAILED)

    client.post(reverse("admin:workflows_run_replay", args=[run.pk]))

    assert Run.objects.filter(replay_of=run).exists()


# --- what held: the takeover save, bulk deletes, history, rotation; owners and superusers ---------


TASK_PERMS = ("view_workflow", "change_workflow", "view_task", "change_task", "delete_task")


def takeover_with_task_edits(workflow, task, taker) -> dict:
    return {
        **workflow_form(taker),
        "name": workflow.name,
        "tasks-TOTAL_FORMS": "1",
        "tasks-INITIAL_FORMS": "1",
        "tasks-MAX_NUM_FORMS": "1000",
        "tasks-0-id": task.pk,
        "tasks-0-workflow": workflow.pk,
        "tasks-0-position": "7",
        "tasks-0-DELETE": "on",
    }


def test_taking_a_workflow_over_does_not_edit_its_tasks_in_the_same_save():
    workflow = superusers_workflow()
    task = make_directory_task(workflow=workflow)
    taker, client = staff_with(*TASK_PERMS)

    response = client.post(
        reverse("admin:workflows_workflow_change", args=[workflow.pk]), takeover_with_task_edits(workflow, task, taker)
    )

    workflow.refresh_from_db()
    assert response.status_code == 302 and workflow.owner == taker  # the takeover itself is allowed
    task.refresh_from_db()
    assert task.position == 1


def test_the_owner_reorders_and_deletes_tasks_on_the_workflow_page():
    owner, client = staff_with(*TASK_PERMS)
    workflow = make_workflow(owner=owner)
    task = make_directory_task(workflow=workflow)

    client.post(
        reverse("admin:workflows_workflow_change", args=[workflow.pk]), takeover_with_task_edits(workflow, task, owner)
    )

    assert not Task.objects.filter(pk=task.pk).exists()


def test_a_non_owner_cannot_bulk_delete_a_superusers_tasks_from_the_task_list():
    task = make_directory_task(workflow=superusers_workflow())
    _, client = staff_with(*TASK_PERMS)

    client.post(
        reverse("admin:workflows_task_changelist"),
        {"action": "delete_selected", "_selected_action": [task.pk], "post": "yes"},
    )

    assert Task.objects.filter(pk=task.pk).exists()


def test_the_owner_bulk_deletes_their_tasks_from_the_task_list():
    owner, client = staff_with(*TASK_PERMS)
    task = make_directory_task(workflow=make_workflow(owner=owner))

    client.post(
        reverse("admin:workflows_task_changelist"),
        {"action": "delete_selected", "_selected_action": [task.pk], "post": "yes"},
    )

    assert not Task.objects.filter(pk=task.pk).exists()


def test_the_history_and_rotation_pages_do_not_show_the_token_to_a_non_owner():
    workflow = superusers_workflow()
    _, client = staff_with("view_workflow", "change_workflow")
    client.post(reverse("admin:workflows_workflow_change", args=[workflow.pk]), {**workflow_form(workflow.owner)})
    rotated = client.post(reverse("admin:workflows_workflow_rotate_token", args=[workflow.pk]), follow=True)
    workflow.refresh_from_db()

    history = client.get(reverse("admin:workflows_workflow_history", args=[workflow.pk])).content.decode()

    assert workflow.token not in history
    assert workflow.token not in rotated.content.decode()
    assert workflow.token not in client.get(CHANGELIST).content.decode()


def test_owner_and_superuser_still_see_the_token_and_send_test_events():
    owner, owner_client = staff_with("view_workflow", "change_workflow", "view_run", "add_run")
    workflow = make_workflow(owner=owner)
    superuser = make_user(is_superuser=True)
    root = Client()
    root.force_login(superuser)

    for client in (owner_client, root):
        page = client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk])).content.decode()
        assert workflow.event_url in page and "Send a test event" in page
        assert client.get(reverse("admin:workflows_workflow_test_event", args=[workflow.pk])).status_code == 200
