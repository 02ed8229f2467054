"""Send a test event from the workflow page: the form, its confirmation, permissions, the status page,
and the delivery over HTTP to the workflow's own event URL."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from tests.factories import (
    make_directory_task,
    make_distribute_task,
    make_run,
    make_sender_domain,
    make_survey,
    make_user,
    make_workflow,
)
from tests.pages import texts
from workflows.models import Run, Workflow
from workflows.models import TestEvent as SentTestEvent
from workflows.services import test_events as service
from workflows.services.workflow_admin import workflow_fields_from_wsdl

pytestmark = pytest.mark.django_db

CASE_WSDL = Path(__file__).parent.parent / "fixtures" / "salesforce" / "Case.wsdl"


def form_url(workflow):
    return f"/admin/workflows/workflow/{workflow.pk}/test-event/"


def status_url(test_event):
    return f"/admin/workflows/workflow/{test_event.workflow_id}/test-event/{test_event.pk}/"


@pytest.fixture
def workflow():
    workflow = make_workflow(name="Case closed")
    workflow_fields_from_wsdl(workflow=workflow, data=CASE_WSDL.read_bytes())
    make_directory_task(workflow=workflow)
    return workflow


def test_the_workflow_page_links_to_the_form(admin_client, workflow):
    response = admin_client.get(f"/admin/workflows/workflow/{workflow.pk}/change/")

    assert texts(response.content, "//a[@class='test-event-link']/@href") == [form_url(workflow)]


def test_the_form_lists_the_wsdls_fields_with_their_types_and_the_last_values(admin_client, workflow):
    make_run(workflow=workflow, fields={"CaseNumber": "00001026", "ContactEmail": "ada@example.com"})

    response = admin_client.get(form_url(workflow))

    labels = texts(response.content, "//form[@id='test-event-form']//label")
    assert "CaseNumber (string):" in labels and "IsClosed (boolean):" in labels
    assert texts(response.content, "//input[@name='event__CaseNumber']/@value") == ["00001026"]
    assert texts(response.content, "//input[@name='event__ContactEmail']/@value") == ["ada@example.com"]


def test_a_workflow_without_contact_tasks_asks_for_no_test_address(admin_client):
    workflow = make_workflow()

    response = admin_client.get(form_url(workflow))

    assert not texts(response.content, "//input[@name='test_recipient']")
    admin_client.post(form_url(workflow), {"event__CaseNumber": "00001026"})
    assert SentTestEvent.objects.get().test_recipient == ""


def test_a_task_that_saves_contacts_asks_for_a_test_address_or_a_confirmation(admin_client, workflow):
    offered = admin_client.get(form_url(workflow))
    assert texts(offered.content, "//input[@name='test_recipient']/@value") == ["admin@example.com"]  # your own
    assert "1. XM Directory: add to directory" in texts(offered.content, "//p[@id='reaching-people']")[0]
    assert texts(offered.content, "//label[@for='id_send_to_people']") == [
        "No test address: save the contacts the event names"
    ]

    refused = admin_client.post(form_url(workflow), {"event__ContactEmail": "ada@example.com"})
    [error] = texts(refused.content, "//div[contains(@class, 'field-test_recipient')]//ul[@class='errorlist']")
    assert "1. XM Directory: add to directory saves the person the event names as a contact" in error
    assert not SentTestEvent.objects.exists()

    admin_client.post(
        form_url(workflow), {"event__ContactEmail": "ada@example.com", "test_recipient": "me@example.org"}
    )
    admin_client.post(form_url(workflow), {"event__ContactEmail": "ada@example.com", "send_to_people": "on"})
    assert sorted(SentTestEvent.objects.values_list("test_recipient", flat=True)) == ["", "me@example.org"]


def test_sending_stores_the_message_and_shows_where_it_went(admin_client, workflow, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as jobs:  # the delivery job, not run here
        response = admin_client.post(
            form_url(workflow),
            {
                "event__CaseNumber": "00001026",
                "event__IsClosed": "true",
                "more_fields": "X__c=1",
                "test_recipient": "admin@example.com",
            },
        )

    test_event = SentTestEvent.objects.get()
    assert response.status_code == 302 and response["Location"] == status_url(test_event)
    assert len(jobs) == 1
    assert "<sf:CaseNumber>00001026</sf:CaseNumber>" in test_event.body and "<sf:X__c>1</sf:X__c>" in test_event.body
    assert test_event.created_by.username == "admin"

    page = admin_client.get(status_url(test_event))
    assert texts(page.content, "//p[@id='test-event-delivery']")[0].startswith("Sending the message to http")
    assert texts(page.content, "//meta[@http-equiv='refresh']/@content") == ["2"]


def test_an_unusable_field_name_is_a_form_error(admin_client, workflow):
    response = admin_client.post(form_url(workflow), {"more_fields": "Not a name=1", "send_to_people": "on"})

    assert response.status_code == 200
    assert "not a Salesforce field API name" in texts(response.content, "//p[@class='errornote']")[0]
    assert not SentTestEvent.objects.exists()


def test_a_task_that_emails_people_asks_for_a_test_address_or_a_confirmation(admin_client, workflow):
    make_sender_domain("example.com")
    make_distribute_task(workflow=workflow, survey=make_survey(owner=workflow.owner), position=2)

    offered = admin_client.get(form_url(workflow))
    assert texts(offered.content, "//input[@name='test_recipient']/@value") == ["admin@example.com"]  # your own

    refused = admin_client.post(form_url(workflow), {"event__ContactEmail": "ada@example.com"})
    [error] = texts(refused.content, "//div[contains(@class, 'field-test_recipient')]//ul[@class='errorlist']")
    assert "2. XM Directory: distribute survey emails the person the event names" in error
    assert "1. XM Directory: add to directory saves them as a contact" in error
    assert not SentTestEvent.objects.exists()

    admin_client.post(
        form_url(workflow), {"event__ContactEmail": "ada@example.com", "test_recipient": "me@example.org"}
    )
    admin_client.post(form_url(workflow), {"event__ContactEmail": "ada@example.com", "send_to_people": "on"})
    assert sorted(SentTestEvent.objects.values_list("test_recipient", flat=True)) == ["", "me@example.org"]


def test_the_status_page_links_to_the_run_and_stops_refreshing_when_it_finished(admin_client, workflow):
    test_event = SentTestEvent.objects.create(
        workflow=workflow, notification_id="04l000000000001AAA", acknowledged=True
    )
    run = make_run(workflow=workflow, test_event=test_event, status=Run.Status.RUNNING)

    running = admin_client.get(status_url(test_event))
    assert texts(running.content, "//table[@id='test-event-runs']//a/@href") == [
        f"/admin/workflows/run/{run.pk}/change/"
    ]
    assert texts(running.content, "//meta[@http-equiv='refresh']/@content") == ["2"]

    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED)
    finished = admin_client.get(status_url(test_event))
    assert texts(finished.content, "//td[@class='run-status']") == ["Succeeded"]
    assert texts(finished.content, "//meta[@http-equiv='refresh']") == []


def test_staff_without_the_run_permissions_can_neither_see_nor_send(client, workflow):
    user = make_user()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_workflow", "change_workflow", "view_run"]))
    client.force_login(user)
    test_event = SentTestEvent.objects.create(workflow=workflow, notification_id="04l000000000001AAA")

    assert client.get(form_url(workflow)).status_code == 403
    assert client.post(form_url(workflow), {"event__CaseNumber": "1"}).status_code == 403
    assert client.get(status_url(test_event)).status_code == 403
    page = client.get(f"/admin/workflows/workflow/{workflow.pk}/change/")
    assert texts(page.content, "//a[@class='test-event-link']") == []
    assert SentTestEvent.objects.count() == 1


def test_staff_with_view_and_add_run_may_send_to_a_workflow_they_own(client, workflow):
    user = make_user()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_workflow", "view_run", "add_run"]))
    client.force_login(user)
    Workflow.objects.filter(pk=workflow.pk).update(owner=user)  # a test runs the tasks with the owner's rights

    assert client.post(form_url(workflow), {"event__CaseNumber": "1", "send_to_people": "on"}).status_code == 302
    assert SentTestEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_job_posts_the_message_to_the_event_url_and_its_run_succeeds(live_server, settings):
    """Over HTTP, to PUBLIC_BASE_URL (here the live server), as Salesforce would post it."""
    settings.PUBLIC_BASE_URL = live_server.url
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    test_event = service.test_event_create(
        workflow=workflow,
        fields={
            "Customer_First_Name__c": "Ada",
            "Customer_Last_Name__c": "Lovelace",
            "ContactEmail": "ada@example.com",
        },
        test_recipient="",
        user=workflow.owner,
    )  # outside a transaction: the delivery job runs at once, and (sync workers) so does the run

    test_event.refresh_from_db()
    assert test_event.acknowledged is True, test_event.delivery
    [run] = Run.objects.all()
    assert run.test_event_id == test_event.pk
    assert run.status == Run.Status.SUCCEEDED, run.status_reason


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_event_url_is_reported_on_the_test_event(settings, monkeypatch):
    monkeypatch.setattr(service, "GIVE_UP_AFTER_SECONDS", 0)
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # discard: nothing listens
    test_event = service.test_event_create(workflow=make_workflow(), fields={}, test_recipient="", user=None)

    test_event.refresh_from_db()
    assert test_event.acknowledged is False
    assert "check PUBLIC_BASE_URL" in test_event.delivery
    assert service.test_event_deliver(test_event_id=test_event.pk).delivery == test_event.delivery  # once only


@pytest.mark.parametrize(
    ("field", "typed", "error"),
    [
        ("IsClosed", "yes", "'yes' is not true or false."),
        ("Satisfaction_Score__c", "1,000.5", "'1,000.5' is not a number"),
        ("ClosedDate", "yesterday", "'yesterday' is not a date and time"),
        ("ContactId", "003ABC", "'003ABC' is not a Salesforce id"),
    ],
)
def test_the_form_refuses_a_value_salesforce_never_sends_for_the_type(admin_client, workflow, field, typed, error):
    data = {"event__ContactEmail": "ada@example.com", f"event__{field}": typed, "test_recipient": "me@example.org"}

    response = admin_client.post(form_url(workflow), data)

    assert response.status_code == 200
    message = str(response.context["form"].errors[f"event__{field}"][0])
    assert message.startswith(error)
    assert "Salesforce sends this field (xsd:" in message
    assert texts(response.content, f"//input[@name='event__{field}']/@value") == [typed]  # kept to correct
    assert not SentTestEvent.objects.exists()


def test_the_form_sends_values_in_the_forms_salesforce_sends_them(admin_client, workflow):
    data = {
        "event__ContactEmail": "ada@example.com",
        "event__IsClosed": "TRUE",
        "event__Satisfaction_Score__c": " 9.5 ",
        "event__ClosedDate": "2024-03-01T10:00:00Z",
        "event__ContactId": "0035g00000AdaLvAAJ",
        "event__CaseNumber": "yes",  # a text field takes any text
        "test_recipient": "me@example.org",
    }

    response = admin_client.post(form_url(workflow), data)

    assert response.status_code == 302
    assert "<sf:IsClosed>TRUE</sf:IsClosed>" in SentTestEvent.objects.get().body


def test_other_fields_do_not_take_a_field_that_has_its_own(admin_client, workflow):
    data = {"event__IsClosed": "true", "more_fields": "Tier__c=Gold\nIsClosed=yes", "test_recipient": "me@example.org"}

    response = admin_client.post(form_url(workflow), data)

    errors = response.context["form"].errors["more_fields"]
    assert errors == ["Line 2: IsClosed has its own field above: fill it there."]
    assert not SentTestEvent.objects.exists()
