"""Salesforce field values as the endpoint receives them, through to the conditions of the run.

Each test posts a real-format outbound message to the event URL and executes the run it queued,
so the value is read as stored from the XML, not as a test typed it.
"""

from pathlib import Path

import pytest

from directory.models import Contact
from tests.factories import case_fields, make_condition, make_directory_task, make_workflow, outbound_message
from tests.workflows.test_endpoint import is_ack
from workflows.models import Run
from workflows.piping import validate
from workflows.services.execution import run_execute
from workflows.services.workflow_admin import workflow_fields_from_wsdl

pytestmark = pytest.mark.django_db

ACCOUNT_ID_15 = "0015g00000ABCDE"
ACCOUNT_ID_18 = "0015g00000ABCDEAA5"  # its case-safe form


def run_for(client, workflow, body: bytes) -> Run:
    """The run the endpoint queued for `body`, executed."""
    response = client.post(workflow.event_path, body, content_type="text/xml; charset=UTF-8")
    assert is_ack(response)
    run = Run.objects.filter(workflow=workflow).latest("id")
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.parametrize("known_fields", [{"AccountId": "ID"}, {}])
@pytest.mark.parametrize(
    ("sent", "condition"),
    [
        (ACCOUNT_ID_18, ACCOUNT_ID_15),
        (ACCOUNT_ID_18, ACCOUNT_ID_18.upper()),
        (ACCOUNT_ID_15, ACCOUNT_ID_18.lower()),
    ],
)
def test_it_matches_a_lookup_id_against_its_other_form(client, known_fields, sent, condition):
    workflow = make_workflow(known_fields=known_fields, fields_from_wsdl=bool(known_fields))
    make_condition(workflow=workflow, field="AccountId", operator="equals", value=condition)

    run = run_for(client, workflow, outbound_message(case_fields(AccountId=sent)))

    assert run.status == Run.Status.SUCCEEDED
    assert run.condition_results[0]["passed"] is True


def test_it_does_not_match_another_record_whose_15_character_id_differs_in_case(client):
    workflow = make_workflow(known_fields={"AccountId": "ID"}, fields_from_wsdl=True)
    make_condition(workflow=workflow, field="AccountId", operator="equals", value=ACCOUNT_ID_15.lower())

    run = run_for(client, workflow, outbound_message(case_fields(AccountId=ACCOUNT_ID_18)))

    assert run.status == Run.Status.CONDITIONS_NOT_MET


ADDRESS = (
    "<sf:MailingAddress><sf:city>Paris</sf:city><sf:country>France</sf:country></sf:MailingAddress>"
    "<sf:Store_Location__c><sf:latitude>48.85</sf:latitude><sf:longitude>2.35</sf:longitude></sf:Store_Location__c>"
)


def with_compound_fields(body: bytes) -> bytes:
    """The message with an address and a geolocation, as the SOAP API sends compound fields."""
    return body.replace(b"</sObject>", ADDRESS.encode() + b"</sObject>")


def test_it_pipes_and_compares_the_components_of_a_compound_field(client):
    workflow = make_workflow(
        known_fields={"MailingAddress": "address", "Store_Location__c": "location"}, fields_from_wsdl=True
    )
    make_condition(workflow=workflow, field="MailingAddress", operator="is_not_empty")
    make_condition(workflow=workflow, field="MailingAddress.city", operator="equals", value="Paris", position=2)
    make_directory_task(
        workflow=workflow,
        data_fields=[["City", "${event://MailingAddress.city}"], ["Store", "${event://Store_Location__c}"]],
    )

    run = run_for(client, workflow, with_compound_fields(outbound_message()))

    assert [result["passed"] for result in run.condition_results] == [True, True]
    assert run.status == Run.Status.SUCCEEDED
    assert Contact.objects.get().embedded_data == {"City": "Paris", "Store": "48.85, 2.35"}


def test_it_learns_the_components_a_message_carries_as_fields_a_task_can_pipe(client):
    workflow = make_workflow()
    run_for(client, workflow, with_compound_fields(outbound_message()))
    workflow.refresh_from_db()

    assert "MailingAddress.city" in workflow.known_fields
    assert validate("${event://MailingAddress.city}", known_event_fields=workflow.known_fields) == []


CASE_WSDL = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce" / "Case.wsdl"


@pytest.mark.parametrize(
    ("field", "sent", "operator", "value", "passed"),
    [
        ("IsClosed", "true", "equals", "TRUE", True),
        ("IsClosed", "false", "equals", "0", True),
        ("IsClosed", "false", "is_empty", "", False),
        ("Satisfaction_Score__c", "9.0", "equals", "9", True),
        ("Satisfaction_Score__c", "1.0E1", "greater_than", "9.5", True),
        ("Satisfaction_Score__c", "-3.5E-1", "less_than", "0", True),
        ("ClosedDate", "2024-05-01T23:30:00.000Z", "equals", "2024-05-01", True),
        ("ClosedDate", "2024-05-01T10:00:00.000Z", "greater_than", "2024-05-01T11:00:00+02:00", True),
        ("ClosedDate", "2024-05-01T10:00:00.123Z", "equals", "2024-05-01T12:00:00.123+02:00", True),
        ("CaseNumber", "00001026", "equals", "1026", False),
        ("Status", "Escalated", "equals_ignoring_case", "escalated", True),
        ("Subject", " \n ", "is_empty", "", True),
        ("AccountId", ACCOUNT_ID_18, "equals", ACCOUNT_ID_15, True),
    ],
)
def test_it_compares_each_kind_of_value_as_the_wsdl_declares_it(client, field, sent, operator, value, passed):
    workflow = make_workflow()
    workflow_fields_from_wsdl(workflow=workflow, data=CASE_WSDL.read_bytes())
    make_condition(workflow=workflow, field=field, operator=operator, value=value)

    run = run_for(client, workflow, outbound_message(case_fields(**{field: sent})))

    assert run.condition_results[0]["passed"] is passed, run.condition_results


def test_it_finds_a_field_sent_nil_empty(client):
    workflow = make_workflow()
    make_condition(workflow=workflow, field="Subject", operator="is_empty")
    nil = b'<sf:Subject xsi:nil="1"/>'
    body = outbound_message(case_fields(Subject="x")).replace(b"<sf:Subject>x</sf:Subject>", nil)

    run = run_for(client, workflow, body)

    assert run.condition_results[0]["passed"] is True
    assert run.notification.fields["Subject"] is None
