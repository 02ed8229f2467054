"""Test events: what marks a message as a test at the endpoint, what cannot, and the test address."""

import time

import pytest
from django.core import mail, signing

from directory.models import Contact
from tests.factories import (
    case_fields,
    make_directory_task,
    make_distribute_task,
    make_run,
    make_sender_domain,
    make_survey,
    make_user,
    make_workflow,
    outbound_message,
)
from tests.workflows.test_endpoint import fault_string, is_ack
from workflows.models import InboundMessage, Run
from workflows.models import TestEvent as SentTestEvent

# The module, not its functions: pytest would collect names starting with test_ as tests.
from workflows.services import test_events as service
from workflows.services.demo import DEMO_CLOSED_CASE, demo_seed
from workflows.services.execution import run_execute
from workflows.services.replay import runs_replay
from workflows.services.test_events import HEADER

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(client):
    def post(workflow, body, header=None):
        extra = {} if header is None else {f"HTTP_{HEADER.upper().replace('-', '_')}": header}
        return client.post(workflow.event_path, body, content_type="text/xml; charset=UTF-8", **extra)

    return post


def new_test_event(workflow, fields=None, test_recipient=""):
    return service.test_event_create(
        workflow=workflow, fields=fields or case_fields(), test_recipient=test_recipient, user=workflow.owner
    )


def test_it_marks_the_runs_of_the_test_events_own_message_as_a_test(post):
    workflow = make_workflow()
    test_event = new_test_event(workflow)

    response = post(workflow, test_event.body.encode(), header=service.test_event_header(test_event=test_event))

    assert is_ack(response)
    [run] = Run.objects.all()
    assert run.test_event == test_event
    test_event.refresh_from_db()
    assert test_event.received_at is not None


def test_a_message_without_the_header_is_salesforces_whatever_its_body_says(post):
    workflow = make_workflow()
    test_event = new_test_event(workflow)

    # The test event's own body, a body naming the header as a field: neither makes a test.
    assert is_ack(post(workflow, test_event.body.encode()))
    assert is_ack(
        post(workflow, outbound_message(case_fields(X_Test_Event__c=service.test_event_header(test_event=test_event))))
    )

    assert Run.objects.count() == 2
    assert not Run.objects.filter(test_event__isnull=False).exists()


@pytest.mark.parametrize(
    "forge",
    [
        lambda test_event: "1",
        lambda test_event: signing.dumps(test_event.pk),  # signed, but not for test events
        lambda test_event: signing.dumps(test_event.pk, salt="workflows.test-event", key="another-site-key" * 4),
        lambda test_event: service.test_event_header(test_event=test_event) + "x",
    ],
    ids=["unsigned", "other-salt", "other-key", "tampered"],
)
def test_a_caller_cannot_forge_the_header(post, forge):
    workflow = make_workflow()
    test_event = new_test_event(workflow)

    response = post(workflow, test_event.body.encode(), header=forge(test_event))

    assert response.status_code == 403
    assert "not one this site signed" in fault_string(response)
    assert not Run.objects.exists()
    assert InboundMessage.objects.get().status == InboundMessage.Status.REFUSED


def test_the_header_marks_only_the_test_events_own_message(post):
    workflow = make_workflow()
    header = service.test_event_header(test_event=new_test_event(workflow))

    response = post(workflow, outbound_message(case_fields()), header=header)

    assert response.status_code == 403
    assert "not the test event's" in fault_string(response)
    assert not Run.objects.exists()


def test_the_header_of_another_workflows_test_event_is_refused(post):
    test_event = new_test_event(make_workflow())
    other = make_workflow()

    response = post(other, test_event.body.encode(), header=service.test_event_header(test_event=test_event))

    assert response.status_code == 403
    assert "another workflow" in fault_string(response)
    assert not Run.objects.exists()


def test_an_expired_header_is_refused(post, monkeypatch):
    workflow = make_workflow()
    test_event = new_test_event(workflow)
    now = time.time()
    with monkeypatch.context() as past:
        past.setattr(signing.time, "time", lambda: now - 61 * 60)  # signed an hour and a minute ago
        header = service.test_event_header(test_event=test_event)

    response = post(workflow, test_event.body.encode(), header=header)

    assert response.status_code == 403
    assert "expired" in fault_string(response)


def test_the_same_test_message_again_is_a_redelivery(post):
    workflow = make_workflow()
    test_event = new_test_event(workflow)
    header = service.test_event_header(test_event=test_event)

    assert is_ack(post(workflow, test_event.body.encode(), header=header))
    assert is_ack(post(workflow, test_event.body.encode(), header=header))

    assert Run.objects.filter(test_event=test_event).count() == 1


def test_the_message_is_built_as_salesforce_builds_it_leaving_empty_fields_out():
    workflow = make_workflow(allowed_organization_ids="00D5g000004ABCDEA4")
    test_event = new_test_event(workflow, fields={"ContactEmail": "ada@example.com", "Priority": ""})

    assert "<sf:ContactEmail>ada@example.com</sf:ContactEmail>" in test_event.body
    assert "Priority" not in test_event.body
    assert "<OrganizationId>00D5g000004ABCDEA4</OrganizationId>" in test_event.body
    assert f"<Id>{test_event.notification_id}</Id>" in test_event.body


def test_a_test_event_sends_the_components_of_a_compound_field_a_message_carried(post):
    workflow = make_workflow(known_fields={"MailingAddress.city": "", "MailingAddress.country": ""})
    fields = {**case_fields(), "MailingAddress.city": "Paris", "MailingAddress.country": "France"}
    test_event = new_test_event(workflow, fields=fields)

    assert is_ack(post(workflow, test_event.body.encode(), header=service.test_event_header(test_event=test_event)))
    stored = Run.objects.get().notification.fields
    assert (stored["MailingAddress.city"], stored["MailingAddress.country"]) == ("Paris", "France")


def test_the_form_offers_the_known_fields_with_the_last_messages_values():
    workflow = make_workflow(known_fields={"CaseNumber": "xsd:string", "IsClosed": "xsd:boolean"})
    make_run(workflow=workflow, fields={"CaseNumber": "00001026", "Subject": "Broken"})

    fields = service.test_event_fields(workflow=workflow)

    assert [(f.name, f.salesforce_type, f.value) for f in fields] == [
        ("CaseNumber", "xsd:string", "00001026"),
        ("IsClosed", "xsd:boolean", ""),
        ("Subject", "", "Broken"),
    ]


def test_a_replay_of_a_test_run_is_a_test_too():
    workflow = make_workflow()
    test_event = new_test_event(workflow)
    run = make_run(workflow=workflow, test_event=test_event, status=Run.Status.SUCCEEDED)

    [replay] = runs_replay(
        runs=Run.objects.filter(pk=run.pk).select_related("workflow", "notification"), user=run.workflow.owner
    )

    assert replay.test_event_id == test_event.pk


# --- the test address ---------------------------------------------------------------------------


@pytest.fixture
def distributing_workflow():
    make_sender_domain("example.com")
    survey = make_survey(name="Customer satisfaction")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, external_data_reference="${event://ContactId}")
    return workflow


def execute(run, capture):
    with capture(execute=True):
        run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_a_test_address_takes_the_recipients_place_for_that_run_only(
    distributing_workflow, django_capture_on_commit_callbacks
):
    real = Contact.objects.create(
        directory=_default_directory(),
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        external_data_reference="003000000000001AAA",
    )
    fields = case_fields(ContactEmail="ada@example.com", ContactId="003000000000001AAA")
    test_event = new_test_event(distributing_workflow, fields, test_recipient="tester@example.org")

    run = execute(
        make_run(workflow=distributing_workflow, fields=fields, test_event=test_event),
        django_capture_on_commit_callbacks,
    )

    assert run.status == Run.Status.SUCCEEDED, run.status_reason
    assert [message.to for message in mail.outbox] == [["tester@example.org"]]
    real.refresh_from_db()
    assert real.email == "ada@example.com"  # the real contact, found by its extRef, is left alone
    assert run.task_runs.get().resolved_input["email"] == "tester@example.org"

    # The next, real, run of the same record reaches the person again.
    mail.outbox.clear()
    real_run = execute(make_run(workflow=distributing_workflow, fields=fields), django_capture_on_commit_callbacks)
    assert real_run.status == Run.Status.SUCCEEDED, real_run.status_reason
    assert [message.to for message in mail.outbox] == [["ada@example.com"]]


def test_without_a_test_address_a_test_run_emails_the_person_the_event_names(
    distributing_workflow, django_capture_on_commit_callbacks
):
    test_event = new_test_event(distributing_workflow)

    run = execute(make_run(workflow=distributing_workflow, test_event=test_event), django_capture_on_commit_callbacks)

    assert run.status == Run.Status.SUCCEEDED, run.status_reason
    assert [message.to for message in mail.outbox] == [["ada@example.com"]]


def _default_directory():
    from directory.services import directory_get_default

    return directory_get_default()


def test_the_model_names_itself():
    test_event = SentTestEvent(pk=3, workflow=make_workflow(name="Case closed"), created_by=make_user())
    assert str(test_event) == "Test event 3 of Case closed"


def test_a_test_address_saves_the_add_to_directory_tasks_contact_under_it_and_leaves_the_real_one(
    django_capture_on_commit_callbacks,
):
    # The quickstart's "Case closed": the contact with embedded data, then a transaction on it.
    workflow = demo_seed(owner=make_user())
    make_directory_task(
        workflow=workflow, position=3, mailing_list="Phones", phone="${event://ContactMobile}", data_fields=[]
    )
    real = Contact.objects.create(
        directory=_default_directory(),
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        external_data_reference=DEMO_CLOSED_CASE["ContactId"],
        phone=DEMO_CLOSED_CASE["ContactMobile"],
        embedded_data={"Priority": "Low"},
    )
    before = Contact.objects.filter(pk=real.pk).values().get()
    fields = {**DEMO_CLOSED_CASE, "Priority": "High"}
    test_event = new_test_event(workflow, fields, test_recipient="tester@example.org")

    run = execute(make_run(workflow=workflow, fields=fields, test_event=test_event), django_capture_on_commit_callbacks)

    assert run.status == Run.Status.SUCCEEDED, run.status_reason
    assert Contact.objects.filter(pk=real.pk).values().get() == before  # fields and embedded data
    assert not real.transactions.exists() and not real.memberships.exists()
    test_contact = Contact.objects.get(email="tester@example.org")
    assert (test_contact.first_name, test_contact.external_data_reference, test_contact.phone) == ("Ada", "", "")
    assert test_contact.embedded_data == {"Priority": "High", "Origin": "Web"}
    assert list(test_contact.transactions.values_list("data__CaseNumber", flat=True)) == ["00001026"]
    attempts = run.task_runs.order_by("position")
    assert [attempt.output["ContactId"] for attempt in attempts] == [str(test_contact.pk)] * 3
    assert [attempt.output["ContactAction"] for attempt in attempts] == ["created", "updated", "updated"]
    assert [attempt.resolved_input["email"] for attempt in attempts] == ["tester@example.org"] * 3


def test_without_a_test_address_a_test_run_saves_the_contact_the_event_names(django_capture_on_commit_callbacks):
    workflow = demo_seed(owner=make_user())
    test_event = new_test_event(workflow, DEMO_CLOSED_CASE)

    run = execute(
        make_run(workflow=workflow, fields=DEMO_CLOSED_CASE, test_event=test_event), django_capture_on_commit_callbacks
    )

    assert run.status == Run.Status.SUCCEEDED, run.status_reason
    contact = Contact.objects.get()
    assert (contact.email, contact.external_data_reference) == ("ada@example.com", DEMO_CLOSED_CASE["ContactId"])
    assert contact.transactions.count() == 1
