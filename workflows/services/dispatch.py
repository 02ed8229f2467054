"""Waking workers. State lives in Run rows; a django-q2 job only wakes a worker, which then
claims due runs from the table until none is left (`execution.runs_execute_due`).

So a job carries no ids, and any number of jobs may wake for the same runs: whichever worker
claims a run executes it, the others move on. `runs_dispatch_due`, on a one-minute schedule,
requeues runs whose worker died and wakes workers for due retries and for runs whose job was
lost.
"""

import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.conf import Conf
from django_q.humanhash import uuid
from django_q.models import OrmQ
from django_q.signals import pre_enqueue
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from workflows.models import Run

# One job per this many new runs, so a 100-notification message is shared by several workers.
RUNS_PER_WAKE_UP = 25
# The dispatcher wakes at most this many workers a minute; each drains until nothing is due.
MAX_WAKE_UPS = 8
WAKE_UP_JOB = "workflows.jobs.execute_due_runs"
WAKE_UP_GROUP = "workflow-runs"
# The queue django-q2's database broker reads: its rows are keyed by the cluster name.
QUEUE_KEY = Conf.CLUSTER_NAME


def wake_ups_for(runs: int) -> int:
    return min(math.ceil(runs / RUNS_PER_WAKE_UP), MAX_WAKE_UPS) if runs else 0


def jobs_in_transaction() -> bool:
    """Whether wake-up jobs can be written in the current transaction (the queue is the database).

    Then they commit with the runs or not at all. With another broker, or in sync mode, they are
    sent once the transaction commits, so a worker never looks for runs that are not there yet.
    """
    return bool(Conf.ORM) and not Conf.SYNC and not transaction.get_autocommit(using=Conf.ORM)


def queue_is_database(alias: str) -> bool:
    """Whether django-q2's queue is a table of database `alias` (its ORM broker, not in sync mode),
    so statements on that database can write wake-up jobs with the runs they wake for."""
    return Conf.ORM == alias and not Conf.SYNC


def wake_up_jobs(count: int) -> list[str]:
    """`count` signed wake-up jobs, as django-q2's async_task would put them in its queue table.

    Built here rather than by async_task, which logs a line per job (at INFO, on every message the
    endpoint accepts) and takes a broker. The package's keys are async_task's (django_q/tasks.py);
    tests/workflows/test_queue_table.py fails if django-q2 changes them or its queue table.
    """
    jobs = []
    for _ in range(count):
        name, task_id = uuid()
        task = {"id": task_id, "name": name, "func": WAKE_UP_JOB, "args": (), "group": WAKE_UP_GROUP}
        if Conf.CACHED:
            task["cached"] = Conf.CACHED
        if Conf.ACK_FAILURES:
            task["ack_failure"] = Conf.ACK_FAILURES
        task["kwargs"] = {}
        task["started"] = timezone.now()
        pre_enqueue.send(sender="django_q", task=task)
        jobs.append(SignedPackage.dumps(task))
    return jobs


def job_rows(jobs: list[str]) -> list[OrmQ]:
    return [OrmQ(key=QUEUE_KEY, payload=job, lock=timezone.now()) for job in jobs]


def workers_wake(*, runs: int) -> None:
    """Wake enough workers for `runs` due runs."""
    count = wake_ups_for(runs)
    if not count:
        return
    if jobs_in_transaction():
        OrmQ.objects.using(Conf.ORM).bulk_create(job_rows(wake_up_jobs(count)))
    else:
        transaction.on_commit(lambda: [async_task(WAKE_UP_JOB) for _ in range(count)], robust=True)


def runs_reap_abandoned(*, now=None) -> int:
    """Requeue runs whose worker died: claimed longer ago than the lease and never finished."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.RUN_LEASE_SECONDS)
    return Run.objects.filter(status=Run.Status.RUNNING, claimed_at__lt=now - lease).update(
        status=Run.Status.QUEUED, claimed_at=None, next_attempt_at=now
    )


@transaction.atomic
def runs_dispatch_due(*, now=None) -> int:
    """Requeue abandoned runs, then wake workers if any run is due. -> due runs seen (bounded)."""
    now = now or timezone.now()
    runs_reap_abandoned(now=now)
    due = Run.objects.filter(status=Run.Status.QUEUED, next_attempt_at__lte=now)
    seen = len(due.values_list("id", flat=True)[: RUNS_PER_WAKE_UP * MAX_WAKE_UPS])
    workers_wake(runs=seen)
    return seen
