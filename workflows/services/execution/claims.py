"""Claiming runs, and writing to a run only while this worker's claim on it holds."""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from workflows.models import Run

logger = logging.getLogger(__name__)


class RunTaken(Exception):
    """Another worker holds this run now (it was reaped and claimed again); stop quietly."""


def claim(run_id: int) -> Run | None:
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED, next_attempt_at__lte=now).update(
        status=Run.Status.RUNNING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return Run.objects.select_related("workflow", "notification__inbound_message", "test_event").get(pk=run_id)


def claim_due(limit: int) -> list[Run]:
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
            .select_related("workflow__owner", "notification__inbound_message", "test_event")
            .prefetch_related("workflow__conditions", "workflow__tasks")
            .order_by("next_attempt_at", "pk")
        )


def save_claimed(run: Run, **changes) -> None:
    """Update the run only while this worker still holds its claim."""
    updated = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, claimed_at=run.claimed_at).update(**changes)
    if not updated:
        raise RunTaken
    for name, value in changes.items():
        setattr(run, name, value)


def log_taken(run: Run) -> None:
    logger.warning("Run %s was taken over by another worker; leaving it to that worker.", run.pk)
