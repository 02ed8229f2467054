#!/usr/bin/env python
"""Time the history purge's batches (workflows.services.retention) on 100k old runs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/SCRATCH_DB DJANGO_SETTINGS_MODULE=config.settings \
        PYTHONPATH=. .venv/bin/python benchmarks/history_purge.py

Not a test. Migrates the (scratch!) database, seeds 100k finished runs 40 days old with two task
runs each, 100k notifications in 10k inbound messages and 2k distributions pointing at the runs,
then runs history_purge(batch_size=1000) and prints each model's batch times (median, p95, max):
each batch is one transaction, so its time is how long it holds its row locks.
"""

import statistics
import time
from datetime import timedelta

import django

django.setup()
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models.query import QuerySet  # noqa: E402
from django.utils import timezone  # noqa: E402

from distributions.models import Distribution, Survey  # noqa: E402
from tests.factories import make_user  # noqa: E402
from workflows.models import InboundMessage, Notification, Run, TaskRun, Workflow  # noqa: E402
from workflows.services.retention import history_purge  # noqa: E402

call_command("migrate", verbosity=0)
N = 100_000
old = timezone.now() - timedelta(days=40)
owner = make_user(username=f"bench{time.time_ns()}")
workflow = Workflow.objects.create(name=f"Bench {time.time_ns()}", owner=owner, salesforce_object="Case")
survey = Survey.objects.create(name=f"Bench {time.time_ns()}", owner=owner, status="active")
t0 = time.monotonic()
for start in range(0, N, 5000):
    messages = InboundMessage.objects.bulk_create(
        [InboundMessage(workflow=workflow, status="accepted", http_status=200, body="x" * 2000) for _ in range(500)]
    )
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                inbound_message=messages[i // 10],
                organization_key="00D5g000004ABCD",
                notification_id=f"n{start + i}",
                sobject_type="Case",
                record_id=f"500{start + i}",
                fields={"Id": f"500{start + i}", "Email": "ada@example.com", "Priority": "High"},
            )
            for i in range(5000)
        ]
    )
    runs = Run.objects.bulk_create(
        [Run(workflow=workflow, notification=n, status="succeeded", next_attempt_at=old) for n in notifications]
    )
    TaskRun.objects.bulk_create(
        [
            TaskRun(
                run=r,
                position=p,
                kind="add_to_directory",
                status="succeeded",
                resolved_input={"email": "ada@example.com"},
                output={"ContactId": "1"},
                started_at=old,
                finished_at=old,
            )
            for r in runs
            for p in (1, 2)
        ]
    )
    Distribution.objects.bulk_create([Distribution(survey=survey, run=r, task_position=2) for r in runs[:100]])
Run.objects.update(created_at=old)
Notification.objects.update(received_at=old)
InboundMessage.objects.update(received_at=old)
with connection.cursor() as c:
    c.execute("ANALYZE")
print(f"seeded in {time.monotonic() - t0:.1f}s: {Run.objects.count()} runs, {TaskRun.objects.count()} task runs")

timings = {}
real_delete = QuerySet.delete


def timed_delete(self):
    started = time.monotonic()
    result = real_delete(self)
    timings.setdefault(self.model.__name__, []).append(time.monotonic() - started)
    return result


QuerySet.delete = timed_delete
t0 = time.monotonic()
counts = history_purge(batch_size=1000)
total = time.monotonic() - t0
print(counts)
print(f"purge total {total:.1f}s")
for name, values in timings.items():
    values.sort()
    print(
        f"{name}: {len(values)} batches, median {statistics.median(values) * 1000:.0f} ms, "
        f"p95 {values[int(len(values) * 0.95) - 1] * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
    )
print("distributions kept, run NULL:", Distribution.objects.filter(survey=survey, run__isnull=True).count())
