"""Real `qcluster` workers on PostgreSQL: a killed cluster loses no run, two clusters never double up.

Slow (tens of seconds): each test starts worker processes against the test database. The jobs go
through django-q2's ORM queue, as in production; the test process plays the scheduled dispatcher
by calling runs_dispatch_due() every second (the real schedule runs once a minute).
"""

import time

import pytest
from django.db import transaction
from django.db.models import Count
from django_q.conf import Conf

from directory.models import Contact, Directory, Transaction
from tests.factories import case_fields, make_directory, make_directory_task, make_workflow, outbound_message
from tests.workers import kill, qclusters, wait_for
from workflows.models import Run, TaskRun
from workflows.services.dispatch import workers_wake

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 5
PEOPLE = 200
WAIT_SECONDS = 90


@pytest.fixture
def clusters(tmp_path):
    """start() launches `manage.py qcluster` in its own process group; all are killed at the end."""
    # Batches of 10: the kill must find runs still queued and claimed, which batches of 50 (four
    # for 200 runs, the first two committing together) can leave none of by the time it comes.
    env = {
        "RUN_LEASE_SECONDS": str(LEASE_SECONDS),
        "WORKER_TIMEOUT_SECONDS": "10",
        "WORKER_COUNT": "2",
        "RUN_BATCH_SIZE": "10",
    }
    with qclusters(log_dir=tmp_path, env=env) as start:
        yield start


@pytest.fixture
def queued_runs(postgres_only, client, settings, monkeypatch):
    """PEOPLE runs acknowledged and waiting in django-q2's ORM queue, not executed inline."""
    monkeypatch.setattr(Conf, "SYNC", False)
    settings.RUN_LEASE_SECONDS = LEASE_SECONDS  # the dispatcher called from this process reaps with it
    make_directory(is_default=True)
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    # A transaction is appended on every execution, so a task run twice would show.
    make_directory_task(workflow=workflow, position=2, save_mode="transaction")
    for start in range(0, PEOPLE, 100):
        records = [case_fields(ContactEmail=f"p{i}@example.com") for i in range(start, min(start + 100, PEOPLE))]
        response = client.post(workflow.event_path, outbound_message(*records), content_type="text/xml")
        assert response.status_code == 200
    assert Run.objects.filter(workflow=workflow, status=Run.Status.QUEUED).count() == PEOPLE
    return workflow


def count(workflow, *statuses):
    return Run.objects.filter(workflow=workflow, status__in=statuses).count()


def all_finished(workflow):
    return lambda: count(workflow, *Run.FINISHED) == PEOPLE


def assert_each_run_succeeded_once(workflow):
    runs = Run.objects.filter(workflow=workflow)
    assert dict(runs.values_list("status").annotate(n=Count("id"))) == {Run.Status.SUCCEEDED: PEOPLE}
    successes = (
        TaskRun.objects.filter(run__workflow=workflow, status=TaskRun.Status.SUCCEEDED)
        .values("run_id", "position")
        .annotate(n=Count("id"))
    )
    assert len(successes) == PEOPLE * 2
    assert {row["n"] for row in successes} == {1}
    assert Contact.objects.count() == PEOPLE
    emails = set(Contact.objects.values_list("email", flat=True))
    assert emails == {f"p{i}@example.com" for i in range(PEOPLE)}
    assert Transaction.objects.count() == PEOPLE
    assert Transaction.objects.values("run_id").distinct().count() == PEOPLE


def test_it_finishes_every_run_exactly_once_after_a_worker_cluster_is_killed(queued_runs, clusters):
    workflow = queued_runs
    first = clusters()
    assert wait_for(lambda: count(workflow, Run.Status.SUCCEEDED) >= 20, seconds=60), "the first cluster ran nothing"

    # Hold the directory's row lock so the workers block inside contact_upsert: the cluster then
    # dies with runs claimed and half done, not between runs.
    with transaction.atomic():
        Directory.objects.select_for_update().get(is_default=True)
        assert wait_for(lambda: count(workflow, Run.Status.RUNNING) >= 1, seconds=10), "no run was in progress"
        time.sleep(0.5)
        kill(first)
        succeeded_at_kill = count(workflow, Run.Status.SUCCEEDED)
        running_at_kill = count(workflow, Run.Status.RUNNING)
    assert succeeded_at_kill < PEOPLE and running_at_kill >= 1

    clusters()
    finished = wait_for(all_finished(workflow), seconds=WAIT_SECONDS, every=0.25, dispatch=True)

    assert finished, f"{count(workflow, *Run.FINISHED)} of {PEOPLE} runs finished within {WAIT_SECONDS} s"
    assert_each_run_succeeded_once(workflow)


def test_it_executes_each_run_once_with_two_worker_clusters_on_one_database(queued_runs, clusters):
    workflow = queued_runs
    # As many wake-up jobs again (a job handed out twice, a run dispatched again): the two
    # clusters drain the same runs together and only one may execute each.
    workers_wake(runs=PEOPLE)
    clusters()
    clusters()

    finished = wait_for(all_finished(workflow), seconds=WAIT_SECONDS, every=0.25, dispatch=True)

    assert finished, f"{count(workflow, *Run.FINISHED)} of {PEOPLE} runs finished within {WAIT_SECONDS} s"
    assert_each_run_succeeded_once(workflow)
    assert set(Run.objects.filter(workflow=workflow).values_list("attempts", flat=True)) == {1}  # claimed once
