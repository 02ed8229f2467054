"""Replaying runs from their stored notification with the workflow's current definition.

A replay is a new run linked to the original; history is never edited.
"""

from django.db import transaction
from django.utils import timezone

from workflows.models import Run
from workflows.services.dispatch import runs_enqueue


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
            Run(workflow=run.workflow, notification=run.notification, replay_of=run, next_attempt_at=now, dispatched_at=now)
            for run in runs
        ]
    )
    runs_enqueue([replay.pk for replay in replays])
    return replays
