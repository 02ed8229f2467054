"""Replaying runs from their stored notification with the workflow's current definition.

A replay is a new run linked to the original; history is never edited.
"""

from django.db import transaction
from django.utils import timezone

from workflows.models import Run
from workflows.services.dispatch import workers_wake


class ReplayError(Exception):
    pass


@transaction.atomic
def runs_replay(*, runs) -> list[Run]:
    runs = list(runs)
    disabled = sorted({run.workflow.name for run in runs if not run.workflow.enabled})
    if disabled:
        raise ReplayError(f"Enable {', '.join(disabled)} before replaying its runs.")
    now = timezone.now()
    replays = Run.objects.bulk_create(
        [
            Run(
                workflow=run.workflow,
                notification=run.notification,
                replay_of=run,
                # A test run's replay is a test too: same test address, still out of the counts.
                test_event_id=run.test_event_id,
                next_attempt_at=now,
            )
            for run in runs
        ]
    )
    workers_wake(runs=len(replays))
    return replays
