"""One page from event to tasks: add tasks from the first save on, reorder and remove tasks and
conditions on the workflow page, and see each task's last outcome there."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.factories import make_condition, make_directory_task, make_run, make_task_run, make_user, make_workflow
from tests.pages import table_rows, texts
from tests.workflows.test_admin import change_url, directory_task_post, task_add_url, workflow_post
from workflows.models import Condition, Task, Workflow

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/workflows/workflow/add/"


def new_workflow_post(owner, **fields):
    data = workflow_post(Workflow(name="Case closed", owner=owner, salesforce_object="Case"), **fields)
    return {name: value for name, value in data.items() if value is not None}  # no workflow id yet


def inline_rows(prefix, rows):
    """POST data of an inline's existing rows: [{"id": 1, "position": 2, ...}, ...]."""
    data = {
        f"{prefix}-TOTAL_FORMS": len(rows),
        f"{prefix}-INITIAL_FORMS": len(rows),
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }
    for n, row in enumerate(rows):
        data.update({f"{prefix}-{n}-{name}": value for name, value in row.items()})
    return data


def test_the_add_page_offers_every_task_kind(admin_client):
    content = admin_client.get(ADD_URL).content

    assert texts(content, "//button[@name='_addtask']/@value") == ["add_to_directory", "distribute_survey"]
    assert "Save the workflow, then add its tasks" not in content.decode()


def test_adding_a_task_on_a_new_workflow_saves_it_and_opens_the_tasks_form(admin_client, admin_user):
    data = new_workflow_post(
        admin_user,
        _addtask="add_to_directory",
        conditions=[{"position": 1, "field": "IsClosed", "operator": "equals", "value": "true"}],
    )

    response = admin_client.post(ADD_URL, data)

    workflow = Workflow.objects.get(name="Case closed")
    assert response.status_code == 302
    assert response["Location"] == task_add_url(workflow)
    assert list(workflow.conditions.values_list("field", "operator", "value")) == [("IsClosed", "equals", "true")]


def test_adding_a_task_keeps_what_was_changed_on_the_page(admin_client):
    workflow = make_workflow(name="Before")

    response = admin_client.post(
        change_url(workflow), workflow_post(workflow, name="After", _addtask="distribute_survey")
    )

    workflow.refresh_from_db()
    assert response["Location"] == task_add_url(workflow, kind="distribute_survey")
    assert workflow.name == "After"


def test_a_page_with_errors_stays_and_adds_no_task(admin_client, admin_user):
    response = admin_client.post(
        ADD_URL, new_workflow_post(admin_user, salesforce_object="not an object", _addtask="add_to_directory")
    )

    assert response.status_code == 200
    assert not Workflow.objects.exists()


def test_staff_who_may_not_add_tasks_get_no_buttons_and_the_page_is_only_saved(client):
    user = make_user()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_workflow", "change_workflow"]))
    client.force_login(user)
    workflow = make_workflow()

    assert texts(client.get(change_url(workflow)).content, "//button[@name='_addtask']") == []
    response = client.post(change_url(workflow), workflow_post(workflow, _addtask="add_to_directory"))
    assert response["Location"] == reverse("admin:workflows_workflow_changelist")


def test_tasks_and_conditions_are_reordered_and_removed_on_the_page(admin_client):
    workflow = make_workflow()
    first = make_directory_task(workflow=workflow, position=1, mailing_list="First")
    second = make_directory_task(workflow=workflow, position=2, mailing_list="Second")
    third = make_directory_task(workflow=workflow, position=3, mailing_list="Third")
    kept = make_condition(workflow=workflow, field="IsClosed", operator="equals", value="true", position=1)
    dropped = make_condition(workflow=workflow, field="Priority", operator="equals", value="High", position=2)
    data = workflow_post(workflow)
    data.update(
        inline_rows(
            "tasks",
            [
                {"id": first.pk, "workflow": workflow.pk, "position": 2},
                {"id": second.pk, "workflow": workflow.pk, "position": 1},
                {"id": third.pk, "workflow": workflow.pk, "position": 3, "DELETE": "on"},
            ],
        )
    )
    data.update(
        inline_rows(
            "conditions",
            [
                {
                    "id": kept.pk,
                    "workflow": workflow.pk,
                    "position": 1,
                    "field": "IsClosed",
                    "operator": "equals",
                    "value": "true",
                },
                {
                    "id": dropped.pk,
                    "workflow": workflow.pk,
                    "position": 2,
                    "field": "Priority",
                    "operator": "equals",
                    "value": "High",
                    "DELETE": "on",
                },
            ],
        )
    )

    response = admin_client.post(change_url(workflow), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert [task.config["mailing_list"] for task in workflow.tasks.all()] == ["Second", "First"]
    assert list(Condition.objects.filter(workflow=workflow)) == [kept]
    assert not Task.objects.filter(pk=third.pk).exists()


def test_each_task_shows_its_last_runs_outcome(admin_client):
    workflow = make_workflow()
    sends = make_directory_task(workflow=workflow, position=1)
    idle = make_directory_task(workflow=workflow, position=2)
    older = make_run(workflow=workflow)
    make_task_run(run=older, task=sends, position=1, status="succeeded")
    newer = make_run(workflow=workflow)
    make_task_run(run=newer, task=sends, position=1, status="failed", error="Email is required.")

    content = admin_client.get(change_url(workflow)).content

    outcomes = texts(content, "//div[@id='tasks-group']//td[contains(@class, 'field-last_run')]")
    assert outcomes[0].startswith("Failed") and outcomes[0].endswith("Email is required.")
    assert outcomes[1] == "Not run in the last 50 runs"
    links = texts(content, "//div[@id='tasks-group']//td[contains(@class, 'field-last_run')]//a/@href")
    assert links == [reverse("admin:workflows_run_change", args=[newer.pk])]
    assert idle.pk


def test_the_page_shows_event_conditions_and_tasks_in_run_order(admin_client):
    workflow = make_workflow()
    make_condition(workflow=workflow, field="IsClosed", operator="equals", value="true")
    make_directory_task(workflow=workflow)

    content = admin_client.get(change_url(workflow)).content.decode()

    order = [content.index(marker) for marker in ('id="event-url"', 'id="conditions-group"', 'id="tasks-group"')]
    assert order == sorted(order)
    assert table_rows(content, "//div[@id='tasks-group']//table")


def piping_workflow():
    """Task 1 saves the contact; task 2 records its id, piped from task 1, as embedded data."""
    workflow = make_workflow()
    saves = make_directory_task(workflow=workflow, position=1, mailing_list="Saves")
    pipes = make_directory_task(
        workflow=workflow, position=2, mailing_list="Pipes", data_fields=[["SavedAs", "${task://1/ContactId}"]]
    )
    return workflow, saves, pipes


@pytest.mark.parametrize(
    "rows",
    [
        # the piping task moved first: task 1 is then itself
        lambda saves, pipes: [{"id": saves.pk, "position": 2}, {"id": pipes.pk, "position": 1}],
        # the task it pipes from removed: it runs first
        lambda saves, pipes: [{"id": saves.pk, "position": 1, "DELETE": "on"}, {"id": pipes.pk, "position": 2}],
    ],
    ids=["reordered", "removed"],
)
def test_tasks_are_not_reordered_or_removed_so_that_a_task_pipes_a_task_that_no_longer_runs_before_it(
    admin_client, rows
):
    workflow, saves, pipes = piping_workflow()
    data = workflow_post(workflow)
    data.update(inline_rows("tasks", [{**row, "workflow": workflow.pk} for row in rows(saves, pipes)]))

    response = admin_client.post(change_url(workflow), data)

    assert response.status_code == 200
    errors = [
        str(error)
        for formset in response.context["inline_admin_formsets"]
        for error in formset.formset.non_form_errors()
    ]
    assert errors[0].startswith(
        "XM Directory: add to directory (task 1 after this change): ${task://1/ContactId}: this task runs first"
    )
    assert errors[0] in response.content.decode().replace("&#x27;", "'")
    assert list(workflow.tasks.values_list("pk", "position")) == [(saves.pk, 1), (pipes.pk, 2)]


def test_tasks_are_reordered_when_each_still_pipes_an_earlier_task(admin_client):
    workflow, saves, pipes = piping_workflow()
    other = make_directory_task(workflow=workflow, position=3, mailing_list="Other")
    data = workflow_post(workflow)
    rows = [{"id": saves.pk, "position": 1}, {"id": pipes.pk, "position": 3}, {"id": other.pk, "position": 2}]
    data.update(inline_rows("tasks", [{**row, "workflow": workflow.pk} for row in rows]))

    response = admin_client.post(change_url(workflow), data)

    assert response.status_code == 302
    assert list(workflow.tasks.values_list("pk", flat=True)) == [saves.pk, other.pk, pipes.pk]


def test_a_task_is_not_moved_on_its_own_page_after_a_task_that_pipes_it(admin_client):
    workflow, saves, pipes = piping_workflow()
    data = directory_task_post(position=3, mailing_list="Saves")

    response = admin_client.post(reverse("admin:workflows_task_change", args=[saves.pk]), data)

    assert response.status_code == 200
    errors = [str(error) for error in response.context["adminform"].form.errors["position"]]
    assert errors == [
        "XM Directory: add to directory (task 1 after this change): ${task://1/ContactId}: this task runs first, "
        "so there is no earlier task whose output it could use."
    ]
    saves.refresh_from_db()
    assert saves.position == 1


def test_a_task_is_moved_on_its_own_page_when_no_task_pipes_it(admin_client):
    workflow, saves, pipes = piping_workflow()
    data = directory_task_post(position=3, mailing_list="Pipes", data_fields__name=[], data_fields__value=[])

    response = admin_client.post(reverse("admin:workflows_task_change", args=[pipes.pk]), data)

    assert response.status_code == 302
    pipes.refresh_from_db()
    assert pipes.position == 3


def delete_url(workflow):
    return reverse("admin:workflows_workflow_delete", args=[workflow.pk])


def test_a_workflow_with_runs_is_not_deleted_and_the_page_says_why_and_what_to_do(admin_client, settings):
    settings.RETENTION_DAYS = 30
    workflow = make_workflow(name="Case closed")
    make_run(workflow=workflow)
    make_run(workflow=workflow)

    page = admin_client.get(delete_url(workflow)).content.decode()
    refused = admin_client.post(delete_url(workflow), {"post": "yes"})

    assert "doesn’t have permission" not in page and "doesn't have permission" not in page
    assert "would require deleting" not in page  # nothing would be deleted: it is kept
    assert "The workflow “Case closed” is not deleted:" in page
    assert "“Case closed” has 2 runs in Workflow Reporting (the last created " in page
    assert "kept there for 30 days (RETENTION_DAYS): to stop it, untick Enabled instead" in page
    assert "untick Enabled instead" in refused.content.decode()
    assert Workflow.objects.filter(pk=workflow.pk).exists()


def test_the_delete_action_says_which_selected_workflows_have_runs(admin_client):
    with_runs, without = make_workflow(name="With runs"), make_workflow(name="Without")
    make_run(workflow=with_runs)

    response = admin_client.post(
        reverse("admin:workflows_workflow_changelist"),
        {"action": "delete_selected", "_selected_action": [with_runs.pk, without.pk]},
    )

    assert "“With runs” has 1 run in Workflow Reporting" in response.content.decode()
    assert "The selected workflows are not deleted:" in response.content.decode()
    assert "would require deleting" not in response.content.decode()
    assert "“Without”" not in response.content.decode()
    assert Workflow.objects.count() == 2


def test_a_workflow_without_runs_is_deleted_with_its_tasks_and_conditions(admin_client):
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    make_condition(workflow=workflow, field="IsClosed", operator="equals", value="true")

    page = admin_client.get(delete_url(workflow))
    response = admin_client.post(delete_url(workflow), {"post": "yes"})

    assert page.status_code == 200
    assert response.status_code == 302
    assert not Workflow.objects.exists() and not Task.objects.exists() and not Condition.objects.exists()


def test_a_task_that_a_later_task_pipes_is_not_deleted_on_its_own_page(admin_client):
    workflow, saves, pipes = piping_workflow()
    url = reverse("admin:workflows_task_delete", args=[saves.pk])

    page = admin_client.get(url).content.decode().replace("&#x27;", "'")
    admin_client.post(url, {"post": "yes"})

    assert "${task://1/ContactId}: this task runs first" in page
    assert "Change the piped text of these tasks first, then delete this one." in page
    assert "is not deleted: a later task pipes its output." in page
    assert "would require deleting" not in page
    assert Task.objects.filter(pk=saves.pk).exists()
    assert (
        admin_client.post(reverse("admin:workflows_task_delete", args=[pipes.pk]), {"post": "yes"}).status_code == 302
    )
    assert not Task.objects.filter(pk=pipes.pk).exists()


def test_the_delete_action_keeps_a_task_that_a_later_task_pipes_and_says_why(admin_client):
    workflow, saves, pipes = piping_workflow()

    response = admin_client.post(
        reverse("admin:workflows_task_changelist"), {"action": "delete_selected", "_selected_action": [saves.pk]}
    )

    page = response.content.decode().replace("&#x27;", "'")
    assert "The selected tasks are not deleted: a later task pipes their output." in page
    assert "${task://1/ContactId}: this task runs first" in page
    assert "would require deleting" not in page
    assert Task.objects.filter(pk=saves.pk).exists()
