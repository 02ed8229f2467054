"""The endpoint keeps the workflows it has read, per process, and skips the lookup for them; a
token rotation, a disable or an edit takes effect on the very next call, whichever process made
it, because the store writes nothing unless the workflow's row still holds what was read."""

import pytest
import requests
from django.db import connection

from tests.factories import ORGANIZATION_ID, case_fields, make_workflow, outbound_message
from tests.web import gunicorn
from tests.workflows.test_endpoint import fault_string, is_ack
from workflows.models import InboundMessage, Notification, Run, Workflow
from workflows.services import ingest
from workflows.services.workflow_admin import workflow_rotate_token

pytestmark = pytest.mark.django_db

OTHER_ORGANIZATION_ID = "00D5g000004WXYZEA4"


@pytest.fixture
def post(client):
    def post(workflow_or_path, body):
        path = workflow_or_path if isinstance(workflow_or_path, str) else workflow_or_path.event_path
        return client.post(path, body, content_type="text/xml; charset=UTF-8")

    return post


@pytest.fixture
def lookups(monkeypatch):
    """Counts the endpoint's reads of a workflow by token."""
    count = []
    read = ingest._workflow_by_digest

    def counted(digest):
        count.append(digest)
        return read(digest)

    monkeypatch.setattr(ingest, "_workflow_by_digest", counted)
    return count


def changed_elsewhere(workflow, **fields):
    """As another process would: a plain UPDATE, no signal, no save(), nothing this process sees."""
    Workflow.objects.filter(pk=workflow.pk).update(**fields)


def test_it_reads_a_workflow_once_then_accepts_without_reading_it(post, lookups):
    workflow = make_workflow()

    for _ in range(3):
        assert is_ack(post(workflow, outbound_message()))

    assert len(lookups) == 1
    assert Run.objects.filter(workflow=workflow, status=Run.Status.QUEUED).count() == 3


def test_it_refuses_the_old_url_at_once_after_a_rotation(post):
    workflow = make_workflow()
    old_path = workflow.event_path
    assert is_ack(post(old_path, outbound_message()))

    workflow_rotate_token(workflow=workflow)
    response = post(old_path, outbound_message())

    assert response.status_code == 404
    assert "No workflow has this event URL" in fault_string(response)
    assert is_ack(post(workflow.event_path, outbound_message()))
    assert Notification.objects.count() == 2


def test_it_skips_the_runs_at_once_after_a_disable(post):
    workflow = make_workflow()
    assert is_ack(post(workflow, outbound_message()))

    changed_elsewhere(workflow, enabled=False)
    assert is_ack(post(workflow, outbound_message()))

    latest = Run.objects.order_by("pk").last()
    assert (latest.status, latest.status_reason) == (Run.Status.SKIPPED, Run.WORKFLOW_DISABLED)


def test_it_queues_the_runs_at_once_after_an_enable(post):
    workflow = make_workflow(enabled=False)
    assert is_ack(post(workflow, outbound_message()))

    changed_elsewhere(workflow, enabled=True)
    assert is_ack(post(workflow, outbound_message()))

    assert Run.objects.order_by("pk").last().status != Run.Status.SKIPPED


def test_it_refuses_an_organization_at_once_after_the_allowlist_narrows(post):
    workflow = make_workflow(allowed_organization_ids=ORGANIZATION_ID)
    assert is_ack(post(workflow, outbound_message()))

    changed_elsewhere(workflow, allowed_organization_ids=OTHER_ORGANIZATION_ID)
    response = post(workflow, outbound_message())

    assert response.status_code == 403
    assert InboundMessage.objects.filter(status=InboundMessage.Status.REFUSED, http_status=403).count() == 1
    assert Notification.objects.count() == 1


def test_it_accepts_an_organization_at_once_after_the_allowlist_widens(post):
    workflow = make_workflow(allowed_organization_ids=OTHER_ORGANIZATION_ID)
    assert post(workflow, outbound_message()).status_code == 403

    changed_elsewhere(workflow, allowed_organization_ids=f"{OTHER_ORGANIZATION_ID}\n{ORGANIZATION_ID}")

    assert is_ack(post(workflow, outbound_message()))


def test_it_refuses_another_object_at_once_after_the_workflow_changes_object(post):
    workflow = make_workflow()
    assert is_ack(post(workflow, outbound_message()))

    changed_elsewhere(workflow, salesforce_object="Lead")
    response = post(workflow, outbound_message(case_fields()))

    assert response.status_code == 400
    assert "bound to Lead records" in fault_string(response)


def test_it_answers_404_once_the_workflow_is_deleted(post):
    workflow = make_workflow()
    path = workflow.event_path
    assert is_ack(post(path, outbound_message()))

    Workflow.objects.filter(pk=workflow.pk).delete()

    assert post(path, outbound_message()).status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_change_made_by_another_process_takes_effect_on_the_next_call(postgres_only, tmp_path):
    """One gunicorn worker (one process, one set of known workflows) serves the calls; this test's
    process rotates the token and disables the workflow in between."""
    workflow = make_workflow()
    with gunicorn(log_dir=tmp_path, env={}, options=("--workers", "1")) as port:

        def post(path):
            return requests.post(
                f"http://127.0.0.1:{port}{path}",
                data=outbound_message(),
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=30,
            )

        old_path = workflow.event_path
        assert post(old_path).status_code == 200

        workflow_rotate_token(workflow=workflow)
        assert post(old_path).status_code == 404
        assert post(workflow.event_path).status_code == 200

        changed_elsewhere(workflow, enabled=False)
        assert post(workflow.event_path).status_code == 200

    statuses = list(Run.objects.order_by("pk").values_list("status", flat=True))
    assert statuses[0] != Run.Status.SKIPPED and statuses[1] != Run.Status.SKIPPED
    assert statuses[2] == Run.Status.SKIPPED
    assert len(statuses) == 3
    assert InboundMessage.objects.filter(http_status=404).count() == 1


def test_the_store_statement_is_planned_once_per_connection_and_nothing_else_is(postgres_only, post):
    workflow = make_workflow()
    for _ in range(3):
        assert is_ack(post(workflow, outbound_message()))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    # Django's own statements stay unprepared (its default, for connection poolers).
    assert [(statement.split()[:2], executions) for statement, executions in prepared] == [(["WITH", "workflow"], 3)]
    assert connection.connection.prepare_threshold is None
