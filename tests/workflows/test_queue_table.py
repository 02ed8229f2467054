"""The endpoint writes django-q2's queue table and its signed jobs by hand (inbound_store.py,
dispatch.wake_up_jobs). These tests fail if an upgrade of django-q2 changes what that relies on:
the table's columns, the job package async_task builds, or what its ORM broker reads back."""

import queue
from multiprocessing import Value

import pytest
from django.db import connection
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ, Success
from django_q.monitor import save_task
from django_q.signing import SignedPackage
from django_q.tasks import async_task
from django_q.worker import worker

from tests.factories import case_fields, make_workflow, outbound_message
from tests.workflows.test_endpoint import is_ack
from workflows.models import Run
from workflows.services.dispatch import QUEUE_KEY, WAKE_UP_GROUP, WAKE_UP_JOB, wake_up_jobs

# What the ingest statement writes: (column, Django field type, nullable).
WRITTEN = {("key", "CharField", False), ("payload", "TextField", False), ("lock", "DateTimeField", True)}


@pytest.fixture
def database_queue(monkeypatch):
    """django-q2 as in production: jobs go to its queue table instead of running inline."""
    monkeypatch.setattr(Conf, "SYNC", False)


class Collector:
    """A broker that keeps what async_task would send."""

    list_key = QUEUE_KEY

    def __init__(self):
        self.packages = []

    def enqueue(self, package):
        self.packages.append(package)
        return len(self.packages)


def test_the_queue_model_has_the_columns_the_statement_writes_and_no_other_required_one():
    fields = {field.column: field for field in OrmQ._meta.concrete_fields}

    written = {(name, fields[name].get_internal_type(), fields[name].null) for name, *_ in WRITTEN if name in fields}
    others = set(fields) - {name for name, *_ in WRITTEN}

    assert OrmQ._meta.db_table == "django_q_ormq"
    assert written == WRITTEN
    assert others == {"id"} and fields["id"].primary_key


@pytest.mark.django_db
def test_the_queue_table_in_the_database_has_those_columns():
    with connection.cursor() as cursor:
        columns = {column.name for column in connection.introspection.get_table_description(cursor, "django_q_ormq")}

    assert columns == {"id", "key", "payload", "lock"}


def test_a_wake_up_job_is_the_package_async_task_builds(database_queue):
    collector = Collector()
    async_task(WAKE_UP_JOB, broker=collector, group=WAKE_UP_GROUP)
    theirs = SignedPackage.loads(collector.packages[0])

    ours = SignedPackage.loads(wake_up_jobs(1)[0])

    assert set(ours) == set(theirs)
    assert {key: type(value) for key, value in ours.items()} == {key: type(value) for key, value in theirs.items()}
    assert {key: ours[key] for key in ours if key not in {"id", "name", "started"}} == {
        key: theirs[key] for key in theirs if key not in {"id", "name", "started"}
    }
    assert ours["id"] != SignedPackage.loads(wake_up_jobs(1)[0])["id"]


@pytest.mark.django_db(transaction=True)
def test_django_q2s_broker_takes_and_runs_the_jobs_the_endpoint_queued(client, database_queue):
    """Through the endpoint's own path (the one statement on PostgreSQL), then django-q2's: its ORM
    broker dequeues, its worker executes, its monitor saves the result."""
    workflow = make_workflow()
    body = outbound_message(*[case_fields() for _ in range(30)])
    assert is_ack(client.post(workflow.event_path, body, content_type="text/xml"))
    assert OrmQ.objects.count() == 2

    broker = get_broker()
    taken = []
    while batch := broker.dequeue():  # Conf.BULK jobs at a time; None once the queue is empty
        taken += batch
    tasks = queue.Queue()
    for _, payload in taken:
        tasks.put(SignedPackage.loads(payload))
    tasks.put("STOP")
    results = queue.Queue()
    worker(tasks, results, Value("f", -1), timeout=60)
    while not results.empty():
        save_task(results.get(), broker)
    for queue_id, _ in taken:
        broker.acknowledge(queue_id)

    assert len(taken) == 2
    assert Success.objects.filter(func=WAKE_UP_JOB, group=WAKE_UP_GROUP).count() == 2
    assert not OrmQ.objects.exists()
    assert set(Run.objects.values_list("status", flat=True)) == {Run.Status.SUCCEEDED}
