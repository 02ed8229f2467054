#!/usr/bin/env python
"""The REST API's distribution history: page 1 against a far page, through the cursor.

    .venv/bin/python benchmarks/api_history.py [--rows 1000000] [--page-size 100] [--page 10000]
        [--repeat 5] [--database sfsurveys_bench_api_history]

Creates the database (dropped first if it exists, dropped again at the end), migrates it and
seeds, with set-based SQL, one distribution of --rows invitations (one contact each, a response
for 60% of them, an open event for 30%). Then, in this process, through Django's test Client as
a superuser's API token (the real view, envelope and all), it times
  page 1      GET /API/v3/distributions/<id>/history?pageSize=N
  page P      the same with the skipToken that page P-1's nextPage carries (the key of its last row)
best of --repeat each, and checks page P starts at row (P-1)*N+1. Target (exit 1 when missed):
page P within 2x of page 1. Exit 2 when the benchmark itself failed.
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
from benchmarks.scratch_db import close_and_drop, create_migrated_database, database_url  # noqa: E402

MAX_RATIO = 2.0


def seed(rows: int) -> str:
    """One distribution of `rows` invitations. -> its public id"""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from benchmarks.history_csv import insert_select
    from directory.models import Contact, Directory
    from distributions.models import DeliveryEvent, Distribution, Invitation, Response, Survey

    owner = get_user_model().objects.create_superuser("bench-api", "bench@example.com", None)
    directory = Directory.objects.create(name="Bench")
    survey = Survey.objects.create(name="Bench", owner=owner, status=Survey.Status.ACTIVE)
    distribution = Distribution.objects.create(survey=survey, subject="How did we do?")
    series = f"generate_series(1, {rows}) AS g"
    status = (
        "CASE WHEN mod(g, 10) < 3 THEN 'survey_finished' WHEN mod(g, 10) < 6 THEN 'survey_started' "
        "WHEN mod(g, 10) < 8 THEN 'email_sent' ELSE 'email_opened' END"
    )
    with connection.cursor() as cursor:
        insert_select(
            cursor,
            Contact,
            {
                "id": "g",
                "directory_id": str(directory.pk),
                "first_name": "'Jane'",
                "last_name": "'Doe'",
                "email": "'user' || g || '@example.com'",
                "created_at": "now()",
                "updated_at": "now()",
            },
            series,
        )
        insert_select(
            cursor,
            Invitation,
            {
                "id": "g",
                "distribution_id": str(distribution.pk),
                "contact_id": "g",
                "token": "md5(g::text)",
                "address": "'user' || g || '@example.com'",
                "status": status,
                "sent_at": "now()",
                "created_at": "now()",
                "updated_at": "now()",
            },
            series,
        )
        insert_select(
            cursor,
            Response,
            {
                "id": "g",
                "invitation_id": "g",
                "survey_id": str(survey.pk),
                "started_at": "now()",
                "finished_at": "CASE WHEN mod(g, 10) < 3 THEN now() END",
                "updated_at": "now()",
            },
            f"{series} WHERE mod(g, 10) < 6",
        )
        insert_select(
            cursor,
            DeliveryEvent,
            {"id": "g", "invitation_id": "g", "kind": "'opened'", "occurred_at": "now()", "created_at": "now()"},
            f"{series} WHERE mod(g, 10) < 3 OR mod(g, 10) = 9",
        )
        for model in (Contact, Invitation, Response, DeliveryEvent):
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    connection.close()
    with connection.cursor() as cursor:  # outside a transaction: VACUUM refuses to run in one
        cursor.execute("VACUUM ANALYZE")
    return distribution.public_id


def timed(client, url: str, token: str, repeat: int) -> tuple[float, dict]:
    best, answer = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url, headers={"X-API-TOKEN": token})
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.content[:300]!r}")
        best, answer = min(best, elapsed), response.json()["result"]
    return best, answer


def run(args) -> int:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from api.pagination import skip_token
    from api.services import api_token_create
    from distributions.models import Distribution, Invitation

    print(f"Seeding {args.rows:,} invitations in one distribution...", flush=True)
    started = time.perf_counter()
    distribution_id = seed(args.rows)
    print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)
    token = api_token_create(user=get_user_model().objects.get(username="bench-api"), name="bench")[1]
    distribution = Distribution.objects.get(public_id=distribution_id)
    invitations = Invitation.objects.filter(distribution=distribution).order_by("id")
    offset = (args.page - 1) * args.page_size
    last_of_previous, first_expected = invitations.values_list("id", flat=True)[offset - 1 : offset + 1]
    url = f"/API/v3/distributions/{distribution_id}/history?pageSize={args.page_size}"
    far_url = f"{url}&skipToken={skip_token('history', last_of_previous)}"

    client = Client()
    timed(client, url, token, 1)  # warm-up: connections, caches
    first_time, first = timed(client, url, token, args.repeat)
    far_time, far = timed(client, far_url, token, args.repeat)
    expected_contact = Invitation.objects.select_related("contact").get(pk=first_expected).contact.public_id
    if far["elements"][0]["contactId"] != expected_contact or len(far["elements"]) != args.page_size:
        print("FAILED: the far page does not start where it should", file=sys.stderr)
        return 2
    ratio = far_time / first_time
    print(f"\n{'page':>8} {'rows':>6} {'best ms':>9}")
    print(f"{1:>8} {len(first['elements']):>6} {first_time * 1000:>9.1f}")
    print(f"{args.page:>8} {len(far['elements']):>6} {far_time * 1000:>9.1f}")
    print("Load note: other processes on this machine skew absolute times; compare the ratio.")
    verdict = "PASS" if ratio <= MAX_RATIO else "FAIL"
    print(f"\nTarget:\n  {verdict}  page {args.page} within {MAX_RATIO}x of page 1: {ratio:.2f}x")
    return 0 if ratio <= MAX_RATIO else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--page", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    scratch_db.add_database_argument(parser, default="sfsurveys_bench_api_history")
    args = parser.parse_args()
    if args.page < 2 or (args.page - 1) * args.page_size >= args.rows:
        parser.error("--page must be 2 or more, and its rows within --rows")
    env = scratch_db.settings_env(database_url(args.database))
    try:
        create_migrated_database(args.database, env=env)
        os.environ.update(env)
        import django

        django.setup()
        return run(args)
    except Exception:  # noqa: BLE001 - a benchmark reports its own failure
        traceback.print_exc()
        return 2
    finally:
        close_and_drop(args.database)


if __name__ == "__main__":
    sys.exit(main())
