"""Due runs in batches: first attempts of one workflow's runs executed task by task together."""

import json
import logging
import time
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from workflows.models import Run
from workflows.services.execution.claims import claim_due
from workflows.services.execution.runs import conditions_ending, execute_claimed, learn_fields
from workflows.services.execution.task_attempts import Progress, ending, task_execute_for_all
from workflows.services.failure_notices import failure_notices_record

logger = logging.getLogger(__name__)


def _execute_first_attempts(runs: list[Run]) -> list[tuple[Run, dict]]:
    """Execute never-tried runs of one workflow task by task. -> each run kept with its outcome."""
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
    for position, task in enumerate(workflow.tasks.all(), start=1):
        going = [progress for progress in progresses if not progress.stopped]
        if not going:
            break
        task_execute_for_all(task, position, going)
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
            execute_claimed(run)
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
        runs = claim_due(min(batch_size, max_runs - executed))
        if not runs:
            break
        _execute_batch(runs)
        executed += len(runs)
    return executed
