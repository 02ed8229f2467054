"""A workflow's tasks act with its owner's permissions (a distribute survey task needs the owner to
own the survey or be a collaborator allowed to distribute it). So the owner is a permission
boundary: a staff user who may add workflows must not be able to name another user, a superuser
above all, as the owner of a workflow they build."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import make_user
from workflows.models import Workflow

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
