"""Every operation of the API, called with a token whose user lacks one of the permissions it
needs: 403 in the envelope, showing none of the data and changing nothing. The operations are
read from the URL resolver and each view's `required_permissions`, so a new one is covered as
soon as it is routed."""

import re

import pytest
from django.apps import apps
from django.core import serializers
from django.urls import URLPattern, get_resolver

from tests.api.conftest import api_client_for, error, result
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
    make_user,
    make_workflow,
)

pytestmark = pytest.mark.django_db

BODIES = {
    ("POST", "contacts"): {"email": "new@example.com"},
    ("PUT", "contact"): {"firstName": "Changed"},
    ("POST", "contacts-search"): {"filters": [{"filterType": "email", "value": "ada-qz9@example.com"}]},
    ("POST", "mailing-lists"): {"name": "New list"},
    ("POST", "mailing-list-contacts"): {"email": "new@example.com"},
    ("PUT", "survey"): {"name": "Renamed"},
    ("POST", "response-exports"): {"format": "csv"},
}


@pytest.fixture
def world():
    owner = make_user(username="owner-qz9")
    directory = make_directory(name="Directory-qz9")
    contact = make_contact(directory=directory, email="ada-qz9@example.com", first_name="Ada-qz9")
    mailing_list = directory.mailing_lists.create(name="List-qz9")
    survey = make_survey(owner=owner, name="Survey-qz9")
    make_question(survey=survey, text="Question-qz9")
    workflow = make_workflow(owner=owner, name="Workflow-qz9")
    run = make_run(workflow=workflow)
    distribution = make_distribution(survey=survey, subject="Subject-qz9", run=run)
    make_survey_response(invitation=make_invitation(distribution=distribution, contact=contact))
    export = make_response_export(survey=survey)
    values = {
        "directoryId": directory.public_id,
        "contactId": contact.public_id,
        "mailingListId": mailing_list.public_id,
        "surveyId": survey.public_id,
        "distributionId": distribution.public_id,
        "workflowId": str(workflow.pk),
        "runId": str(run.pk),
        "exportProgressId": export.public_id,
        "fileId": export.file_id,
    }
    return {"owner": owner, "values": values, "survey": survey}


def operations():
    """(URL name, route, view class, method, permissions) of every operation that needs permissions."""
    (api_resolver,) = [entry for entry in get_resolver().url_patterns if getattr(entry, "namespace", None) == "api"]
    for pattern in api_resolver.url_patterns:
        assert isinstance(pattern, URLPattern)
        view = getattr(pattern.callback, "view_class", None)
        for method, permissions in getattr(view, "required_permissions", {}).items():
            yield pattern.name, str(pattern.pattern), method, permissions


OPERATIONS = list(operations())


def every_row():
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in ("sessions", "api") or model._meta.proxy:
            continue
        rows[model._meta.label] = serializers.serialize("json", model._base_manager.order_by("pk"))
    return rows


def call(api, name, route, method, world):
    path = "/API/" + re.sub(r"<str:(\w+)>", lambda match: world["values"][match[1]], route)
    query = {"surveyId": world["values"]["surveyId"]} if name.startswith("distribution") else {}
    body = BODIES.get((method, name), {} if method in ("POST", "PUT") else None)
    if name == "transactions":
        body = {"visit": {"contactId": world["values"]["contactId"], "data": {"Store": "Milan"}}}
    return api.call(method, path, body, **query)


def test_every_operation_is_covered():
    names = {name for name, *_ in OPERATIONS}

    assert {"surveys", "contacts", "contact", "transactions", "distribution-history", "run-replay"} <= names


@pytest.mark.parametrize(
    "name, route, method, missing",
    [
        pytest.param(name, route, method, missing, id=f"{method} {name} without {missing}")
        for name, route, method, permissions in OPERATIONS
        for missing in permissions
    ],
)
def test_a_token_lacking_one_permission_gets_403_sees_nothing_and_changes_nothing(world, name, route, method, missing):
    permissions = next(p for n, r, m, p in OPERATIONS if (n, r, m) == (name, route, method))
    # The survey's owner, so the distribute rule is not what refuses.
    api = api_client_for(world["owner"], *(permission for permission in permissions if permission != missing))
    before = every_row()

    response = call(api, name, route, method, world)

    assert response.status_code == 403
    assert missing in error(response)["errorMessage"]
    assert "-qz9" not in response.content.decode()
    assert every_row() == before


@pytest.mark.parametrize(
    "name, route, method, permissions",
    [pytest.param(*operation, id=f"{operation[2]} {operation[0]}") for operation in OPERATIONS],
)
def test_a_token_with_the_permissions_an_operation_lists_may_call_it(world, name, route, method, permissions):
    api = api_client_for(world["owner"], *permissions)

    response = call(api, name, route, method, world)

    if response.streaming:  # a file download
        assert response.status_code == 200 and b"".join(response.streaming_content)
        return
    assert response.status_code in (200, 201), response.content[:300]
    if response.status_code != 200 or method != "DELETE":
        result(response)
