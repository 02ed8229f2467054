"""Claiming runs: a conditional update, so each claimed run has exactly one worker."""

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from workflows.models import Run, Workflow


class RunTaken(Exception):
    """Another worker holds this run now (it was reaped and claimed again); stop quietly."""


def _with_workflows(runs: QuerySet) -> list[Run]:
    """The claimed runs with what executing them reads: workflow, owner, conditions, tasks, notification.

    The runs of one workflow share one Workflow object, read once with its conditions and tasks
    (a batch's runs are mostly of one workflow: reading it with each run would decode its fields
    and attach its conditions and tasks once per run). The inbound message's body, the whole SOAP
    message its notifications came in, is not read: executing reads only its organization id, and
    the body would be read once per run of it."""
    runs = list(
        runs.select_related("notification__inbound_message", "test_event")
        .defer("notification__inbound_message__body")
        .order_by("next_attempt_at", "pk")
    )
    workflows = Workflow.objects.select_related("owner").prefetch_related("conditions", "tasks")
    by_id = workflows.in_bulk({run.workflow_id for run in runs})
    for run in runs:
        run.workflow = by_id[run.workflow_id]
    return runs


def claim(run_id: int) -> list[Run]:
    """Claim one run if it is due and nobody holds it. -> [the run] (a batch of one), or []."""
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED, next_attempt_at__lte=now).update(
        status=Run.Status.RUNNING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return []
    return _with_workflows(Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, claimed_at=now))


def claim_due(limit: int) -> list[Run]:
    """Claim up to `limit` due runs, oldest due first."""
    now = timezone.now()
    with transaction.atomic():
        # SKIP LOCKED (where the database has it) lets workers draining together pass over runs
        # another is claiming instead of queueing behind them.
        ids = list(
            Run.objects.filter(status=Run.Status.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        Run.objects.filter(pk__in=ids, status=Run.Status.QUEUED).update(
            status=Run.Status.RUNNING, claimed_at=now, attempts=F("attempts") + 1
        )
    # Read once the claim is committed: on SQLite the transaction holds the one write lock, which
    # the event endpoint waits for, and these reads are most of the claim's time.
    return _with_workflows(Run.objects.filter(pk__in=ids, status=Run.Status.RUNNING, claimed_at=now))
