"""Executing runs: claim them, check their conditions, run their tasks, record every attempt.

A run is claimed with a conditional update, so two workers (or two clusters on one database)
never both execute it. A task's writes and its "succeeded" TaskRun commit together, and a
partial unique index allows one success per task of a run: a task that has succeeded is never
run again, whether the run is retried, reaped after a worker died, or raced by a late worker.

Workers claim due runs in batches and execute the first attempts of one workflow's runs task by
task: a kind with `run_batch` handles all of them in one transaction with its TaskRuns, and the
runs' outcomes are saved with one statement per distinct outcome, conditional on the claim still
being ours.
Retried and reaped runs, and a batch whose `run_batch` raised, go through the single-run path.
"""

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timedelta

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
from workflows.tasks.registry import TaskError, TaskKind, TemporaryTaskError

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


def _claim_due(limit: int) -> list[Run]:
    """Claim up to `limit` due runs, oldest due first, with their workflows' conditions and tasks."""
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
        return list(
            Run.objects.filter(pk__in=ids, status=Run.Status.RUNNING, claimed_at=now)
            .select_related("workflow__owner", "notification__inbound_message")
            .prefetch_related("workflow__conditions", "workflow__tasks")
            .order_by("next_attempt_at", "pk")
        )


def _save_run(run: Run, **changes) -> None:
    """Update the run only while this worker still holds its claim."""
    updated = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, claimed_at=run.claimed_at).update(**changes)
    if not updated:
        raise RunTaken
    for name, value in changes.items():
        setattr(run, name, value)


def _ending(status: str, reason: str = "") -> dict:
    return {"status": status, "status_reason": reason, "finished_at": timezone.now()}


def _end(run: Run, changes: dict) -> None:
    _save_run(run, **changes)
    if run.status == Run.Status.FAILED:  # its failed task runs are saved by now, the give-ups' included
        failure_notices_record(run=run)


def _finish(run: Run, status: str, reason: str = "") -> None:
    _end(run, _ending(status, reason))


def _learn_fields(workflow: Workflow, fields: Iterable[str]) -> None:
    """Remember the field names messages carry, for the admin's field list and validation."""
    new = set(fields) - set(workflow.known_fields)
    if not new or workflow.fields_from_wsdl:
        return
    with transaction.atomic():
        locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
        if not locked.fields_from_wsdl:
            locked.known_fields = {**{name: "" for name in new}, **locked.known_fields}
            Workflow.objects.filter(pk=workflow.pk).update(known_fields=locked.known_fields)


def _conditions_pass(run: Run) -> tuple[bool, list[dict]]:
    """-> whether the run's conditions pass, and each condition's result as Run.condition_results keeps it."""
    sources = _sources(run, {})
    rows = [
        ConditionRow(field=c.field, operator=Operator(c.operator), value=c.value) for c in run.workflow.conditions.all()
    ]
    passed, results = evaluate(
        rows,
        match=Match(run.workflow.condition_match),
        event=run.notification.fields,
        resolve=lambda value: render(value, sources).text,
    )
    return passed, [{**asdict(result), "operator": str(result.operator)} for result in results]


def _retry_delay(run: Run) -> timedelta:
    delay = FIRST_RETRY_DELAY * 2 ** max(run.attempts - 1, 0)
    return min(delay, timedelta(seconds=settings.RUN_RETRY_MAX_DELAY_SECONDS))


def _retry_ending(run: Run, record: TaskRun) -> dict:
    """The run's changes after a temporary failure: queued again with backoff, or given up on."""
    now = timezone.now()
    if now - run.created_at > timedelta(seconds=settings.RUN_RETRY_WINDOW_SECONDS):
        # By its unique key: a TaskRun from bulk_create may not know its primary key.
        TaskRun.objects.filter(run=run, position=record.position, attempt=record.attempt).update(
            status=TaskRun.Status.FAILED
        )
        return _ending(Run.Status.FAILED, f"Task {record.position} gave up after retrying for 24 hours: {record.error}")
    delay = _retry_delay(run)
    return {
        "status": Run.Status.QUEUED,
        "status_reason": f"Task {record.position} failed temporarily ({record.error}); retrying in {delay}.",
        "next_attempt_at": now + delay,
        "claimed_at": None,
    }


class _Progress:
    """One run's way through its tasks, applied the same way whether it executes alone or in a batch."""

    def __init__(self, run: Run):
        self.run = run
        self.outputs: dict[int, dict] = {}  # what later tasks' ${task://N/...} read
        self.failures: list[str] = []
        self.retry: dict | None = None
        self.stopped = False  # no further task of this run is executed
        self.taken = False  # another worker holds the run: nothing more of it is ours to write

    def apply(self, position: int, record: TaskRun) -> None:
        if record.status == TaskRun.Status.RETRYING:
            self.retry = _retry_ending(self.run, record)
            self.stopped = True
        elif record.status == TaskRun.Status.FAILED:
            self.failures.append(f"Task {position} failed: {record.error}")
            self.stopped = self.run.workflow.on_task_failure == Workflow.OnTaskFailure.STOP
        else:
            self.outputs[position] = record.output

    def ending(self) -> dict:
        if self.retry is not None:
            return self.retry
        if self.failures:
            return _ending(Run.Status.FAILED, "\n".join(self.failures))
        return _ending(Run.Status.SUCCEEDED)


def _context(run: Run, task: Task, position: int, outputs: dict[int, dict]) -> TaskContext:
    return TaskContext(
        run_id=run.pk,
        position=position,
        workflow=run.workflow,
        config=dict(task.config),
        sources=_sources(run, outputs),
    )


def _record_error(record: TaskRun, error: Exception) -> None:
    if isinstance(error, TEMPORARY_ERRORS):
        record.status = TaskRun.Status.RETRYING
        record.error = str(error) or error.__class__.__name__
    elif isinstance(error, TaskError):
        record.status = TaskRun.Status.FAILED
        record.error = str(error)
    else:  # a bug must fail the task visibly, not kill the worker
        logger.exception("Task %s of run %s failed unexpectedly", record.position, record.run_id)
        record.status = TaskRun.Status.FAILED
        record.error = f"Unexpected error ({error.__class__.__name__}: {error}). The details are in the worker's log."


def _execute_task(run: Run, task: Task, position: int, outputs: dict[int, dict]) -> TaskRun:
    """One attempt at one task; returns the recorded TaskRun (raises RunTaken on a lost race)."""
    attempt = TaskRun.objects.filter(run=run, position=position).count() + 1
    context = _context(run, task, position, outputs)
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
    except Exception as error:
        _record_error(record, error)
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


def _execute_task_batch(kind: TaskKind, task: Task, position: int, going: list[_Progress]) -> list[TaskRun] | None:
    """The first attempt at `task` of each run, in one transaction with their TaskRuns.

    -> the TaskRuns in the order of `going`, or None when the batch was rolled back.
    """
    contexts = [_context(progress.run, task, position, progress.outputs) for progress in going]
    started_at = timezone.now()
    try:
        with transaction.atomic():
            results = kind.run_batch(contexts)
            finished_at = timezone.now()
            records = [
                _batch_record(
                    TaskRun(
                        run=progress.run,
                        task=task,
                        position=position,
                        kind=task.kind,
                        attempt=1,
                        resolved_input=context.resolved_input,
                        notes=context.notes,
                        started_at=started_at,
                        finished_at=finished_at,
                    ),
                    result,
                )
                for progress, context, result in zip(going, contexts, results, strict=True)
            ]
            TaskRun.objects.bulk_create(records)
    except Exception:  # IntegrityError too: a run was taken, and the single path finds out which
        logger.warning(
            "Task %s (%s) failed for a batch of %s runs; executing each run alone.",
            position,
            task.kind,
            len(going),
            exc_info=True,
        )
        return None
    return records


def _batch_record(record: TaskRun, result: dict | TaskError) -> TaskRun:
    if isinstance(result, dict):
        record.status = TaskRun.Status.SUCCEEDED
        record.output = result
    elif isinstance(result, TaskError):
        _record_error(record, result)
    else:
        raise TypeError(f"run_batch returned a {result.__class__.__name__}, not an outputs dict or a TaskError.")
    return record


def _execute_task_for_all(task: Task, position: int, going: list[_Progress]) -> None:
    kind = registry.find(task.kind)
    records = None
    if kind is not None and kind.run_batch is not None and len(going) > 1:
        records = _execute_task_batch(kind, task, position, going)
    if records is not None:
        for progress, record in zip(going, records, strict=True):
            progress.apply(position, record)
        return
    for progress in going:
        try:
            record = _execute_task(progress.run, task, position, progress.outputs)
        except RunTaken:
            _log_taken(progress.run)
            progress.stopped = progress.taken = True
            continue
        progress.apply(position, record)


def _run_tasks(run: Run) -> None:
    succeeded = {
        record.position: record.output
        for record in TaskRun.objects.filter(run=run, status=TaskRun.Status.SUCCEEDED).only("position", "output")
    }
    progress = _Progress(run)
    for position, task in enumerate(run.workflow.tasks.all(), start=1):
        if position in succeeded:
            progress.outputs[position] = succeeded[position]
            continue
        progress.apply(position, _execute_task(run, task, position, progress.outputs))
        if progress.stopped:
            break
    _end(run, progress.ending())


def _log_taken(run: Run) -> None:
    logger.warning("Run %s was taken over by another worker; leaving it to that worker.", run.pk)


def _execute_claimed(run: Run) -> None:
    try:
        if not run.workflow.enabled:
            _finish(run, Run.Status.SKIPPED, Run.WORKFLOW_DISABLED)
            return
        _learn_fields(run.workflow, run.notification.fields)
        passed, results = _conditions_pass(run)
        _save_run(run, condition_results=results)
        if not passed:
            _finish(run, Run.Status.CONDITIONS_NOT_MET)
            return
        _run_tasks(run)
    except RunTaken:
        _log_taken(run)


def run_execute(*, run_id: int) -> None:
    """Execute one run if it is due and nobody else has claimed it."""
    run = _claim(run_id)
    if run is not None:  # else finished, running elsewhere, or not due yet: nothing to do
        _execute_claimed(run)


def _execute_first_attempts(runs: list[Run]) -> list[tuple[Run, dict]]:
    """Execute never-tried runs of one workflow task by task. -> each run kept with its outcome."""
    workflow = runs[0].workflow
    if not workflow.enabled:
        return [(run, _ending(Run.Status.SKIPPED, Run.WORKFLOW_DISABLED)) for run in runs]
    _learn_fields(workflow, {name for run in runs for name in run.notification.fields})
    endings = []
    progresses = []
    for run in runs:
        passed, run.condition_results = _conditions_pass(run)
        if passed:
            progresses.append(_Progress(run))
        else:
            endings.append((run, _ending(Run.Status.CONDITIONS_NOT_MET)))
    for position, task in enumerate(workflow.tasks.all(), start=1):
        going = [progress for progress in progresses if not progress.stopped]
        if not going:
            break
        _execute_task_for_all(task, position, going)
    return endings + [(progress.run, progress.ending()) for progress in progresses if not progress.taken]


def _save_endings(endings: list[tuple[Run, dict]], claimed_at: datetime) -> None:
    """Write the batch's outcomes, skipping runs another worker has taken since.

    Most runs of a batch end alike (same status, same condition results), so one UPDATE per
    distinct outcome is usually one or two statements.
    """
    now = timezone.now()
    outcomes: dict[str, tuple[dict, list[Run]]] = {}
    for run, changes in endings:
        changes = {"condition_results": run.condition_results, **changes}
        if "finished_at" in changes:
            changes["finished_at"] = now  # the moment its outcome is saved, the same for the batch
        for name, value in changes.items():
            setattr(run, name, value)
        key = json.dumps(changes, sort_keys=True, default=str)
        outcomes.setdefault(key, (changes, []))[1].append(run)
    updated = sum(
        Run.objects.filter(pk__in=[run.pk for run in runs], status=Run.Status.RUNNING, claimed_at=claimed_at).update(
            **changes
        )
        for changes, runs in outcomes.values()
    )
    failed = [run for run, _changes in endings if run.status == Run.Status.FAILED]
    if updated < len(endings):
        logger.warning(
            "%s of %s runs were taken over by another worker before their outcome was saved; leaving them to it.",
            len(endings) - updated,
            len(endings),
        )
        ours = set(
            Run.objects.filter(
                pk__in=[run.pk for run in failed], status=Run.Status.FAILED, claimed_at=claimed_at
            ).values_list("pk", flat=True)
        )
        failed = [run for run in failed if run.pk in ours]
    for run in failed:  # after their status is saved, as _end does
        failure_notices_record(run=run)


def _execute_batch(runs: list[Run]) -> None:
    claimed_at = runs[0].claimed_at  # before a retry scheduled below clears it on its run
    groups: dict[int, list[Run]] = {}
    for run in runs:
        if run.attempts > 1:
            # A retried or reaped run may have succeeded tasks to skip, which the single path does.
            _execute_claimed(run)
        else:
            groups.setdefault(run.workflow_id, []).append(run)
    endings = [ending for group in groups.values() for ending in _execute_first_attempts(group)]
    _save_endings(endings, claimed_at=claimed_at)


def runs_execute_due(*, max_runs: int = 200, max_seconds: float = 60.0, batch_size: int | None = None) -> int:
    """Claim and execute due runs in batches until none is due or this job's share is used.

    A batch holds up to `batch_size` runs (default: the RUN_BATCH_SIZE setting). The share keeps
    one job well inside django-q2's timeout; runs left over are taken by the next wake-up job or
    the dispatcher. -> runs executed.
    """
    batch_size = batch_size or settings.RUN_BATCH_SIZE
    deadline = time.monotonic() + max_seconds
    executed = 0
    while executed < max_runs and time.monotonic() < deadline:
        runs = _claim_due(min(batch_size, max_runs - executed))
        if not runs:
            break
        _execute_batch(runs)
        executed += len(runs)
    return executed
