#!/usr/bin/env python
"""Workflow Reporting's changelists (runs, inbound log, Failed to start) and invitations at
1,000 and 1,000,000 rows, and their deep pages at 1,000,000.

    .venv/bin/python benchmarks/reporting.py [--small 1000] [--big 1000000] [--repeat 5]
        [--database sfsurveys_bench_reporting]

Creates the database (--database; dropped first if it exists, dropped again at the end), migrates
it and seeds --small runs with set-based SQL (INSERT ... SELECT generate_series): per run one
accepted inbound message, one notification and the run, spread pseudo-randomly over 60 days across
four workflows (three Case, one Opportunity) with a realistic mix of statuses; every second run has
a task run whose output names its contact (so the email search has something to find), failed ones
with an error; one refused call per hundred runs; and one invitation per run, in four
distributions, with a mix of statuses (one in ten not sent yet). It times every page, then grows
the same tables to --big rows (the first --small rows stay, so the searched ids exist at both
sizes), runs VACUUM ANALYZE and times every page again.

Then, at --big, the deep pages each list offers (First, Previous, Next, Last: keyset pages), with
filters and sorts applied: page 1, Next once, Next ten times, the page Next reaches half-way down
the list and the last page Next reaches (their cursors made directly for the row there, as
following Next thousands of times would), Last, and Previous from Last.

Each page is fetched through Django's test Client logged in as a superuser (the real admin views,
templates and queries, no HTTP server): one warm-up, then the best of --repeat.
Targets (exit 1 when one is missed): every page at --big within 3x its time at --small, and every
deep page within 3x page 1 of its list. Exit 2 when the benchmark itself failed.
"""

import argparse
import html
import os
import re
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
ADMIN_USERNAME = "bench-admin"
MAX_RATIO = 3.0
DAYS = 60
# A run searched for at both sizes: among the first --small rows.
PROBE = 500
WORKFLOWS = (("Closed cases", "Case"), ("Escalations", "Case"), ("Store visits", "Case"), ("Won deals", "Opportunity"))


def settings_env(db_name: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "DATABASE_URL": database_url(db_name),
        "DEBUG": "false",
        # A server database needs a SECRET_KEY shared by every process; this scratch one only by this one.
        "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-key-" + "x" * 40),
    }


def record_id(g: int) -> str:
    return f"500{g:015d}"


def notification_id(g: int) -> str:
    return f"04l{g:015d}"


def seed_objects() -> dict:
    """The superuser, the directory, the workflows, a survey and its distributions. -> ids for the seed's SQL."""
    from django.contrib.auth import get_user_model

    from directory.models import Directory
    from distributions.models import Distribution, Survey
    from workflows.models import Workflow

    owner = get_user_model().objects.create_superuser(ADMIN_USERNAME, "bench@example.com", None)
    workflows = [Workflow.objects.create(name=name, salesforce_object=obj, owner=owner) for name, obj in WORKFLOWS]
    survey = Survey.objects.create(name="Bench", owner=owner, status=Survey.Status.ACTIVE)
    distributions = [Distribution.objects.create(survey=survey, subject=f"Wave {n}") for n in range(4)]
    return {
        "directory": Directory.objects.create(name="Bench").pk,
        "workflows": [w.pk for w in workflows],
        "distributions": [d.pk for d in distributions],
    }


def seed_runs(ids: dict, first: int, last: int) -> None:
    """Runs first..last (ids g) with their inbound messages, notifications, task runs and contacts."""
    from django.db import connection

    from directory.models import Contact
    from distributions.models import Invitation
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
        distribution_ids = ", ".join(str(pk) for pk in ids["distributions"])
        insert_select(
            cursor,
            Invitation,
            {
                "id": "g",
                "distribution_id": f"(ARRAY[{distribution_ids}])[1 + mod(g, {len(ids['distributions'])})]",
                "contact_id": "CASE WHEN mod(g, 2) = 0 THEN g END",
                "token": "md5(g::text)",
                "address": "'user' || g || '@example.com'",
                "status": "CASE WHEN mod(g, 10) = 0 THEN 'pending' WHEN mod(g, 10) < 4 THEN 'survey_finished' "
                "WHEN mod(g, 10) < 7 THEN 'email_sent' ELSE 'email_opened' END",
                "sent_at": f"CASE WHEN mod(g, 10) = 0 THEN NULL ELSE {when} END",
                "created_at": when,
                "updated_at": when,
            },
            rows,
        )
        for model in (InboundMessage, Notification, Run, Contact, TaskRun, Invitation):
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    connection.close()
    with connection.cursor() as cursor:  # outside a transaction: VACUUM refuses to run in one
        cursor.execute("VACUUM ANALYZE")


def pages(ids: dict) -> dict[str, str]:
    from django.urls import reverse

    runs = reverse("admin:workflows_run_changelist")
    inbound = reverse("admin:workflows_inboundmessage_changelist")
    invitations = reverse("admin:distributions_invitation_changelist")
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
        "run detail": reverse("admin:workflows_run_change", args=[PROBE]),
        "inbound log: default page": inbound,
        "inbound log: HTTP 404": f"{inbound}?http_status=404",
        "failed to start": reverse("admin:reporting_failedtostart_changelist"),
        "invitations: default page": invitations,
        "invitations: distribution": f"{invitations}?distribution={ids['distributions'][0]}",
        "invitations: search address": f"{invitations}?q=USER{PROBE}@EXAMPLE.COM",
    }


def deep_lists(ids: dict) -> dict[str, str]:
    """The lists whose deep pages are timed: each filter, search or sort served differently."""
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    runs = reverse("admin:workflows_run_changelist")
    inbound = reverse("admin:workflows_inboundmessage_changelist")
    invitations = reverse("admin:distributions_invitation_changelist")
    month_ago = (timezone.localdate() - timedelta(days=29)).isoformat()
    return {
        "runs": runs,
        "runs: status failed": f"{runs}?status__exact=failed",
        "runs: oldest first": f"{runs}?o=1",
        "runs: workflow, last 30 days": f"{runs}?workflow__id__exact={ids['workflows'][0]}&created_at_from={month_ago}",
        "inbound log": inbound,
        "inbound log: HTTP 404": f"{inbound}?http_status=404",
        "failed to start": reverse("admin:reporting_failedtostart_changelist"),
        "invitations": invitations,
        "invitations: distribution": f"{invitations}?distribution={ids['distributions'][0]}",
        "invitations: status email sent": f"{invitations}?status__exact=email_sent",
        "invitations: by sent at (no index)": f"{invitations}?o=-5",
    }


DEEP_PAGES = ("page 1", "next", "next x10", "next to half-way", "next to the end", "last", "previous from last")


def _link(content: bytes, css_class: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" class="{css_class}[ "]', content.decode())
    return html.unescape(found.group(1)) if found else None


def _changelist(url: str):
    """The admin's changelist for `url` (a changelist URL with its query), as the view builds it."""
    from urllib.parse import parse_qsl, urlsplit

    from django.contrib.auth import get_user_model
    from django.test import RequestFactory
    from django.urls import resolve

    parts = urlsplit(url)
    request = RequestFactory().get(parts.path, dict(parse_qsl(parts.query)))
    request.user = get_user_model().objects.get(username=ADMIN_USERNAME)
    return resolve(parts.path).func.model_admin.get_changelist_instance(request)


def _next_after(changelist, position: int) -> str:
    """The query string of the Next link of the page that ends on the row at `position` (0-based):
    where Next leads after position / per_page clicks."""
    from workflows.admin.keyset import AFTER, KeysetOrdering

    ordering = KeysetOrdering(changelist.model, changelist.queryset.query.order_by)
    row = ordering.ordered(changelist.queryset)[position]  # OFFSET, once, outside the timing
    return changelist.get_query_string({"p": ordering.cursor(row, direction=AFTER)})


def deep_page_urls(client, url: str) -> dict[str, str] | None:
    """URL of each of DEEP_PAGES of the list at `url`, found by following its links; None when the
    list has fewer than 11 pages (at a small --big)."""
    from urllib.parse import urlsplit

    path = urlsplit(url).path
    first = client.get(url)
    assert first.status_code == 200, (url, first.status_code)
    changelist = _changelist(url)
    total, per_page = changelist.queryset.count(), changelist.list_per_page
    if total <= 11 * per_page:
        return None
    next_url = path + _link(first.content, "next")
    tenth = next_url
    for _ in range(9):
        tenth = path + _link(client.get(tenth).content, "next")
    last_url = path + _link(first.content, "last")
    return {
        "page 1": url,
        "next": next_url,
        "next x10": tenth,
        "next to half-way": path + _next_after(changelist, total // 2 // per_page * per_page - 1),
        "next to the end": path + _next_after(changelist, (total - 1) // per_page * per_page - 1),
        "last": last_url,
        "previous from last": path + _link(client.get(last_url).content, "previous"),
    }


def logged_in_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=ADMIN_USERNAME))
    return client


def time_pages(client, urls: dict[str, str], repeat: int) -> dict[str, float]:
    timings = {}
    for name, url in urls.items():
        response = client.get(url)  # warm-up
        assert response.status_code == 200, (name, url, response.status_code)
        assert not response.cookies.get("messages"), (name, url, "the page answered with a message")
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            client.get(url)
            best = min(best, time.perf_counter() - start)
        timings[name] = best
    return timings


def time_deep_pages(client, lists: dict[str, str], repeat: int) -> list[str]:
    """Times and prints each list's deep pages against its page 1. -> the pages over MAX_RATIO."""
    missed = []
    print(f"\n{'list':<36} {'page':<20} {'time':>10}  ratio to page 1", flush=True)
    for list_name, url in lists.items():
        urls = deep_page_urls(client, url)
        if urls is None:
            print(f"{list_name:<36} (fewer than 11 pages at this size: left out)", flush=True)
            continue
        timings = time_pages(client, urls, repeat)
        for page in DEEP_PAGES:
            ratio = timings[page] / timings["page 1"]
            if ratio > MAX_RATIO:
                missed.append(f"{list_name}: {page}")
            print(f"{list_name:<36} {page:<20} {timings[page] * 1000:>7.1f} ms  {ratio:5.2f}x", flush=True)
    return missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1_000, help="rows at the small size (default 1,000)")
    parser.add_argument("--big", type=int, default=1_000_000, help="rows at the big size (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed fetches per page, best kept (default 5)")
    parser.add_argument("--database", default=DB_NAME, help=f"scratch database to create and drop (default {DB_NAME})")
    args = parser.parse_args(argv)
    if args.small < PROBE or args.big <= args.small:
        parser.error(f"need {PROBE} <= --small < --big")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.database):
        parser.error("--database: lower-case letters, digits and underscores")

    env = settings_env(args.database)
    os.environ.update(env)
    try:
        print(f"Creating {args.database} and seeding {args.small:,} rows ...", flush=True)
        create_migrated_database(args.database, env=env)
        import django

        django.setup()
        ids = seed_objects()
        seed_runs(ids, 1, args.small)
        client = logged_in_client()
        urls = pages(ids)
        small = time_pages(client, urls, args.repeat)
        print(f"Growing to {args.big:,} rows ...", flush=True)
        start = time.perf_counter()
        seed_runs(ids, args.small + 1, args.big)
        print(f"  seeded and analyzed in {time.perf_counter() - start:.0f} s", flush=True)
        big = time_pages(client, urls, args.repeat)

        print(f"\n{'page':<32} {args.small:>10,} rows {args.big:>10,} rows   ratio")
        missed_sizes = []
        for name in urls:
            ratio = big[name] / small[name]
            if ratio > MAX_RATIO:
                missed_sizes.append(name)
            print(f"{name:<32} {small[name] * 1000:>12.1f} ms {big[name] * 1000:>12.1f} ms  {ratio:5.2f}x")
        missed_deep = time_deep_pages(client, deep_lists(ids), args.repeat)

        print(f"\nTarget: every page at {args.big:,} rows within {MAX_RATIO:.0f}x its time at {args.small:,}:", end=" ")
        print("PASS" if not missed_sizes else f"FAIL ({', '.join(missed_sizes)})")
        print(f"Target: every deep page at {args.big:,} rows within {MAX_RATIO:.0f}x page 1 of its list:", end=" ")
        print("PASS" if not missed_deep else f"FAIL ({', '.join(missed_deep)})")
        return 1 if missed_sizes or missed_deep else 0
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        return 2
    finally:
        scratch_db.close_and_drop(args.database)


if __name__ == "__main__":
    sys.exit(main())
