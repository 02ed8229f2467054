"""The demo workflow: seeding it and a closed Case through it (the quickstart command is in
tests/distributions/test_quickstart.py, with the survey part of the demo)."""

import pytest
from django.contrib.auth import get_user_model

from directory.models import Contact, Directory, MailingList, Transaction
from tests.factories import case_fields, make_user, outbound_message
from workflows.models import Condition, Run, Task, Workflow
from workflows.services.demo import DEMO_CLOSED_CASE, demo_seed
from workflows.tasks import registry


def counts():
    models = (Workflow, Condition, Task, Directory, MailingList, get_user_model())
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    """Post a message to the workflow's URL; the sync django-q2 runs the job on commit."""

    def send(workflow, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                workflow.event_path,
                outbound_message(case_fields(**{**DEMO_CLOSED_CASE, **fields})),
                content_type="text/xml",
            )
        assert response.status_code == 200
        return response

    return send


@pytest.mark.django_db
def test_it_seeds_the_demo_once():
    owner = make_user()
    first = demo_seed(owner=owner)
    before = counts()
    second = demo_seed(owner=owner)
    assert second == first
    assert counts() == before
    assert (before["Workflow"], before["Condition"], before["Task"], before["MailingList"]) == (1, 1, 2, 1)


@pytest.mark.django_db
def test_it_leaves_an_edited_demo_workflow_as_it_is():
    owner = make_user()
    workflow = demo_seed(owner=owner)
    Workflow.objects.filter(pk=workflow.pk).update(enabled=False)
    workflow.tasks.filter(position=2).delete()
    demo_seed(owner=owner)
    workflow.refresh_from_db()
    assert workflow.enabled is False
    assert workflow.tasks.count() == 1


@pytest.mark.django_db
def test_it_creates_the_default_directory_and_the_mailing_list():
    demo_seed(owner=make_user())
    mailing_list = MailingList.objects.get()
    assert (mailing_list.name, mailing_list.directory.name, mailing_list.directory.is_default) == (
        "Support customers",
        "Default directory",
        True,
    )


@pytest.mark.django_db
def test_it_uses_an_existing_default_directory():
    existing = Directory.objects.create(name="Customers", is_default=True)
    demo_seed(owner=make_user())
    assert list(Directory.objects.all()) == [existing]
    assert MailingList.objects.get().directory == existing


@pytest.mark.django_db
def test_it_declares_the_case_fields_of_the_bundled_wsdl():
    workflow = demo_seed(owner=make_user())
    assert workflow.salesforce_object == "Case"
    assert workflow.fields_from_wsdl is True
    assert workflow.known_fields["Store__c"] == "string"
    assert workflow.known_fields["ClosedDate"] == "dateTime"


@pytest.mark.django_db
def test_it_stores_task_configs_as_the_admin_form_saves_them():
    workflow = demo_seed(owner=make_user())
    for task in workflow.tasks.all():
        form_class = registry.get(task.kind).config_form
        assert {name for name in task.config} == set(form_class().fields)
    assert [task.config["save_mode"] for task in workflow.tasks.all()] == ["embedded_data", "transaction"]


@pytest.mark.django_db
def test_it_saves_the_contact_of_a_closed_case_with_embedded_data(send):
    send(demo_seed(owner=make_user()))
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.email) == ("Ada", "Lovelace", "ada@example.com")
    assert contact.embedded_data == {"Priority": "High", "Origin": "Web"}
    assert contact.mailing_lists.get().name == "Support customers"


@pytest.mark.django_db
def test_it_appends_the_closed_case_as_a_transaction(send):
    send(demo_seed(owner=make_user()))
    transaction = Transaction.objects.get()
    assert transaction.data == {"Store": "Milan", "CaseNumber": "00001026", "Subject": "Printer jammed"}
    assert transaction.transaction_date.isoformat() == "2026-11-28T10:00:00+00:00"
    assert Run.objects.get().status == Run.Status.SUCCEEDED


@pytest.mark.django_db
def test_it_saves_nothing_for_an_open_case(send):
    send(demo_seed(owner=make_user()), IsClosed="false")
    assert not Contact.objects.exists()
    assert Run.objects.get().status == Run.Status.CONDITIONS_NOT_MET
