#!/usr/bin/env python
"""Time the history purge's batches (workflows.services.retention) on 100k old runs.

    .venv/bin/python benchmarks/history_purge.py [--runs 100000] [--batch-size 1000]
        [--database sfsurveys_bench_purge]

Creates the database --database (dropped first if it exists, dropped again at the end), migrates
it, seeds --runs finished runs 40 days old with two task runs each, as many notifications in
inbound messages of ten, and 2k distributions pointing at the runs, then runs
history_purge(batch_size=--batch-size) and prints each model's batch times (median, p95, max):
each batch is one transaction, so its time is how long it holds its row locks (on SQLite, the
database's one write lock, which the event endpoint waits for). Target (exit 1 when missed): the
longest batch under 1 s, the ack latency the endpoint must keep. Exit 2 when the benchmark failed.
"""

import argparse
import os
import statistics
import sys
import time
import traceback
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import scratch_db  # noqa: E402

MAX_BATCH_SECONDS = 1.0


def seed(runs: int):
    from django.db import connection
    from django.utils import timezone

    from distributions.models import Distribution, Survey
    from tests.factories import make_user
    from workflows.models import InboundMessage, Notification, Run, TaskRun, Workflow

    old = timezone.now() - timedelta(days=40)
    owner = make_user(username="bench-purge")
    workflow = Workflow.objects.create(name="Bench purge", owner=owner, salesforce_object="Case")
    survey = Survey.objects.create(name="Bench purge", owner=owner, status="active")
    for start in range(0, runs, 5000):
        count = min(5000, runs - start)
        messages = InboundMessage.objects.bulk_create(
            [
                InboundMessage(workflow=workflow, status="accepted", http_status=200, body="x" * 2000)
                for _ in range((count + 9) // 10)
            ]
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
                for i in range(count)
            ]
        )
        created = Run.objects.bulk_create(
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
                for r in created
                for p in (1, 2)
            ]
        )
        Distribution.objects.bulk_create([Distribution(survey=survey, run=r, task_position=2) for r in created[:100]])
    Run.objects.update(created_at=old)
    Notification.objects.update(received_at=old)
    InboundMessage.objects.update(received_at=old)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return survey


def run(args) -> int:
    from django.db.models.query import QuerySet

    from distributions.models import Distribution
    from workflows.models import Run, TaskRun
    from workflows.services.retention import history_purge

    started = time.monotonic()
    survey = seed(args.runs)
    print(
        f"seeded in {time.monotonic() - started:.1f} s: "
        f"{Run.objects.count()} runs, {TaskRun.objects.count()} task runs",
        flush=True,
    )
    timings = {}
    real_delete = QuerySet.delete

    def timed_delete(self):
        began = time.monotonic()
        result = real_delete(self)
        timings.setdefault(self.model.__name__, []).append(time.monotonic() - began)
        return result

    QuerySet.delete = timed_delete
    started = time.monotonic()
    try:
        counts = history_purge(batch_size=args.batch_size)
    finally:
        QuerySet.delete = real_delete
    print(counts)
    print(f"purge total {time.monotonic() - started:.1f} s")
    for name, values in timings.items():
        values.sort()
        print(
            f"{name}: {len(values)} batches, median {statistics.median(values) * 1000:.0f} ms, "
            f"p95 {values[max(0, int(len(values) * 0.95) - 1)] * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
        )
    print("distributions kept, run NULL:", Distribution.objects.filter(survey=survey, run__isnull=True).count())
    longest = max((max(values) for values in timings.values()), default=0.0)
    ok = longest < MAX_BATCH_SECONDS
    print(
        f"\nTarget:\n  {'PASS' if ok else 'FAIL'}  longest batch {longest * 1000:.0f} ms"
        f" < {MAX_BATCH_SECONDS * 1000:.0f} ms "
        f"({longest / MAX_BATCH_SECONDS:.0%} of the limit)"
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000, help="old runs to seed (default 100000)")
    parser.add_argument("--batch-size", type=int, default=1000, help="history_purge's batch size (default 1000)")
    scratch_db.add_database_argument(parser, default="sfsurveys_bench_purge")
    args = parser.parse_args()
    env = scratch_db.settings_env(scratch_db.database_url(args.database))
    try:
        scratch_db.create_migrated_database(args.database, env=env)
        os.environ.update(env)
        import django

        django.setup()
        return run(args)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - a benchmark reports its own failure
        traceback.print_exc()
        return 2
    finally:
        scratch_db.close_and_drop(args.database)


if __name__ == "__main__":
    sys.exit(main())
