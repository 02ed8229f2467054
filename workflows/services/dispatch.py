"""Waking workers: state lives in Run rows; django-q2 jobs only say "look at these runs".

Every path that leaves a run queued is covered by `runs_dispatch_due`, run on a schedule: a
lost enqueue, a retry whose backoff has passed, and a run whose worker died while running it.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.tasks import async_task

from workflows.models import Run

# Runs per job: a 100-notification message still spreads over several workers, while each
# job costs the endpoint a signed package and a row.
RUNS_PER_JOB = 25
DISPATCH_BATCH = 1000


class _JobCollector:
    """Stands in for django-q2's broker in async_task, keeping the signed jobs it would send."""

    list_key = Conf.CLUSTER_NAME

    def __init__(self):
        self.jobs: list[str] = []

    def enqueue(self, job: str) -> int:
        self.jobs.append(job)
        return len(self.jobs)


def _send(run_ids: list[int], *, broker=None) -> None:
    for start in range(0, len(run_ids), RUNS_PER_JOB):
        chunk = run_ids[start : start + RUNS_PER_JOB]
        async_task("workflows.jobs.execute_runs", chunk, group="workflow-runs", broker=broker)


def runs_enqueue(run_ids: list[int]) -> None:
    """Wake workers for these runs.

    Inside a transaction, with the database as the job queue (the default), the jobs are written
    in that same transaction with one insert: they commit with the runs or not at all. With
    another broker, or in sync mode, they are sent once the transaction has committed, so a
    worker never looks for a run that is not there yet.
    """
    if Conf.ORM and not Conf.SYNC and not transaction.get_autocommit(using=Conf.ORM):
        collector = _JobCollector()
        _send(run_ids, broker=collector)
        now = timezone.now()
        OrmQ.objects.using(Conf.ORM).bulk_create(
            [OrmQ(key=collector.list_key, payload=job, lock=now) for job in collector.jobs]
        )
    else:
        transaction.on_commit(lambda: _send(run_ids), robust=True)


def runs_reap_abandoned(*, now=None) -> int:
    """Requeue runs whose worker died: claimed longer ago than the lease and never finished."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.RUN_LEASE_SECONDS)
    return Run.objects.filter(status=Run.Status.RUNNING, claimed_at__lt=now - lease).update(
        status=Run.Status.QUEUED, claimed_at=None, dispatched_at=None, next_attempt_at=now
    )


@transaction.atomic
def runs_dispatch_due(*, now=None) -> int:
    """Enqueue queued runs that are due and not already waiting in the job queue."""
    now = now or timezone.now()
    runs_reap_abandoned(now=now)
    stale = now - timedelta(seconds=settings.RUN_LEASE_SECONDS)
    due = list(
        Run.objects.filter(status=Run.Status.QUEUED, next_attempt_at__lte=now)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=stale))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:DISPATCH_BATCH]
    )
    if due:
        Run.objects.filter(id__in=due).update(dispatched_at=now)
        runs_enqueue(due)
    return len(due)
