"""The event endpoint: store-then-ack, dedupe, and a SOAP Fault with the contract's status."""

from pathlib import Path

import pytest
from defusedxml import ElementTree

from tests.factories import case_fields, make_workflow, outbound_message
from workflows.models import InboundMessage, Notification, Run
from workflows.salesforce.build import case_safe_id

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
OUTBOUND_NS = "{http://soap.sforce.com/2005/09/outbound}"
SOAP_NS = "{http://schemas.xmlsoap.org/soap/envelope/}"

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(client):
    def post(workflow_or_path, body, content_type="text/xml; charset=UTF-8"):
        path = workflow_or_path if isinstance(workflow_or_path, str) else workflow_or_path.event_path
        return client.post(path, body, content_type=content_type, HTTP_SOAPACTION='""')

    return post


def is_ack(response):
    root = ElementTree.fromstring(response.content)
    ack = root.find(f"{SOAP_NS}Body/{OUTBOUND_NS}notificationsResponse/{OUTBOUND_NS}Ack")
    return response.status_code == 200 and ack is not None and ack.text == "true"


def fault_string(response):
    root = ElementTree.fromstring(response.content)
    return root.find(f"{SOAP_NS}Body/{SOAP_NS}Fault/faultstring").text


def test_it_acks_and_stores_one_run_per_notification(post):
    workflow = make_workflow()
    response = post(workflow, outbound_message(case_fields(), case_fields()))
    assert is_ack(response)
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert Notification.objects.filter(inbound_message__workflow=workflow).count() == 2
    assert Run.objects.filter(workflow=workflow).count() == 2
    inbound = InboundMessage.objects.get()
    assert (inbound.status, inbound.notification_count, inbound.new_notification_count) == ("accepted", 2, 2)
    assert (inbound.remote_addr, inbound.workflow) == ("127.0.0.1", workflow)


def test_it_accepts_application_xml(post):
    workflow = make_workflow()
    assert is_ack(post(workflow, outbound_message(), content_type="application/xml"))


def test_it_stores_the_fields_as_sent(post):
    workflow = make_workflow()
    post(workflow, outbound_message(case_fields(Subject="<b>Broken</b> & Zoë")))
    notification = Notification.objects.get()
    assert notification.fields["Subject"] == "<b>Broken</b> & Zoë"
    assert notification.record_id == notification.fields["Id"]


def test_it_creates_no_second_run_for_a_redelivered_message(post):
    workflow = make_workflow()
    body = outbound_message(case_fields(), case_fields())
    for _ in range(3):
        assert is_ack(post(workflow, body))
    assert Run.objects.count() == 2
    statuses = list(InboundMessage.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["accepted", "duplicate", "duplicate"]


def test_it_dedupes_a_notification_repeated_within_one_batch(post):
    workflow = make_workflow()
    fields = case_fields()
    body = outbound_message(fields, fields, notification_ids=["04l5g00000ABCDEAAA", "04l5g00000ABCDEAAA"])
    assert is_ack(post(workflow, body))
    assert Run.objects.count() == 1


def test_it_matches_15_and_18_character_organization_ids_as_one_organization(post):
    workflow = make_workflow()
    ids = ["04l5g00000ABCDEAAA"]
    post(workflow, outbound_message(organization_id="00D5g000004ABCDEA4", notification_ids=ids))
    post(workflow, outbound_message(organization_id="00D5g000004ABCD", notification_ids=ids))
    assert Run.objects.count() == 1


def test_it_accepts_an_organization_allowed_by_its_18_character_id_written_in_capitals(post):
    workflow = make_workflow(allowed_organization_ids="00D5G000004ABCDEA4")

    assert is_ack(post(workflow, outbound_message(organization_id="00D5g000004ABCDEA4")))


def test_it_refuses_an_organization_whose_15_character_id_differs_from_an_allowed_one_in_case(post):
    workflow = make_workflow(allowed_organization_ids="00D5g000004ABCD")
    other = case_safe_id("00D5g000004abcd")  # another organization: 15-character ids are case-sensitive

    assert post(workflow, outbound_message(organization_id=other)).status_code == 403
    assert not Run.objects.exists()


def test_it_never_stores_the_session_id(post):
    workflow = make_workflow()
    body = (FIXTURES / "case_session_id.xml").read_bytes()
    assert is_ack(post(workflow, body))
    inbound = InboundMessage.objects.get()
    assert "SessionId" in inbound.body
    assert "00D5" not in inbound.body.split("SessionId>")[1]


def test_it_skips_runs_of_a_disabled_workflow_but_keeps_them(post):
    workflow = make_workflow(enabled=False)
    assert is_ack(post(workflow, outbound_message()))
    run = Run.objects.get()
    assert run.status == Run.Status.SKIPPED
    assert "Workflow disabled" in run.status_reason


@pytest.mark.parametrize(
    "case",
    [
        "unknown_token",
        "wrong_organization",
        "wrong_object",
        "malformed",
        "billion_laughs",
        "external_entity",
        "too_many",
        "too_large",
        "get",
    ],
)
def test_it_refuses_with_the_contract_status_a_fault_and_a_logged_reason(case, settings, client, post):
    workflow = make_workflow(allowed_organization_ids="00D5g000004ABCD")
    path, body, method = workflow.event_path, outbound_message(), "post"
    expected_status, reason_part = {
        "unknown_token": (404, "No workflow has this event URL"),
        "wrong_organization": (403, "is not allowed"),
        "wrong_object": (400, "carries Lead"),
        "malformed": (400, "not well-formed"),
        "billion_laughs": (400, "DTD"),
        "external_entity": (400, "DTD"),
        "too_many": (400, "at most 100"),
        "too_large": (413, "larger than"),
        "get": (405, "POST"),
    }[case]
    if case == "unknown_token":
        path = "/events/salesforce/not-a-real-token/"
    elif case == "wrong_organization":
        body = outbound_message(organization_id="00D000000000001EAA")
    elif case == "wrong_object":
        body = outbound_message(case_fields(), sobject_type="Lead")
    elif case == "malformed":
        body = outbound_message()[:-40]
    elif case in ("billion_laughs", "external_entity"):
        body = (FIXTURES / f"{case}.xml").read_bytes()
    elif case == "too_many":
        body = outbound_message(*[case_fields() for _ in range(101)])
    elif case == "too_large":
        settings.SALESFORCE_MAX_BODY_BYTES = 1000
    elif case == "get":
        method = "get"
    response = post(path, body) if method == "post" else client.get(path)
    assert response.status_code == expected_status
    assert reason_part in fault_string(response)
    logged = InboundMessage.objects.get()
    assert (logged.status, logged.http_status) == ("refused", expected_status)
    assert reason_part in logged.reason
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("organization_id", "sobject_type", "allowed"),
    [("00D000000000001EAA", "Case", "00D5g000004ABCD"), ("00D5g000004ABCDEA4", "Lead", "")],
)
def test_it_logs_who_called_when_it_refuses_a_message_it_could_read(post, organization_id, sobject_type, allowed):
    """A foreign organization or a wrong object: the log's organization, action and object
    columns (and the list's filters on them) say who called, not only the reason."""
    workflow = make_workflow(allowed_organization_ids=allowed)
    body = outbound_message(case_fields(), case_fields(), organization_id=organization_id, sobject_type=sobject_type)

    post(workflow, body)

    logged = InboundMessage.objects.get()
    assert logged.status == "refused"
    assert (logged.organization_id, logged.action_id) == (organization_id, "04k5g000000ABCDAAA")
    assert (logged.sobject_type, logged.notification_count) == (sobject_type, 2)


def test_it_answers_503_without_ack_when_the_database_refuses_the_write(monkeypatch, post):
    from django.db import OperationalError

    from workflows.services import ingest

    workflow = make_workflow()

    def failing_store(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(ingest, "_store", failing_store)
    response = post(workflow, outbound_message())
    assert response.status_code == 503
    assert "retry" in fault_string(response)


@pytest.fixture
def database_queue(monkeypatch):
    """django-q2 as in production: jobs go to its queue table instead of running inline."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)


def test_it_queues_wake_up_jobs_with_the_runs_one_per_25(post, database_queue):
    from django_q.models import OrmQ

    workflow = make_workflow()
    assert is_ack(post(workflow, outbound_message(*[case_fields() for _ in range(30)])))
    assert OrmQ.objects.count() == 2
    assert Run.objects.filter(status=Run.Status.QUEUED).count() == 30


def test_it_queues_no_job_for_a_redelivered_message(post, database_queue):
    from django_q.models import OrmQ

    workflow = make_workflow()
    body = outbound_message()
    post(workflow, body)
    post(workflow, body)
    assert OrmQ.objects.count() == 1
