"""At-least-once delivery and concurrent workers: every notification runs, and runs once.

The threaded tests need PostgreSQL (row locks, concurrent writers); the sequential ones run on
SQLite too. Each thread has its own database connection and closes it when it ends.
"""

import time
from datetime import timedelta

import pytest
from defusedxml import ElementTree
from django.test import Client
from django.utils import timezone

import directory.services
from directory.models import Contact, MailingList, Membership
from tests.factories import (
    DIRECTORY_TASK_CONFIG,
    case_fields,
    make_contact,
    make_directory,
    make_directory_task,
    make_workflow,
    outbound_message,
)
from tests.threads import run_together
from workflows.models import Notification, Run, TaskRun
from workflows.salesforce.build import salesforce_id
from workflows.services import ingest
from workflows.services.dispatch import runs_reap_abandoned
from workflows.services.execution import run_execute

pytestmark = pytest.mark.django_db(transaction=True)

OUTBOUND_NS = "{http://soap.sforce.com/2005/09/outbound}"
SOAP_NS = "{http://schemas.xmlsoap.org/soap/envelope/}"
EMAIL = "ada@example.com"


def is_ack(response):
    if response.status_code != 200:
        return False
    root = ElementTree.fromstring(response.content)
    ack = root.find(f"{SOAP_NS}Body/{OUTBOUND_NS}notificationsResponse/{OUTBOUND_NS}Ack")
    return ack is not None and ack.text == "true"


def post(client, workflow, body):
    return client.post(workflow.event_path, body, content_type="text/xml; charset=UTF-8", HTTP_SOAPACTION='""')


def execute_all(workflow):
    for run_id in Run.objects.filter(workflow=workflow).values_list("id", flat=True):
        run_execute(run_id=run_id)


def slow_after(monkeypatch, owner, name, seconds):
    """Make owner.name sleep after doing its work, to hold a transaction open across threads."""
    real = getattr(owner, name)

    def slow(*args, **kwargs):
        result = real(*args, **kwargs)
        time.sleep(seconds)
        return result

    monkeypatch.setattr(owner, name, slow)


@pytest.fixture
def no_enqueue(monkeypatch):
    """Store runs without executing them (django-q2 is in sync mode in tests)."""
    monkeypatch.setattr(ingest, "workers_wake", lambda runs: None)


def test_it_stores_and_runs_each_notification_once_when_a_message_is_posted_twice_at_once(postgres_only, monkeypatch):
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    ids = [salesforce_id("04l") for _ in range(5)]
    body = outbound_message(*[case_fields(ContactEmail=EMAIL) for _ in ids], notification_ids=ids)
    # Keep each ingest transaction open a moment after inserting, so the two really overlap.
    slow_after(monkeypatch, Notification.objects, "bulk_create", 0.3)

    responses = run_together(2, lambda i: post(Client(), workflow, body))

    assert all(is_ack(response) for response in responses)
    assert sorted(Notification.objects.values_list("notification_id", flat=True)) == sorted(ids)
    assert sorted(Run.objects.values_list("notification__notification_id", flat=True)) == sorted(ids)
    execute_all(workflow)  # sync django-q2 ran them already; a second pass must change nothing
    assert set(Run.objects.values_list("status", flat=True)) == {Run.Status.SUCCEEDED}
    assert Contact.objects.filter(email=EMAIL).count() == 1


def test_it_acks_two_deliveries_at_once_of_the_same_notifications_in_opposite_orders(postgres_only, no_enqueue):
    workflow = make_workflow()
    for _ in range(10):  # the two inserts deadlocked in about one delivery pair out of three
        ids = [salesforce_id("04l") for _ in range(100)]
        bodies = [outbound_message(*[case_fields() for _ in ids], notification_ids=order) for order in (ids, ids[::-1])]

        responses = run_together(2, lambda i, bodies=bodies: post(Client(), workflow, bodies[i]))

        assert [response.status_code for response in responses] == [200, 200]
    assert Run.objects.count() == Notification.objects.count() == 1000


def test_it_queues_the_runs_in_the_order_of_the_message():
    workflow = make_workflow()
    ids = sorted(salesforce_id("04l") for _ in range(5))[::-1]

    assert is_ack(post(Client(), workflow, outbound_message(*[case_fields() for _ in ids], notification_ids=ids)))

    assert list(Run.objects.order_by("pk").values_list("notification__notification_id", flat=True)) == ids


def test_it_runs_each_notification_once_when_a_message_is_delivered_three_times():
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    ids = [salesforce_id("04l") for _ in range(3)]
    body = outbound_message(*[case_fields(ContactEmail=EMAIL) for _ in ids], notification_ids=ids)
    client = Client()

    for _ in range(3):
        assert is_ack(post(client, workflow, body))
        execute_all(workflow)

    assert Run.objects.count() == 3
    assert sorted(Run.objects.values_list("notification__notification_id", flat=True)) == sorted(ids)
    assert TaskRun.objects.filter(status=TaskRun.Status.SUCCEEDED).count() == 3
    assert Contact.objects.count() == 1


def test_it_creates_one_contact_when_two_runs_for_the_same_new_person_execute_at_once(
    postgres_only, no_enqueue, monkeypatch
):
    # The directory and list exist, so nothing serializes the two runs before contact_upsert:
    # only its directory row lock stands between two "not found, insert" sequences.
    default = make_directory(is_default=True)
    MailingList.objects.create(directory=default, name=DIRECTORY_TASK_CONFIG["mailing_list"])
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    assert is_ack(post(Client(), workflow, outbound_message(case_fields(), case_fields())))
    run_ids = list(Run.objects.values_list("id", flat=True))
    assert len(run_ids) == 2
    # Widen the window between "no contact with this email" and the insert.
    slow_after(monkeypatch, directory.services, "contacts_find_by_rule", 0.5)

    run_together(2, lambda i: run_execute(run_id=run_ids[i]))

    assert set(Run.objects.values_list("status", flat=True)) == {Run.Status.SUCCEEDED}
    contact = Contact.objects.get()
    assert contact.email == EMAIL
    assert Membership.objects.filter(contact=contact).count() == 1
    actions = sorted(TaskRun.objects.values_list("output__ContactAction", flat=True))
    assert actions == ["created", "updated"]


def test_it_executes_a_run_once_when_two_workers_take_it_at_once(postgres_only, no_enqueue):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    make_directory_task(workflow=workflow, position=2, save_mode="transaction")
    assert is_ack(post(Client(), workflow, outbound_message()))
    run = Run.objects.get()

    run_together(2, lambda i: run_execute(run_id=run.pk))

    run.refresh_from_db()
    assert (run.status, run.attempts) == (Run.Status.SUCCEEDED, 1)
    task_runs = list(TaskRun.objects.filter(run=run).values_list("position", "status"))
    assert task_runs == [(1, TaskRun.Status.SUCCEEDED), (2, TaskRun.Status.SUCCEEDED)]
    assert Contact.objects.get().transactions.count() == 1


def _stuck_run(settings, workflow):
    """A run whose worker died in the middle: running, claimed longer ago than the lease."""
    assert is_ack(post(Client(), workflow, outbound_message()))
    run = Run.objects.get()
    claimed_at = timezone.now() - timedelta(seconds=settings.RUN_LEASE_SECONDS + 5)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, claimed_at=claimed_at, attempts=1)
    return run


def test_it_requeues_a_run_whose_lease_has_expired_and_runs_it_once_reusing_finished_tasks(settings, no_enqueue):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1, mailing_list="Task one list")
    make_directory_task(workflow=workflow, position=2, data_fields=[["FirstContactId", "${task://1/ContactId}"]])
    run = _stuck_run(settings, workflow)
    # Task 1 had succeeded before the worker died, saving this contact.
    saved = make_contact(directory=directory.services.directory_get_default(), email="ada@example.com")
    now = timezone.now()
    done = TaskRun.objects.create(
        run=run,
        task=workflow.tasks.get(position=1),
        position=1,
        kind="add_to_directory",
        status=TaskRun.Status.SUCCEEDED,
        output={"ContactId": str(saved.pk), "MailingListId": "1", "TransactionId": "", "ContactAction": "created"},
        started_at=now,
        finished_at=now,
    )

    assert runs_reap_abandoned() == 1
    run.refresh_from_db()
    assert (run.status, run.claimed_at) == (Run.Status.QUEUED, None)
    run_execute(run_id=run.pk)
    run_execute(run_id=run.pk)  # a late duplicate job: nothing left to do

    run.refresh_from_db()
    assert (run.status, run.attempts) == (Run.Status.SUCCEEDED, 2)
    assert list(TaskRun.objects.filter(run=run, position=1).values_list("pk", flat=True)) == [done.pk]
    assert TaskRun.objects.filter(run=run, position=2, status=TaskRun.Status.SUCCEEDED).count() == 1
    assert not MailingList.objects.filter(name="Task one list").exists()  # task 1 did not run again
    assert Contact.objects.get().embedded_data["FirstContactId"] == str(saved.pk)  # its output was reused


def test_it_leaves_a_running_run_alone_while_its_lease_lasts(settings, no_enqueue):
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    run = _stuck_run(settings, workflow)
    Run.objects.filter(pk=run.pk).update(claimed_at=timezone.now() - timedelta(seconds=settings.RUN_LEASE_SECONDS - 5))

    assert runs_reap_abandoned() == 0
    run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING
    assert not TaskRun.objects.exists()
