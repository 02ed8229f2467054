"""A workflow's tasks act with its owner's permissions (a distribute survey task needs the owner to
own the survey or be a collaborator allowed to distribute it). So the owner is a permission
boundary: a staff user who may add workflows must not be able to name another user, a superuser
above all, as the owner of a workflow they build."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests.factories import make_directory_task, make_user, make_workflow
from workflows.models import Task, Workflow
from workflows.models import TestEvent as SentTestEvent
from workflows.services import test_events

pytestmark = pytest.mark.django_db


def workflow_form(owner) -> dict:
    return {
        "name": "Borrowed rights",
        "owner": owner.pk,
        "enabled": "on",
        "salesforce_object": "Case",
        "allowed_organization_ids": "",
        "condition_match": "all",
        "on_task_failure": "continue",
        "failure_recipients": "",
        "conditions-TOTAL_FORMS": "0",
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
        "tasks-TOTAL_FORMS": "0",
        "tasks-INITIAL_FORMS": "0",
        "tasks-MIN_NUM_FORMS": "0",
        "tasks-MAX_NUM_FORMS": "0",
        "_save": "Save",
    }


def test_a_staff_user_cannot_make_a_superuser_the_owner_of_a_workflow_they_add():
    superuser = make_user(username="root", is_superuser=True)
    builder = make_user(username="builder")
    builder.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="workflows", codename__in=["add_workflow", "view_workflow"])
    )
    client = Client()
    client.force_login(builder)

    client.post("/admin/workflows/workflow/add/", workflow_form(superuser))

    assert not Workflow.objects.filter(name="Borrowed rights", owner=superuser).exists()


def staff_with(*codenames):
    user = make_user()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="workflows", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return user, client


def test_a_staff_user_who_may_add_workflows_owns_those_they_add():
    make_user(username="root", is_superuser=True)
    builder, client = staff_with("add_workflow", "view_workflow")

    form = client.get("/admin/workflows/workflow/add/").content.decode()
    client.post("/admin/workflows/workflow/add/", workflow_form(builder))

    assert "root" not in form
    assert Workflow.objects.get(name="Borrowed rights").owner == builder


def test_a_staff_user_who_may_change_workflows_cannot_hand_one_to_a_superuser_but_may_keep_its_owner():
    superuser = make_user(username="root", is_superuser=True)
    owner = make_user(username="owner")
    workflow = Workflow.objects.create(name="Borrowed rights", salesforce_object="Case", owner=owner)
    _, client = staff_with("change_workflow", "view_workflow")
    url = f"/admin/workflows/workflow/{workflow.pk}/change/"

    refused = client.post(url, workflow_form(superuser))
    kept = client.post(url, {**workflow_form(owner), "name": "Kept"})

    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert kept.status_code == 302
    workflow.refresh_from_db()
    assert (workflow.name, workflow.owner) == ("Kept", owner)


def test_a_superuser_may_make_anyone_the_owner():
    superuser = make_user(username="root", is_superuser=True)
    someone = make_user(username="someone")
    client = Client()
    client.force_login(superuser)

    client.post("/admin/workflows/workflow/add/", workflow_form(someone))

    assert Workflow.objects.get(name="Borrowed rights").owner == someone


def test_a_user_who_may_only_view_workflows_is_not_shown_the_event_url_token():
    """The event URL's token is the only credential of the endpoint: whoever has it starts runs that
    act with the owner's permissions (contacts written, surveys emailed). Viewing a workflow must
    not hand it out; rotating it already needs the change permission."""
    workflow = Workflow.objects.create(name="Case closed", salesforce_object="Case", owner=make_user(username="owner"))
    viewer = make_user(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="workflows", codename="view_workflow"))
    client = Client()
    client.force_login(viewer)

    page = client.get(f"/admin/workflows/workflow/{workflow.pk}/change/")

    assert page.status_code == 200
    assert workflow.token not in page.content.decode()


def test_a_user_who_may_only_view_workflows_sees_that_there_is_an_event_url_and_no_rotate_link():
    workflow = Workflow.objects.create(name="Case closed", salesforce_object="Case", owner=make_user(username="owner"))
    _, client = staff_with("view_workflow")

    page = client.get(f"/admin/workflows/workflow/{workflow.pk}/change/").content.decode()

    assert workflow.masked_event_url in page
    assert "rotate-token" not in page


def test_the_owner_who_may_change_the_workflow_is_shown_its_event_url():
    owner, client = staff_with("view_workflow", "change_workflow")
    workflow = Workflow.objects.create(name="Case closed", salesforce_object="Case", owner=owner)

    page = client.get(f"/admin/workflows/workflow/{workflow.pk}/change/").content.decode()

    assert workflow.event_url in page
    assert "rotate-token" in page


def test_the_test_event_page_shows_the_event_url_token_only_to_its_owner_who_may_change_the_workflow():
    editor, editor_client = staff_with("view_workflow", "change_workflow", "view_run", "add_run")
    workflow = Workflow.objects.create(name="Case closed", salesforce_object="Case", owner=editor)
    test_event = SentTestEvent.objects.create(workflow=workflow, notification_id="04l000000000001AAA")
    url = f"/admin/workflows/workflow/{workflow.pk}/test-event/{test_event.pk}/"
    _, sender = staff_with("view_workflow", "view_run", "add_run")

    sender_page = sender.get(url).content.decode()
    editor_page = editor_client.get(url).content.decode()

    assert workflow.token not in sender_page and workflow.masked_event_url in sender_page
    assert workflow.event_url in editor_page
    # Only the owner may send another: the link would lead the others to a refusal.
    assert "Send another test event" not in sender_page and "Send another test event" in editor_page


def test_a_test_event_that_could_not_be_delivered_keeps_the_masked_event_url(monkeypatch, settings):
    monkeypatch.setattr(test_events, "GIVE_UP_AFTER_SECONDS", 0)
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # discard: nothing listens
    workflow = Workflow.objects.create(name="Case closed", salesforce_object="Case", owner=make_user(username="owner"))
    test_event = SentTestEvent.objects.create(workflow=workflow, notification_id="04l000000000001AAA")

    delivered = test_events.test_event_deliver(test_event_id=test_event.pk)

    assert delivered.acknowledged is False
    assert workflow.token not in delivered.delivery and workflow.masked_event_url in delivered.delivery


# Tasks act with the owner's rights too: editing them is acting with those rights.

TASK_FORM = {
    "position": "1",
    "save_mode": "embedded_data",
    "mailing_list": "Support customers",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "_save": "Save",
}
TASK_EDITOR = ("view_workflow", "change_workflow", "view_task", "add_task", "change_task", "delete_task")


def superusers_workflow(**fields):
    return make_workflow(name="Root workflow", owner=make_user(username="root", is_superuser=True), **fields)


def test_a_staff_user_who_may_add_tasks_cannot_add_one_to_a_workflow_someone_else_owns():
    workflow = superusers_workflow()
    _, client = staff_with(*TASK_EDITOR)
    url = f"{reverse('admin:workflows_task_add')}?workflow={workflow.pk}&kind=add_to_directory"

    page = client.get(url)
    posted = client.post(url, TASK_FORM)
    workflow_page = client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk])).content.decode()

    assert (page.status_code, posted.status_code) == (403, 403)
    assert not Task.objects.exists()
    assert "kind=add_to_directory" not in workflow_page  # no "Add task" button leading to a refusal


def test_a_staff_user_who_may_change_tasks_cannot_change_or_delete_one_on_a_workflow_someone_else_owns():
    task = make_directory_task(workflow=superusers_workflow())
    _, client = staff_with(*TASK_EDITOR)

    client.post(reverse("admin:workflows_task_change", args=[task.pk]), {**TASK_FORM, "email": "${event://Email}"})
    deleted = client.post(reverse("admin:workflows_task_delete", args=[task.pk]), {"post": "yes"})

    assert deleted.status_code == 403
    task.refresh_from_db()
    assert task.config["email"] != "${event://Email}"


def test_the_owner_with_those_permissions_adds_and_changes_tasks_of_their_workflow():
    owner, client = staff_with(*TASK_EDITOR)
    workflow = make_workflow(owner=owner)
    url = f"{reverse('admin:workflows_task_add')}?workflow={workflow.pk}&kind=add_to_directory"

    added = client.post(url, TASK_FORM)

    assert added.status_code == 302
    task = Task.objects.get(workflow=workflow)
    assert task.config["mailing_list"] == "Support customers"


def test_a_staff_user_who_may_send_test_events_cannot_run_a_workflow_someone_else_owns_with_values_they_choose():
    """A test event runs the workflow's tasks for real, with the owner's rights, on the field values
    (and the test address) the sender types: it is acting with those rights as editing the tasks is.
    A user who may only view a superuser's workflow (and add runs) must not be able to have its
    distribute task email the superuser's survey to an address of their choosing."""
    from tests.factories import make_distribute_task, make_sender_domain, make_survey

    make_sender_domain("example.com")
    superuser = make_user(username="root", is_superuser=True)
    workflow = make_workflow(name="Root's", owner=superuser)
    make_distribute_task(workflow=workflow, survey=make_survey(owner=superuser))
    _, client = staff_with("view_workflow", "view_run", "add_run")

    sent = client.post(
        f"/admin/workflows/workflow/{workflow.pk}/test-event/",
        {"event__ContactEmail": "anyone@example.org", "test_recipient": "anyone@example.org"},
    )

    assert sent.status_code == 403
    assert not SentTestEvent.objects.exists()


def test_a_staff_user_who_may_change_a_workflow_someone_else_owns_is_not_handed_its_event_url_token():
    """The token starts runs that act with the owner's rights, on any values the caller posts (the
    organization id is on the same page). Only the owner may edit the tasks, and another user must
    take the workflow over first: the token must not reach them while the workflow is still the
    superuser's, or they run its tasks as the superuser without taking it over."""
    workflow = superusers_workflow()
    _, client = staff_with("view_workflow", "change_workflow")

    page = client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk])).content.decode()

    assert workflow.token not in page


def test_a_test_event_stored_before_masking_does_not_show_the_token_to_users_who_may_not_change_the_workflow():
    """Delivery notes written before the token was masked quote the whole event URL (no migration
    rewrote them): the status page must not show them as stored to a user who only sends tests."""
    workflow = Workflow.objects.create(name="Case closed", salesforce_object="Case", owner=make_user(username="owner"))
    test_event = SentTestEvent.objects.create(
        workflow=workflow,
        notification_id="04l000000000001AAA",
        acknowledged=False,
        delivery=f"Connection refused. The message went to {workflow.event_url}: Salesforce must reach that address "
        "too; check PUBLIC_BASE_URL if it is not this site's.",
    )
    _, sender = staff_with("view_workflow", "view_run", "add_run")

    page = sender.get(f"/admin/workflows/workflow/{workflow.pk}/test-event/{test_event.pk}/").content.decode()

    assert workflow.token not in page
