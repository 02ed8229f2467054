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
