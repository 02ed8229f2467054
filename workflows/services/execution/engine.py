"""The engine: a batch of claimed runs, from their conditions to their outcomes.

Workers drain due runs in batches (`runs_execute_due`); a job or a test naming one run executes it
as a batch of one (`run_execute`). Either way `runs_execute` does the work, so there is one path.
"""

import json
import logging
import time
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from directory.models import Contact
from workflows.models import Run, Task, TaskRun
from workflows.services.erasure import CONTACT_OUTPUT
from workflows.services.execution.background import after_commit_work_in_second_thread
from workflows.services.execution.claims import claim, claim_due
from workflows.services.execution.runs import conditions_ending, learn_fields
from workflows.services.execution.task_attempts import Progress, ending, task_execute
from workflows.services.failure_notices import failure_notices_record

logger = logging.getLogger(__name__)


def _load_earlier_attempts(progresses: list[Progress]) -> None:
    """Give retried and reaped runs what their earlier executions left (one query for the batch).

    A run claimed for the first time has no TaskRun yet: only those claimed before are looked up.
    """
    again = {progress.run.pk: progress for progress in progresses if progress.run.attempts > 1}
    if not again:
        return
    attempts = TaskRun.objects.filter(run_id__in=again).values_list("run_id", "position", "task_id", "status", "output")
    for run_id, position, task_id, status, output in attempts:
        progress = again[run_id]
        progress.earlier_attempts[position] = progress.earlier_attempts.get(position, 0) + 1
        if status == TaskRun.Status.SUCCEEDED:
            progress.succeeded[position] = output
            progress.succeeded_tasks[position] = task_id


def _saved_contacts(progress: Progress) -> dict[int, str]:
    """position -> the ContactId an earlier execution's successful task of the run output."""
    return {
        position: str(output.get(CONTACT_OUTPUT) or "")
        for position, output in progress.succeeded.items()
        if str(output.get(CONTACT_OUTPUT) or "").isdigit()
    }


def _contacts_deleted_since(progresses: list[Progress]) -> set[str]:
    """The ContactIds earlier executions of these runs output whose contacts no longer exist
    (one query for the batch; none when no run was executed before)."""
    ids = {contact_id for progress in progresses for contact_id in _saved_contacts(progress).values()}
    if not ids:
        return set()
    existing = {str(pk) for pk in Contact.objects.filter(pk__in=[int(i) for i in ids]).values_list("pk", flat=True)}
    return ids - existing


def _contact_deleted_ending(progress: Progress, erased: set[str], tasks: list[Task]) -> dict | None:
    """The ending of a retried or reaped run a task of which saved a contact deleted since (the
    person erased), or None (also when no task is left to do). Going on would save the person
    again from the event, and invite them: it stops, naming nobody. A new event from Salesforce
    saves them anew."""
    deleted = [position for position, contact_id in sorted(_saved_contacts(progress).items()) if contact_id in erased]
    if not deleted or all(position in progress.succeeded for position in range(1, len(tasks) + 1)):
        return None
    return ending(
        Run.Status.FAILED,
        f"The contact {', '.join(f'task {position}' for position in deleted)} saved was deleted while this run "
        "waited to retry: nothing more was done, so the person is not saved or contacted again.",
    )


def _tasks_changed_ending(progress: Progress, tasks: list[Task]) -> dict | None:
    """The ending of a retried or reaped run whose workflow's tasks were changed since a task of it
    succeeded (deleted, or another task now at its position): None when each task it succeeded
    at is still where it was. Its successes are found by position, so going on would skip the
    task now there and could repeat the moved one (a second transaction, a second invitation):
    it stops, and a replay runs the current tasks."""
    changed = [
        position
        for position, task_id in sorted(progress.succeeded_tasks.items())
        if task_id is None or position > len(tasks) or tasks[position - 1].pk != task_id
    ]
    if not changed:
        return None
    return ending(
        Run.Status.FAILED,
        f"The workflow's tasks were changed (deleted, added before or moved) while this run waited to retry: "
        f"{', '.join(f'task {position}' for position in changed)} had already succeeded, and is no longer "
        "at that place. Nothing more was done, so that no task runs twice or is skipped; replay the run "
        "to run the workflow's current tasks.",
    )


def _execute_workflow_runs(runs: list[Run]) -> list[tuple[Run, dict]]:
    """Execute claimed runs of one workflow task by task. -> each run kept with its outcome."""
    workflow = runs[0].workflow
    if not workflow.enabled:
        return [(run, ending(Run.Status.SKIPPED, Run.WORKFLOW_DISABLED)) for run in runs]
    learn_fields(workflow, {name for run in runs for name in run.notification.fields})
    endings = []
    progresses = []
    for run in runs:
        stop = conditions_ending(run)
        if stop is None:
            progresses.append(Progress(run))
        else:
            endings.append((run, stop))
    _load_earlier_attempts(progresses)
    tasks = list(workflow.tasks.all())
    erased = _contacts_deleted_since(progresses)
    going_on = []
    for progress in progresses:
        stop = _tasks_changed_ending(progress, tasks) or _contact_deleted_ending(progress, erased, tasks)
        if stop is None:
            going_on.append(progress)
        else:
            endings.append((progress.run, stop))
    progresses = going_on
    for position, task in enumerate(tasks, start=1):
        going = [progress for progress in progresses if not progress.stopped]
        if not going:
            break
        task_execute(task, position, going)
    return endings + [(progress.run, progress.ending()) for progress in progresses if not progress.taken]


def _save_endings(endings: list[tuple[Run, dict]], claims: dict[int, datetime]) -> None:
    """Write the batch's outcomes, skipping runs another worker has taken since.

    Most runs of a batch end alike (same status, same condition results), so one UPDATE per
    distinct outcome is usually one or two statements.
    """
    now = timezone.now()
    outcomes: dict[str, tuple[dict, datetime, list[Run]]] = {}
    for run, changes in endings:
        changes = {"condition_results": run.condition_results, **changes}
        if "finished_at" in changes:
            changes["finished_at"] = now  # the moment its outcome is saved, the same for the batch
        for name, value in changes.items():
            setattr(run, name, value)
        key = json.dumps([changes, claims[run.pk]], sort_keys=True, default=str)
        outcomes.setdefault(key, (changes, claims[run.pk], []))[2].append(run)
    updated = sum(
        Run.objects.filter(pk__in=[run.pk for run in runs], status=Run.Status.RUNNING, claimed_at=claimed_at).update(
            **changes
        )
        for changes, claimed_at, runs in outcomes.values()
    )
    failed = [run for run, _changes in endings if run.status == Run.Status.FAILED]
    if updated < len(endings):
        logger.warning(
            "%s of %s runs were taken over by another worker before their outcome was saved; leaving them to it.",
            len(endings) - updated,
            len(endings),
        )
        ours = {
            pk
            for pk, claimed_at in Run.objects.filter(
                pk__in=[run.pk for run in failed], status=Run.Status.FAILED
            ).values_list("pk", "claimed_at")
            if claimed_at == claims[pk]
        }
        failed = [run for run in failed if run.pk in ours]
    for run in failed:  # once their status is saved: a notice names a failed run
        failure_notices_record(run=run)


def runs_execute(runs: list[Run]) -> None:
    """Execute claimed runs (the batch a worker claimed, or a single run) and save their outcomes.

    Runs of several workflows are executed workflow by workflow; retried and reaped runs skip the
    tasks they have succeeded at and reuse those tasks' outputs.
    """
    claims = {run.pk: run.claimed_at for run in runs}  # before a retry scheduled below clears it on its run
    groups: dict[int, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.workflow_id, []).append(run)
    endings = [ending for group in groups.values() for ending in _execute_workflow_runs(group)]
    _save_endings(endings, claims)


def run_execute(*, run_id: int) -> None:
    """Execute one run, as a batch of one, if it is due and nobody else has claimed it."""
    runs = claim(run_id)
    if runs:  # else finished, running elsewhere, or not due yet: nothing to do
        runs_execute(runs)


def runs_execute_due(*, max_runs: int = 200, max_seconds: float = 60.0, batch_size: int | None = None) -> int:
    """Claim and execute due runs in batches until none is due or this job's share is used.

    A batch holds up to `batch_size` runs (default: the RUN_BATCH_SIZE setting). The share keeps
    one job well inside django-q2's timeout; runs left over are taken by the next wake-up job or
    the dispatcher. Work the tasks hand over at commit (emails) is done by the time it returns.
    -> runs executed.
    """
    batch_size = batch_size or settings.RUN_BATCH_SIZE
    deadline = time.monotonic() + max_seconds
    executed = 0
    # A batch's emails go out while the next batch executes (background.py).
    with after_commit_work_in_second_thread():
        while executed < max_runs and time.monotonic() < deadline:
            runs = claim_due(min(batch_size, max_runs - executed))
            if not runs:
                break
            runs_execute(runs)
            executed += len(runs)
    return executed
