#!/usr/bin/env python
"""Workflow Reporting's changelists at 1,000 runs and at 1,000,000 runs.

    .venv/bin/python benchmarks/reporting.py [--small 1000] [--big 1000000] [--repeat 5]

Creates the database sfsurveys_bench_reporting (dropped first if it exists, dropped again at the
end), migrates it and seeds --small runs with set-based SQL (INSERT ... SELECT generate_series):
per run one accepted inbound message, one notification and the run, spread pseudo-randomly over
60 days across four workflows (three Case, one Opportunity) with a realistic mix of statuses; every
second run has a task run whose output names its contact (so the email search has something to
find), failed ones with an error; plus one refused call per hundred runs. It times every page, then
grows the same tables to --big runs (the first --small rows stay, so the searched ids exist at both
sizes), runs VACUUM ANALYZE and times every page again.

Each page is fetched through Django's test Client logged in as a superuser (the real admin views,
templates and queries, no HTTP server): one warm-up, then the best of --repeat.
Target (exit 1 when missed): every page at --big within 3x its time at --small. Exit 2 when the
benchmark itself failed.
"""

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import scratch_db  # noqa: E402
from benchmarks.history_csv import insert_select  # noqa: E402
from benchmarks.scratch_db import create_migrated_database, database_url  # noqa: E402

DB_NAME = "sfsurveys_bench_reporting"
DATABASE_URL = database_url(DB_NAME)
ENV = {"DJANGO_SETTINGS_MODULE": "benchmarks.settings", "DATABASE_URL": DATABASE_URL, "DEBUG": "false"}
ADMIN_USERNAME = "bench-admin"
MAX_RATIO = 3.0
DAYS = 60
# A run searched for at both sizes: among the first --small rows.
PROBE = 500
WORKFLOWS = (("Closed cases", "Case"), ("Escalations", "Case"), ("Store visits", "Case"), ("Won deals", "Opportunity"))


def create_database() -> None:
    create_migrated_database(DB_NAME, env=ENV)


def record_id(g: int) -> str:
    return f"500{g:015d}"


def notification_id(g: int) -> str:
    return f"04l{g:015d}"


def seed_objects() -> dict:
    """The superuser, the directory and the workflows. -> ids for the seed's SQL."""
    from django.contrib.auth import get_user_model

    from directory.models import Directory
    from workflows.models import Workflow

    owner = get_user_model().objects.create_superuser(ADMIN_USERNAME, "bench@example.com", None)
    workflows = [Workflow.objects.create(name=name, salesforce_object=obj, owner=owner) for name, obj in WORKFLOWS]
    return {"directory": Directory.objects.create(name="Bench").pk, "workflows": [w.pk for w in workflows]}


def seed_runs(ids: dict, first: int, last: int) -> None:
    """Runs first..last (ids g) with their inbound messages, notifications, task runs and contacts."""
    from django.db import connection

    from directory.models import Contact
    from workflows.models import InboundMessage, Notification, Run, TaskRun

    rows = f"generate_series({first}, {last}) AS g"
    workflow_ids = ", ".join(str(pk) for pk in ids["workflows"])
    workflow_of_g = f"(ARRAY[{workflow_ids}])[1 + mod(g, {len(ids['workflows'])})]"
    object_of_g = f"(ARRAY[{', '.join(repr(obj) for _, obj in WORKFLOWS)}])[1 + mod(g, {len(WORKFLOWS)})]"
    # Spread over DAYS days, the same way at both sizes (a multiplicative hash of g).
    when = f"now() - mod(g::bigint * 7919, {DAYS * 86400}) * interval '1 second'"
    status = (
        "CASE WHEN mod(g, 100) < 80 THEN 'succeeded' WHEN mod(g, 100) < 85 THEN 'failed' "
        "WHEN mod(g, 100) < 95 THEN 'conditions_not_met' WHEN mod(g, 100) < 98 THEN 'skipped' "
        "WHEN mod(g, 100) = 98 THEN 'queued' ELSE 'running' END"
    )
    fields = (
        "jsonb_build_object('Id', '500' || lpad(g::text, 15, '0'), 'CaseNumber', lpad(g::text, 8, '0'), "
        "'ContactEmail', 'user' || g || '@example.com', 'Priority', (ARRAY['Low','Medium','High'])[1 + mod(g, 3)])"
    )
    with connection.cursor() as cursor:
        insert_select(
            cursor,
            InboundMessage,
            {
                "id": "g",
                "workflow_id": workflow_of_g,
                "received_at": when,
                "status": "'accepted'",
                "http_status": "200",
                "organization_id": "'00D5g000004ABCDEAA'",
                "sobject_type": object_of_g,
                "notification_count": "1",
                "new_notification_count": "1",
            },
            rows,
        )
        insert_select(
            cursor,
            Notification,
            {
                "id": "g",
                "inbound_message_id": "g",
                "organization_key": "'00D5g000004ABCD'",
                "notification_id": "'04l' || lpad(g::text, 15, '0')",
                "sobject_type": object_of_g,
                "record_id": "'500' || lpad(g::text, 15, '0')",
                "fields": fields,
                "received_at": when,
            },
            rows,
        )
        insert_select(
            cursor,
            Run,
            {
                "id": "g",
                "workflow_id": workflow_of_g,
                "notification_id": "g",
                "status": status,
                "attempts": "1",
                "created_at": when,
                "next_attempt_at": when,
                "finished_at": when,
            },
            rows,
        )
        with_tasks = f"{rows} WHERE mod(g, 2) = 0"
        insert_select(
            cursor,
            Contact,
            {
                "id": "g",
                "directory_id": str(ids["directory"]),
                "email": "'user' || g || '@example.com'",
                "created_at": "now()",
                "updated_at": "now()",
            },
            with_tasks,
        )
        failed = "mod(g, 100) BETWEEN 80 AND 84"
        insert_select(
            cursor,
            TaskRun,
            {
                "id": "g",
                "run_id": "g",
                "position": "1",
                "kind": "'add_to_directory'",
                "attempt": "1",
                "status": f"CASE WHEN {failed} THEN 'failed' ELSE 'succeeded' END",
                "output": f"CASE WHEN {failed} THEN '{{}}'::jsonb ELSE jsonb_build_object('ContactId', g::text) END",
                "error": f"CASE WHEN {failed} THEN 'The email address is not valid: piped from ContactEmail.' "
                "ELSE '' END",
                "started_at": when,
                "finished_at": when,
            },
            with_tasks,
        )
        # Calls refused before any run: no notification, ids after every seeded message.
        insert_select(
            cursor,
            InboundMessage,
            {
                "id": "g + 2000000000",
                "received_at": when,
                "status": "'refused'",
                "http_status": "(ARRAY[400, 403, 404, 413])[1 + mod(g / 100, 4)]",
                "reason": "'No workflow has this event URL.'",
                "token_hint": "'abc123'",
            },
            f"{rows} WHERE mod(g, 100) = 0",
        )
        for model in (InboundMessage, Notification, Run, Contact, TaskRun):
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    connection.close()
    with connection.cursor() as cursor:  # outside a transaction: VACUUM refuses to run in one
        cursor.execute("VACUUM ANALYZE")


def pages(ids: dict) -> dict[str, str]:
    from django.urls import reverse

    runs = reverse("admin:workflows_run_changelist")
    inbound = reverse("admin:workflows_inboundmessage_changelist")
    from datetime import timedelta

    from django.utils import timezone

    today = timezone.localdate()
    week_ago = (today - timedelta(days=6)).isoformat()
    return {
        "runs: default page": runs,
        "runs: status failed": f"{runs}?status__exact=failed",
        "runs: status running (1%)": f"{runs}?status__exact=running",
        "runs: status queued (1%)": f"{runs}?status__exact=queued",
        "runs: workflow": f"{runs}?workflow__id__exact={ids['workflows'][0]}",
        "runs: object Opportunity": f"{runs}?workflow__salesforce_object=Opportunity",
        "runs: last 7 days": f"{runs}?created_at_from={week_ago}",
        "runs: from/to 30-20 days ago": f"{runs}?created_at_from={(today - timedelta(days=30)).isoformat()}"
        f"&created_at_to={(today - timedelta(days=20)).isoformat()}",
        "runs: failed, last 7 days": f"{runs}?status__exact=failed&created_at_from={week_ago}",
        "runs: search record id": f"{runs}?q={record_id(PROBE)}",
        "runs: search notification id": f"{runs}?q={notification_id(PROBE)}",
        "runs: search contact email": f"{runs}?q=user{PROBE}@example.com",
        "runs: page 5": f"{runs}?p=5",
        "run detail": reverse("admin:workflows_run_change", args=[PROBE]),
        "inbound log: default page": inbound,
        "inbound log: HTTP 404": f"{inbound}?http_status=404",
        "failed to start": reverse("admin:reporting_failedtostart_changelist"),
    }


def time_pages(urls: dict[str, str], repeat: int) -> dict[str, float]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=ADMIN_USERNAME))
    timings = {}
    for name, url in urls.items():
        response = client.get(url)  # warm-up
        assert response.status_code == 200, (name, url, response.status_code)
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            client.get(url)
            best = min(best, time.perf_counter() - start)
        timings[name] = best
    return timings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1_000, help="runs at the small size (default 1,000)")
    parser.add_argument("--big", type=int, default=1_000_000, help="runs at the big size (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed fetches per page, best kept (default 5)")
    args = parser.parse_args(argv)
    if args.small < PROBE or args.big <= args.small:
        parser.error(f"need {PROBE} <= --small < --big")

    os.environ.update(ENV)
    try:
        print(f"Creating {DB_NAME} and seeding {args.small:,} runs ...", flush=True)
        create_database()
        import django

        django.setup()
        ids = seed_objects()
        seed_runs(ids, 1, args.small)
        urls = pages(ids)
        small = time_pages(urls, args.repeat)
        print(f"Growing to {args.big:,} runs ...", flush=True)
        start = time.perf_counter()
        seed_runs(ids, args.small + 1, args.big)
        print(f"  seeded and analyzed in {time.perf_counter() - start:.0f} s", flush=True)
        big = time_pages(urls, args.repeat)

        print(f"\n{'page':<32} {args.small:>10,} runs {args.big:>10,} runs   ratio")
        missed = []
        for name in urls:
            ratio = big[name] / small[name]
            if ratio > MAX_RATIO:
                missed.append(name)
            print(f"{name:<32} {small[name] * 1000:>12.1f} ms {big[name] * 1000:>12.1f} ms  {ratio:5.2f}x")
        print(f"\nTarget: every page at {args.big:,} runs within {MAX_RATIO:.0f}x its time at {args.small:,}:", end=" ")
        print("PASS" if not missed else f"FAIL ({', '.join(missed)})")
        return 1 if missed else 0
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        return 2
    finally:
        scratch_db.close_and_drop(DB_NAME)


if __name__ == "__main__":
    sys.exit(main())
