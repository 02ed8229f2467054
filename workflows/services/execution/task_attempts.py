"""One task's attempt, for one run or for a batch of runs, and what its outcome means for the run.

Each attempt is an append-only TaskRun. A task's writes and its "succeeded" TaskRun commit
together; the partial unique index on succeeded TaskRuns turns a second success into an
IntegrityError, which means another worker holds the run (RunTaken).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from workflows.models import Run, Task, TaskRun, Workflow
from workflows.piping import PipingSources
from workflows.services.execution.claims import RunTaken, log_taken
from workflows.tasks import registry
from workflows.tasks.context import TaskContext
from workflows.tasks.registry import TaskError, TaskKind, TemporaryTaskError

logger = logging.getLogger(__name__)

# Failures of our own infrastructure (a lock timeout, a dropped connection) pass; retry them.
TEMPORARY_ERRORS = (TemporaryTaskError, OperationalError, InterfaceError)
FIRST_RETRY_DELAY = timedelta(minutes=1)


def piping_sources(run: Run, task_outputs: dict[int, dict]) -> PipingSources:
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


def ending(status: str, reason: str = "") -> dict:
    return {"status": status, "status_reason": reason, "finished_at": timezone.now()}


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
        return ending(Run.Status.FAILED, f"Task {record.position} gave up after retrying for 24 hours: {record.error}")
    delay = _retry_delay(run)
    return {
        "status": Run.Status.QUEUED,
        "status_reason": f"Task {record.position} failed temporarily ({record.error}); retrying in {delay}.",
        "next_attempt_at": now + delay,
        "claimed_at": None,
    }


class Progress:
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
            return ending(Run.Status.FAILED, "\n".join(self.failures))
        return ending(Run.Status.SUCCEEDED)


def _context(run: Run, task: Task, position: int, outputs: dict[int, dict]) -> TaskContext:
    return TaskContext(
        run_id=run.pk,
        position=position,
        workflow=run.workflow,
        config=dict(task.config),
        sources=piping_sources(run, outputs),
        overrides=_test_recipient(run, task),
    )


def _test_recipient(run: Run, task: Task) -> dict[str, str]:
    """For a test run with a test address, the recipient fields of a task that sends to people:
    the address in place of the first, the others empty (see TaskKind.recipient_fields)."""
    test_event = run.test_event if run.test_event_id else None
    kind = registry.find(task.kind)
    if test_event is None or not test_event.test_recipient or kind is None or not kind.recipient_fields:
        return {}
    first, *others = kind.recipient_fields
    return {first: test_event.test_recipient, **dict.fromkeys(others, "")}


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


def task_attempt(run: Run, task: Task, position: int, outputs: dict[int, dict]) -> TaskRun:
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


def _execute_task_batch(kind: TaskKind, task: Task, position: int, going: list[Progress]) -> list[TaskRun] | None:
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


def task_execute_for_all(task: Task, position: int, going: list[Progress]) -> None:
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
            record = task_attempt(progress.run, task, position, progress.outputs)
        except RunTaken:
            log_taken(progress.run)
            progress.stopped = progress.taken = True
            continue
        progress.apply(position, record)
