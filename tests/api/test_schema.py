"""Schemathesis against the API's own OpenAPI schema, in-process: for every operation, a bounded
number of generated calls (valid and invalid ids, bodies and parameters) made with a superuser's
token. None may answer 500, and every answer must be one the schema documents, in its shape."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings, strategies
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.services import api_token_create
from config.wsgi import application
from tests.factories import (
    make_contact,
    make_directory,
    make_distribution,
    make_invitation,
    make_question,
    make_response_export,
    make_run,
    make_survey,
    make_survey_response,
    make_task_run,
    make_user,
    make_workflow,
)

EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Loaded once, at collection: building the schema reads no data.
SCHEMA = schemathesis.openapi.from_wsgi("/API/v3/schema/?format=json", application)
OPERATIONS = [operation.ok() for operation in SCHEMA.get_all_operations()]


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Schemathesis calls Django's WSGI handler as a server would; like Django's test client, it
    must leave the test's database connection open (in its transaction) between requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, settings, wsgi_keeps_the_test_connection):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": "100000/min"}}
    owner = make_user(username="schema-owner", is_superuser=True)
    directory = make_directory(name="Schema directory")
    contact = make_contact(directory=directory, email="ada@example.com", embedded_data={"Tier": "Gold"})
    mailing_list = directory.mailing_lists.create(name="Schema list")
    survey = make_survey(owner=owner)
    make_question(survey=survey)
    workflow = make_workflow(owner=owner)
    run = make_run(workflow=workflow, status="failed")
    make_task_run(run=run, status="failed", error="Mailbox unavailable.", output={"ContactId": str(contact.pk)})
    distribution = make_distribution(survey=survey, run=run)
    invitation = make_invitation(distribution=distribution, contact=contact)
    make_survey_response(invitation=invitation, answers={"1": "Fine"})
    export = make_response_export(survey=survey)
    return {
        "secret": api_token_create(user=owner, name="schemathesis")[1],
        # Ids of existing rows, so generated calls reach past the 404 too.
        "ids": {
            "directoryId": directory.public_id,
            "contactId": contact.public_id,
            "mailingListId": mailing_list.public_id,
            "surveyId": survey.public_id,
            "distributionId": distribution.public_id,
            "workflowId": str(workflow.pk),
            "runId": str(run.pk),
            "exportProgressId": export.public_id,
            "fileId": export.file_id,
        },
    }


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_every_operation_answers_as_its_schema_says(operation, token):
    @given(case=operation.as_strategy(), existing_ids=strategies.booleans())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case, existing_ids):
        if existing_ids:
            ids = token["ids"]
            case.path_parameters = {name: ids.get(name, value) for name, value in (case.path_parameters or {}).items()}
            if case.query and "surveyId" in case.query:
                case.query = {**case.query, "surveyId": ids["surveyId"]}
        case.call_and_validate(headers={"X-API-TOKEN": token["secret"]}, checks=CHECKS)

    call()
