"""Replaying runs from their stored notification with the workflow's current definition.

A replay is a new run linked to the original; history is never edited.
"""

from django.db import transaction
from django.utils import timezone

from workflows.models import Run
from workflows.selectors import may_act_as_workflow_owner
from workflows.services.dispatch import workers_wake


class ReplayError(Exception):
    pass


class ReplayNotAllowed(ReplayError):
    """The user may not replay these runs (a test run of a workflow they may not act for)."""


@transaction.atomic
def runs_replay(*, runs, user) -> list[Run]:
    """New runs of `runs`' stored notifications, linked to them, queued now. -> the new runs.

    Raises ReplayError, replaying nothing, when a workflow is disabled, or ReplayNotAllowed when `user` replays a
    test run of a workflow they may not act for: its values and test address were typed by
    whoever sent the test, and a replay sends them again with the current owner's rights, which
    only the owner (or a superuser) may (workflows.selectors.may_act_as_workflow_owner). A run
    Salesforce started is anyone's to replay: its values are Salesforce's."""
    runs = list(runs)
    disabled = sorted({run.workflow.name for run in runs if not run.workflow.enabled})
    if disabled:
        raise ReplayError(f"Enable {', '.join(disabled)} before replaying its runs.")
    others = sorted(
        {
            run.workflow.name
            for run in runs
            if run.test_event_id and not may_act_as_workflow_owner(user=user, workflow=run.workflow)
        }
    )
    if others:
        raise ReplayNotAllowed(
            f"Only the owner of {', '.join(others)} may replay its test runs (they send a test event again, "
            "with the owner's rights): take the workflow over, or replay the runs Salesforce started."
        )
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
