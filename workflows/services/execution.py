"""Executing one run: claim it, check its conditions, run its tasks, record every attempt.

A run is claimed with a conditional update, so two workers (or two clusters on one database)
never both execute it. A task's writes and its "succeeded" TaskRun commit together, and a
partial unique index allows one success per task of a run: a task that has succeeded is never
run again, whether the run is retried, reaped after a worker died, or raced by a late worker.
"""

import logging
import time
from dataclasses import asdict
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from workflows.conditions import ConditionRow, Match, Operator, evaluate
from workflows.models import Run, Task, TaskRun, Workflow
from workflows.piping import PipingSources, render
from workflows.services.failure_notices import failure_notices_record
from workflows.tasks import registry
from workflows.tasks.context import TaskContext
from workflows.tasks.registry import TaskError, TemporaryTaskError

logger = logging.getLogger(__name__)

# Failures of our own infrastructure (a lock timeout, a dropped connection) pass; retry them.
TEMPORARY_ERRORS = (TemporaryTaskError, OperationalError, InterfaceError)
FIRST_RETRY_DELAY = timedelta(minutes=1)


class RunTaken(Exception):
    """Another worker holds this run now (it was reaped and claimed again); stop quietly."""


def _sources(run: Run, task_outputs: dict[int, dict]) -> PipingSources:
    notification = run.notification
    return PipingSources(
        event=notification.fields,
        event_meta={
            "_Object": notification.sobject_type,
            "_NotificationId": notification.notification_id,
            "_OrganizationId": run.notification.inbound_message.organization_id,
        },
        task_outputs=task_outputs,
    )


def _claim(run_id: int) -> Run | None:
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED, next_attempt_at__lte=now).update(
        status=Run.Status.RUNNING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return Run.objects.select_related("workflow", "notification__inbound_message").get(pk=run_id)


def _save_run(run: Run, **changes) -> None:
    """Update the run only while this worker still holds its claim."""
    updated = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, claimed_at=run.claimed_at).update(**changes)
    if not updated:
        raise RunTaken
    for name, value in changes.items():
        setattr(run, name, value)


def _finish(run: Run, status: str, reason: str = "", **changes) -> None:
    _save_run(run, status=status, status_reason=reason, finished_at=timezone.now(), **changes)
    if status == Run.Status.FAILED:  # its failed task runs are saved by now, the give-ups' included
        failure_notices_record(run=run)


def _learn_fields(workflow: Workflow, fields: dict) -> None:
    """Remember the field names messages carry, for the admin's field list and validation."""
    new = set(fields) - set(workflow.known_fields)
    if not new or workflow.fields_from_wsdl:
        return
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        if not locked.fields_from_wsdl:
            locked.known_fields = {**{name: "" for name in new}, **locked.known_fields}
            Workflow.objects.filter(pk=workflow.pk).update(known_fields=locked.known_fields)


def _conditions_pass(run: Run, sources: PipingSources) -> bool:
    rows = [
        ConditionRow(field=c.field, operator=Operator(c.operator), value=c.value) for c in run.workflow.conditions.all()
    ]
    passed, results = evaluate(
        rows,
        match=Match(run.workflow.condition_match),
        event=run.notification.fields,
        resolve=lambda value: render(value, sources).text,
    )
    _save_run(run, condition_results=[{**asdict(result), "operator": str(result.operator)} for result in results])
    return passed


def _retry_delay(run: Run) -> timedelta:
    delay = FIRST_RETRY_DELAY * 2 ** max(run.attempts - 1, 0)
    return min(delay, timedelta(seconds=settings.RUN_RETRY_MAX_DELAY_SECONDS))


def _execute_task(run: Run, task: Task, position: int, outputs: dict[int, dict]) -> TaskRun:
    """One attempt at one task; returns the recorded TaskRun (raises RunTaken on a lost race)."""
    attempt = TaskRun.objects.filter(run=run, position=position).count() + 1
    context = TaskContext(
        run_id=run.pk,
        position=position,
        workflow=run.workflow,
        config=dict(task.config),
        sources=_sources(run, outputs),
    )
    record = TaskRun(run=run, task=task, position=position, kind=task.kind, attempt=attempt, started_at=timezone.now())
    try:
        kind = registry.get(task.kind)
        with transaction.atomic():
            record.output = kind.run(context)
            record.status = TaskRun.Status.SUCCEEDED
            _save_task_run(record, context)
        return record
    except IntegrityError:
        raise RunTaken from None
    except TEMPORARY_ERRORS as error:
        record.status = TaskRun.Status.RETRYING
        record.error = str(error) or error.__class__.__name__
    except TaskError as error:
        record.status = TaskRun.Status.FAILED
        record.error = str(error)
    except Exception as error:  # a bug must fail the task visibly, not kill the worker
        logger.exception("Task %s of run %s failed unexpectedly", position, run.pk)
        record.status = TaskRun.Status.FAILED
        record.error = f"Unexpected error ({error.__class__.__name__}: {error}). The details are in the worker's log."
    try:
        _save_task_run(record, context)
    except IntegrityError:
        raise RunTaken from None
    return record


def _save_task_run(record: TaskRun, context: TaskContext) -> None:
    record.resolved_input = context.resolved_input
    record.notes = context.notes
    record.finished_at = timezone.now()
    record.save()


def _schedule_retry(run: Run, record: TaskRun) -> None:
    now = timezone.now()
    if now - run.created_at > timedelta(seconds=settings.RUN_RETRY_WINDOW_SECONDS):
        TaskRun.objects.filter(pk=record.pk).update(status=TaskRun.Status.FAILED)
        _finish(run, Run.Status.FAILED, f"Task {record.position} gave up after retrying for 24 hours: {record.error}")
        return
    delay = _retry_delay(run)
    _save_run(
        run,
        status=Run.Status.QUEUED,
        status_reason=f"Task {record.position} failed temporarily ({record.error}); retrying in {delay}.",
        next_attempt_at=now + delay,
        claimed_at=None,
    )


def _run_tasks(run: Run) -> None:
    succeeded = {
        record.position: record.output
        for record in TaskRun.objects.filter(run=run, status=TaskRun.Status.SUCCEEDED).only("position", "output")
    }
    outputs: dict[int, dict] = {}
    failures = []
    for position, task in enumerate(run.workflow.tasks.all(), start=1):
        if position in succeeded:
            outputs[position] = succeeded[position]
            continue
        record = _execute_task(run, task, position, outputs)
        if record.status == TaskRun.Status.RETRYING:
            _schedule_retry(run, record)
            return
        if record.status == TaskRun.Status.FAILED:
            failures.append(f"Task {position} failed: {record.error}")
            if run.workflow.on_task_failure == Workflow.OnTaskFailure.STOP:
                break
        else:
            outputs[position] = record.output
    if failures:
        _finish(run, Run.Status.FAILED, "\n".join(failures))
    else:
        _finish(run, Run.Status.SUCCEEDED)


def _execute_claimed(run: Run) -> None:
    try:
        if not run.workflow.enabled:
            _finish(run, Run.Status.SKIPPED, Run.WORKFLOW_DISABLED)
            return
        _learn_fields(run.workflow, run.notification.fields)
        if not _conditions_pass(run, _sources(run, {})):
            _finish(run, Run.Status.CONDITIONS_NOT_MET)
            return
        _run_tasks(run)
    except RunTaken:
        logger.warning("Run %s was taken over by another worker; leaving it to that worker.", run.pk)


def run_execute(*, run_id: int) -> None:
    """Execute one run if it is due and nobody else has claimed it."""
    run = _claim(run_id)
    if run is not None:  # else finished, running elsewhere, or not due yet: nothing to do
        _execute_claimed(run)


def _claim_next_due() -> Run | None:
    with transaction.atomic():
        # SKIP LOCKED (where the database has it) lets workers draining together pass over a
        # run another is claiming instead of queueing behind it.
        run_id = (
            Run.objects.filter(status=Run.Status.QUEUED, next_attempt_at__lte=timezone.now())
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)
            .first()
        )
        return None if run_id is None else _claim(run_id)


def runs_execute_due(*, max_runs: int = 200, max_seconds: float = 60.0) -> int:
    """Claim and execute due runs one at a time until none is due or this job's share is used.

    The share keeps one job well inside django-q2's timeout; runs left over are taken by the
    next wake-up job or the dispatcher. -> runs executed.
    """
    deadline = time.monotonic() + max_seconds
    executed = 0
    while executed < max_runs and time.monotonic() < deadline:
        run = _claim_next_due()
        if run is None:
            break
        _execute_claimed(run)
        executed += 1
    return executed
