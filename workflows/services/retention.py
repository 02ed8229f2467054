"""Purging old workflow history: runs (with their task runs), test events, notifications and inbound
messages.

Rows go in small batches, each its own short transaction, so no table is locked for long and a
purge that runs out of time carries on at the next one. Batches are deleted through the ORM, not
raw SQL: its collector applies every on_delete, also those of apps above workflows, which workflows
cannot import (a Distribution's run is set to NULL, a replay's replay_of too), where the database's
foreign keys (no ON DELETE action) would refuse a raw delete. directory.Transaction.run_id is a
plain integer, not a foreign key: the transaction stays, its run id then points at nothing,
harmlessly.

Batches walk the primary key, since the oldest rows have the lowest ids, and stop at the first batch
holding no row older than the cutoff: no index on the timestamps is needed, so ingest pays nothing.
"""

import logging
import time
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from workflows.models import InboundMessage, Notification, Run, TestEvent

logger = logging.getLogger(__name__)

# Well inside django-q2's job timeout (WORKER_TIMEOUT_SECONDS, 300 by default).
MAX_SECONDS = 240.0


def history_purge(
    *, now: datetime | None = None, batch_size: int = 1000, max_seconds: float = MAX_SECONDS
) -> dict[str, int]:
    """Delete finished history older than RETENTION_DAYS. -> rows deleted per model label."""
    cutoff = retention_cutoff(now)
    deadline = time.monotonic() + max_seconds
    counts: Counter[str] = Counter()
    # Parents after their children: a notification goes once its runs are gone (queued and running
    # runs stay, and so does a notification replayed recently), a message once its notifications are.
    steps = [
        (Run, "created_at", Q(status__in=Run.FINISHED)),
        (TestEvent, "created_at", ~Exists(Run.objects.filter(test_event=OuterRef("pk")))),
        (Notification, "received_at", ~Exists(Run.objects.filter(notification=OuterRef("pk")))),
        (InboundMessage, "received_at", ~Exists(Notification.objects.filter(inbound_message=OuterRef("pk")))),
    ]
    for model, stamp, deletable in steps:
        if not old_rows_purge(
            model, stamp, deletable, cutoff=cutoff, batch_size=batch_size, deadline=deadline, counts=counts
        ):
            logger.info("History purge ran out of time at %s; the next purge goes on from there.", model.__name__)
            break
    return {label: count for label, count in counts.items() if count}


def retention_cutoff(now: datetime | None = None) -> datetime:
    """The time before which history is purged: `now` (default: the current time) less RETENTION_DAYS."""
    return (now or timezone.now()) - timedelta(days=settings.RETENTION_DAYS)


def old_rows_purge(
    model: type[models.Model],
    stamp: str,
    deletable: Q,
    *,
    cutoff: datetime,
    batch_size: int,
    deadline: float,
    counts: Counter,
    lock: bool = False,
) -> bool:
    """Delete `model`'s rows matching `deletable` whose `stamp` is older than `cutoff`, batch by
    batch in primary key order, each batch its own transaction; `counts` gains the rows deleted per
    model label (cascades included). `deadline` is a time.monotonic() value. With `lock`, a batch's
    rows are locked (SELECT ... FOR UPDATE) before `deletable` is checked, for rows that writers
    lock before adding what would make them not deletable. -> False if it ran out of time."""
    after = 0
    while time.monotonic() < deadline:
        window = list(model.objects.filter(pk__gt=after).order_by("pk").values_list("pk", stamp)[:batch_size])
        old = [pk for pk, at in window if at < cutoff]
        if not old:
            return True
        with transaction.atomic():
            if lock:
                old = list(model.objects.select_for_update().filter(pk__in=old).values_list("pk", flat=True))
            counts.update(model.objects.filter(pk__in=old).filter(deletable).delete()[1])
        after = window[-1][0]
    return False
