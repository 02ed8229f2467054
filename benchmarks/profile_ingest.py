#!/usr/bin/env python
"""Where the product endpoint's time goes, in one process, against PostgreSQL (no HTTP, no concurrency).

    .venv/bin/python benchmarks/profile_ingest.py [--messages 200] [--cprofile 100]

Creates sfsurveys_bench_profile (dropped at the end), then for 1-, 10- and 100-notification
messages: the queries of one request (django.test.utils.CaptureQueriesContext, on_commit
callbacks included), the mean time per message of the product view, of the minimal baseline and
of the product's steps timed apart, and optionally a cProfile of the product view
(sorted by $PROFILE_SORT, default cumulative; $PROFILE_LINES lines, default 35).
"""

import argparse
import cProfile
import io
import os
import pstats
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "sfsurveys_bench_profile"
os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ.setdefault("LOG_LEVEL", "INFO")


def pg_admin(sql):
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(sql)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200, help="notifications timed per size (~)")
    parser.add_argument("--cprofile", type=int, default=0, help="print cProfile of the product at this size")
    args = parser.parse_args()

    pg_admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    pg_admin(f"CREATE DATABASE {DB_NAME}")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True, env=os.environ)
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        pg_admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def run(args):
    import logging

    import django

    django.setup()
    logging.getLogger("django-q").setLevel(logging.WARNING)  # keep the output readable
    from django.contrib.auth import get_user_model
    from django.db import connection, connections, transaction
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from benchmarks import ingest as bench
    from benchmarks.views import BENCH_TABLE_SQL, minimal
    from workflows.models import Workflow
    from workflows.salesforce.parse import parse_outbound_message
    from workflows.salesforce.scrub import body_without_session_id
    from workflows.services import ingest
    from workflows.services.dispatch import runs_enqueue
    from workflows.views import salesforce_event

    with connection.cursor() as c:
        c.execute(BENCH_TABLE_SQL)
    owner = get_user_model().objects.create_user("profile-owner")
    wf = Workflow.objects.create(
        name="Profile", owner=owner, salesforce_object="Case", allowed_organization_ids=bench.ORG_ID
    )
    rf = RequestFactory()
    rng = random.Random(7)
    # Health checks (SELECT 1 on a reused connection) bypass CaptureQueriesContext: count them apart.
    backend = type(connections["default"])
    health_checks = [0]
    is_usable = backend.is_usable

    def counting_is_usable(self):
        health_checks[0] += 1
        return is_usable(self)

    backend.is_usable = counting_is_usable

    def post(view, body, *a):
        request = rf.post("/x/", data=body, content_type="text/xml; charset=utf-8")
        response = view(request, *a)
        assert response.status_code == 200 and b"<Ack>true</Ack>" in response.content, response.content[:300]

    for size in bench.SIZES:
        n = max(20, args.messages // size)
        bodies = [bench.build_message(size, rng) for _ in range(2 * n + 1)]
        post(salesforce_event, bodies.pop(), wf.token)  # warm
        health_checks[0] = 0
        with CaptureQueriesContext(connection) as ctx:
            post(salesforce_event, bodies.pop(), wf.token)
        checks = health_checks[0]
        kinds = {}
        for q in ctx.captured_queries:
            sql = q["sql"]
            head = " ".join(sql.split()[:4])[:60]
            if "INSERT" in sql[:20]:
                head = f"INSERT INTO {sql.split()[2]}"
            kinds[head] = kinds.get(head, 0) + 1
        print(f"\n=== {size} notification(s)/message: {len(ctx.captured_queries) + checks} queries per request")
        for head, count in kinds.items():
            print(f"  {count:>3} x {head}")
        print(f"  {checks:>3} x SELECT 1 (connection health check; +1 per request under a server: request_started)")

        def timed(label, fn, items):
            t = time.perf_counter()
            for item in items:
                fn(item)
            ms = (time.perf_counter() - t) / len(items) * 1000
            print(f"  {label:<44} {ms:8.2f} ms/message")
            return ms

        product_bodies, minimal_bodies = bodies[:n], bodies[n : 2 * n]
        timed("product view (whole request)", lambda b: post(salesforce_event, b, wf.token), product_bodies)
        timed("minimal view (whole request)", lambda b: post(minimal, b), minimal_bodies)
        # The product's steps, one by one, on fresh bodies.
        steps = [bench.build_message(size, rng) for _ in range(n)]
        timed("  parse_outbound_message", parse_outbound_message, steps)
        timed("  body_without_session_id", body_without_session_id, steps)

        def lookup_and_validate(body):
            call = ingest.Call(token=wf.token, method="POST", body=body, content_type="text/xml")
            return ingest._validate(call, ingest.workflow_for_token(wf.token))

        timed("  workflow_for_token + _validate", lookup_and_validate, steps)

        def store_only(body):
            message = parse_outbound_message(body)
            with transaction.atomic():
                inbound = ingest.InboundMessage.objects.create(
                    workflow=wf, status="accepted", http_status=200, body=body_without_session_id(body)
                )
                notifications = ingest._unique_notifications(message)
                ingest.Notification.objects.bulk_create(
                    [
                        ingest.Notification(
                            inbound_message=inbound,
                            workflow=wf,
                            organization_key=bench.ORG_ID[:15],
                            notification_id=x.id,
                            sobject_type=x.sobject_type,
                            record_id=x.fields.get("Id") or "",
                            fields=x.fields,
                        )
                        for x in notifications
                    ],
                    ignore_conflicts=True,
                )
                ids = list(ingest.Notification.objects.filter(inbound_message=inbound).values_list("id", flat=True))
                now = ingest.timezone.now()
                ingest.Run.objects.bulk_create(
                    [ingest.Run(workflow=wf, notification_id=i, next_attempt_at=now, dispatched_at=now) for i in ids]
                )
            return ids

        stored = []
        timed("  parse + store in one transaction (no enqueue)", lambda b, out=stored: out.append(store_only(b)), steps)
        timed("  runs_enqueue after commit (autocommit)", lambda ids: runs_enqueue(ids), stored)
        timed(
            "  runs_enqueue inside one transaction",
            lambda ids: transaction.atomic()(runs_enqueue)(ids),
            stored,
        )

        if args.cprofile == size:
            profiler = cProfile.Profile()
            profiler.enable()
            for body in [bench.build_message(size, rng) for _ in range(n)]:
                post(salesforce_event, body, wf.token)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))
            stats.print_stats(int(os.environ.get("PROFILE_LINES", "35")))
            print(out.getvalue())


if __name__ == "__main__":
    main()
