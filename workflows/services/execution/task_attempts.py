"""One task's attempt for the runs of a batch (a batch of one included), and what it means for each run.

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
from workflows.services.execution.claims import RunTaken
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
        return ending(
            Run.Status.FAILED,
            f"Task {record.position} gave up after retrying for 24 hours: {record.error.rstrip('.')}. "
            "Nothing more will be tried: replay the run once that is fixed.",
        )
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
        # What earlier executions of a retried or reaped run left: attempts per task, successes.
        self.earlier_attempts: dict[int, int] = {}
        self.succeeded: dict[int, dict] = {}
        self.succeeded_tasks: dict[int, int | None] = {}  # position -> the task that succeeded there

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
    """For a test run with a test address, the fields of a task that find the contact it saves or
    the people it sends to: the address in place of the first, the others empty (see
    TaskKind.contact_fields and TaskKind.recipient_fields), so no task finds the real contact."""
    test_event = run.test_event if run.test_event_id else None
    kind = registry.find(task.kind)
    if test_event is None or not test_event.test_recipient or kind is None or not kind.test_address_fields:
        return {}
    first, *others = kind.test_address_fields
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


def _new_record(progress: Progress, task: Task, position: int, started_at) -> TaskRun:
    return TaskRun(
        run=progress.run,
        task=task,
        position=position,
        kind=task.kind,
        attempt=progress.earlier_attempts.get(position, 0) + 1,
        started_at=started_at,
    )


def _finish_record(record: TaskRun, context: TaskContext, result) -> TaskRun:
    record.resolved_input = context.resolved_input
    record.notes = context.notes
    record.finished_at = timezone.now()
    if isinstance(result, dict):
        record.status = TaskRun.Status.SUCCEEDED
        record.output = result
    elif isinstance(result, TaskError):
        _record_error(record, result)
    else:
        raise TypeError(f"The task returned a {result.__class__.__name__}, not an outputs dict or a TaskError.")
    return record


def _results(kind: TaskKind, contexts: list[TaskContext]) -> list:
    if kind.run_batch is None:
        return [kind.run(context) for context in contexts]
    results = kind.run_batch(contexts)
    if len(results) != len(contexts):
        raise TypeError(f"run_batch returned {len(results)} results for {len(contexts)} runs.")
    return results


def _attempt(task: Task, position: int, going: list[Progress]) -> list[TaskRun] | None:
    """One attempt at `task` for each run of `going`, in one transaction with their TaskRuns.

    -> the TaskRuns in the order of `going`; None when a batch of several raised and was rolled
    back. A batch of one that raised records its error (RunTaken when its run was taken over).
    """
    contexts = [_context(progress.run, task, position, progress.outputs) for progress in going]
    started_at = timezone.now()
    records = [_new_record(progress, task, position, started_at) for progress in going]
    try:
        with transaction.atomic():
            results = _results(registry.get(task.kind), contexts)
            for record, context, result in zip(records, contexts, results, strict=True):
                _finish_record(record, context, result)
            TaskRun.objects.bulk_create(records)
        return records
    except Exception as error:  # IntegrityError too: a run was taken, and a batch of one finds out which
        if len(going) > 1:
            logger.warning(
                "Task %s (%s) failed for a batch of %s runs; executing each run alone.",
                position,
                task.kind,
                len(going),
                exc_info=True,
            )
            return None
        if isinstance(error, IntegrityError):
            raise RunTaken from None
        # A fresh record: the rolled-back one may hold a success's output, or an id it never kept.
        record = _new_record(going[0], task, position, started_at)
        record.resolved_input, record.notes = contexts[0].resolved_input, contexts[0].notes
        record.finished_at = timezone.now()
        _record_error(record, error)
    try:
        record.save()
    except IntegrityError:
        raise RunTaken from None
    return [record]


def task_execute(task: Task, position: int, going: list[Progress]) -> None:
    """Execute `task` for the runs of `going` that have not succeeded at it, and apply each outcome.

    A kind with `run_batch` gets them all at once; one without gets them one by one, and so do the
    runs of a batch that raised. Runs another worker took over meanwhile are marked taken.
    """
    todo = []
    for progress in going:
        if position in progress.succeeded:  # done by an earlier execution of this run: reuse its outputs
            progress.outputs[position] = progress.succeeded[position]
        else:
            todo.append(progress)
    kind = registry.find(task.kind)
    if kind is not None and kind.run_batch is not None and len(todo) > 1:
        records = _attempt(task, position, todo)
        if records is not None:
            for progress, record in zip(todo, records, strict=True):
                progress.apply(position, record)
            return
    for progress in todo:  # a kind without run_batch, a batch of one, or a batch that raised
        _attempt_alone(task, position, progress)


def _attempt_alone(task: Task, position: int, progress: Progress) -> None:
    try:
        (record,) = _attempt(task, position, [progress])
    except RunTaken:
        logger.warning("Run %s was taken over by another worker; leaving it to that worker.", progress.run.pk)
        progress.stopped = progress.taken = True
        return
    progress.apply(position, record)
