"""Salesforce field values as the endpoint receives them, through to the conditions of the run.

Each test posts a real-format outbound message to the event URL and executes the run it queued,
so the value is read as stored from the XML, not as a test typed it.
"""

import pytest

from tests.factories import case_fields, make_condition, make_workflow, outbound_message
from tests.workflows.test_endpoint import is_ack
from workflows.models import Run
from workflows.services.execution import run_execute

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
