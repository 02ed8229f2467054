"""Renaming a directory or a mailing list keeps the tasks that name it working."""

import pytest
from django.urls import reverse

from directory.models import Contact, MailingList
from directory.services import directory_get_default, mailing_list_get_or_create
from tests.factories import make_directory, make_directory_task, make_run, make_workflow
from workflows.models import Run
from workflows.services.execution import run_execute

pytestmark = pytest.mark.django_db


def execute(workflow) -> Run:
    run = make_run(workflow=workflow)
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def config_of(task) -> dict:
    task.refresh_from_db()
    return task.config


def test_a_directory_renamed_in_the_admin_keeps_its_tasks_saving_contacts_into_it(admin_client):
    directory = make_directory(name="Customers")
    workflow = make_workflow()
    task = make_directory_task(workflow=workflow, directory="Customers")
    admin_client.post(
        reverse("admin:directory_directory_change", args=[directory.pk]),
        {
            "name": "Customers EU",
            "dedupe_rules-TOTAL_FORMS": 0,
            "dedupe_rules-INITIAL_FORMS": 0,
            "dedupe_rules-MIN_NUM_FORMS": 0,
            "dedupe_rules-MAX_NUM_FORMS": 1000,
        },
    )
    directory.refresh_from_db()
    assert (directory.name, config_of(task)["directory"]) == ("Customers EU", "Customers EU")
    assert execute(workflow).status == Run.Status.SUCCEEDED
    assert Contact.objects.get().directory == directory


def test_a_mailing_list_renamed_in_the_admin_keeps_receiving_its_tasks_contacts(admin_client):
    mailing_list = mailing_list_get_or_create(name="Support customers")
    workflow = make_workflow()
    task = make_directory_task(workflow=workflow, mailing_list="Support customers")
    admin_client.post(
        reverse("admin:directory_mailinglist_change", args=[mailing_list.pk]),
        {"directory": mailing_list.directory_id, "name": "Support customers 2027"},
    )
    assert config_of(task)["mailing_list"] == "Support customers 2027"
    assert execute(workflow).status == Run.Status.SUCCEEDED
    assert list(MailingList.objects.values_list("name", flat=True)) == ["Support customers 2027"]
    assert list(Contact.objects.get().mailing_lists.all()) == [mailing_list]


def test_a_task_naming_the_default_directory_follows_its_list_too():
    default = directory_get_default()
    mailing_list = mailing_list_get_or_create(name="Support customers", directory=default)
    task = make_directory_task(workflow=make_workflow(), directory=default.name, mailing_list="Support customers")
    mailing_list.name = "Support"
    mailing_list.save()
    assert config_of(task)["mailing_list"] == "Support"


def test_renaming_a_list_of_the_same_name_in_another_directory_leaves_the_task_alone():
    mailing_list_get_or_create(name="Support customers")  # the default directory's, which the task means
    other = mailing_list_get_or_create(name="Support customers", directory=make_directory(name="Partners"))
    task = make_directory_task(workflow=make_workflow(), mailing_list="Support customers")
    other.name = "Partner support"
    other.save()
    assert config_of(task)["mailing_list"] == "Support customers"


def test_renaming_another_directory_leaves_the_task_alone():
    make_directory(name="Customers")
    other = make_directory(name="Partners")
    task = make_directory_task(workflow=make_workflow(), directory="Customers")
    other.name = "Resellers"
    other.save()
    assert config_of(task)["directory"] == "Customers"
