#!/usr/bin/env python
"""Distribution-history CSV download against PostgreSQL's own COPY of the same rows.

    .venv/bin/python benchmarks/history_csv.py [--rows 1000000] [--small-rows 100000] [--repeat 3]
        [--database sfsurveys_bench_history]

Creates the database --database (dropped first if it exists, dropped again at the end), migrates
it and seeds, with set-based SQL (INSERT ... SELECT generate_series), two surveys
of --rows and --small-rows history rows: one contact, one distribution (one per workflow run, as
in production), one invitation each, and a response with three embedded-data fields for 60% of
them. Then, best of --repeat runs each:
  copy      psql runs COPY (SELECT the raw columns, same joins, same order) TO STDOUT WITH CSV;
            this process reads the pipe and counts bytes: the ceiling
  product   a fresh Python process downloads /admin/reporting/surveys/<id>/history.csv through
            Django's test Client as a logged-in admin (the real view, streamed), counts bytes
            and reports its peak RSS (getrusage) before and after the download
  portable  once per size, for reference: the csv-module path the product uses on SQLite,
            run on PostgreSQL in a fresh process (server-side cursor, not through the view)
Targets (exit 1 when missed): product >= 50% of copy's rows/s at --rows, and the serving
process's peak RSS growing by less than 32 MB between --small-rows and --rows (flat memory).
Exit 2 when the benchmark itself failed.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import scratch_db  # noqa: E402
from benchmarks.scratch_db import PG_HOST, PG_PORT, PG_USER, create_migrated_database, database_url  # noqa: E402

DEFAULT_DB_NAME = "sfsurveys_bench_history"
# Set by main() from --database; a child process inherits them through its environment.
DB_NAME = DEFAULT_DB_NAME
ENV = scratch_db.settings_env(database_url(DB_NAME))
ADMIN_USERNAME = "bench-admin"
FIELDS = ("Store", "Region", "Case Priority")
MIN_RATIO = 0.50
MAX_PEAK_GROWTH_KB = 32 * 1024
READ_BYTES = 256 * 1024


# --- database ----------------------------------------------------------------------------------


def create_database() -> None:
    create_migrated_database(DB_NAME, env=ENV)


def insert_select(cursor, model, expressions: dict[str, str], source: str) -> None:
    """INSERT INTO model's table SELECT `expressions` FROM `source`; other columns get the model's defaults.

    Defaults come from the model, so columns added later by migrations need no change here.
    """
    from django.db import connection

    from directory.public_ids import PublicIdField
    from distributions.models import TokenDigestField

    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        columns.append(connection.ops.quote_name(field.column))
        if field.column in expressions:
            values.append(expressions[field.column])
        elif isinstance(field, TokenDigestField):  # the digest of the row's token, as pre_save computes it
            token = expressions.get(model._meta.get_field(field.of).column)
            values.append(f"encode(sha256(convert_to({token}, 'UTF8')), 'hex')" if token else "''")  # none: empty
        elif isinstance(field, PublicIdField):  # unique per row: 80 random bits after the prefix
            values.append("%s || substr(replace(gen_random_uuid()::text, '-', ''), 1, 20)")
            params.append(field.prefix)
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    table = connection.ops.quote_name(model._meta.db_table)
    cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}", params)


def seed(big: int, small: int) -> dict[str, int]:
    """Two surveys of `big` and `small` history rows. -> {"big": survey id, "small": survey id}"""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from directory.models import Contact, Directory
    from distributions.models import Distribution, Invitation, Response, Survey, SurveyField

    owner = get_user_model().objects.create_superuser(ADMIN_USERNAME, "bench@example.com", None)
    directory = Directory.objects.create(name="Bench")
    surveys = {
        "big": Survey.objects.create(name=f"Bench {big} rows", owner=owner, status=Survey.Status.ACTIVE),
        "small": Survey.objects.create(name=f"Bench {small} rows", owner=owner, status=Survey.Status.ACTIVE),
    }
    for survey in surveys.values():
        SurveyField.objects.bulk_create([SurveyField(survey=survey, name=name) for name in FIELDS])
    total = big + small
    rows = f"generate_series(1, {total}) AS g"
    survey_of_g = f"CASE WHEN g <= {big} THEN {surveys['big'].pk} ELSE {surveys['small'].pk} END"
    # Some cells a spreadsheet would run as formulas, some that need CSV quoting, some non-ASCII.
    last_name = (
        "CASE WHEN mod(g, 97) = 0 THEN '=HYPERLINK(\"http://example.com\")' "
        "WHEN mod(g, 89) = 0 THEN 'O''Brien, Jr.' "
        "ELSE (ARRAY['Doe','Smith','Durand','Tanaka','Patel','García','Okafor','Larsen'])[1 + mod(g, 8)] END"
    )
    first_name = "(ARRAY['Jane','John','Amélie','Kenji','Priya','Luis','Olu','Sven'])[1 + mod(g / 8, 8)]"
    status = (
        "CASE WHEN mod(g, 10) < 3 THEN 'survey_finished' WHEN mod(g, 10) < 6 THEN 'survey_started' "
        "WHEN mod(g, 10) < 8 THEN 'email_sent' WHEN mod(g, 10) = 8 THEN 'email_opened' ELSE 'email_hard_bounce' END"
    )
    embedded = (
        "jsonb_build_object('Store', (ARRAY['Downtown','Airport','Harbour','Old Town','=Mall'])[1 + mod(g, 5)], "
        "'Region', (ARRAY['North','South','East','West'])[1 + mod(g, 4)], 'Case Priority', "
        "(ARRAY['Low','Medium','High'])[1 + mod(g, 3)])"
    )
    with connection.cursor() as cursor:
        insert_select(
            cursor,
            Contact,
            {
                "id": "g",
                "directory_id": str(directory.pk),
                "first_name": first_name,
                "last_name": last_name,
                "email": "'user' || g || '@example.com'",
                "external_data_reference": "'003' || lpad(g::text, 12, '0')",
                "embedded_data": embedded,
                "created_at": "now()",
                "updated_at": "now()",
            },
            rows,
        )
        insert_select(
            cursor,
            Distribution,
            {
                "id": "g",
                "survey_id": survey_of_g,
                "subject": "'How did we do?'",
                "created_at": f"now() - ({total} - g) * interval '1 second'",
            },
            rows,
        )
        insert_select(
            cursor,
            Invitation,
            {
                "id": "g",
                "distribution_id": "g",
                "contact_id": "g",
                "token": "md5(g::text)",
                "address": "'user' || g || '@example.com'",
                "status": status,
                "expires_at": "CASE WHEN mod(g, 2) = 0 THEN now() + interval '30 days' END",
                "sent_at": "now()",
                "created_at": "now()",
                "updated_at": "now()",
            },
            rows,
        )
        insert_select(
            cursor,
            Response,
            {
                "id": "g",
                "invitation_id": "g",
                "survey_id": survey_of_g,
                "embedded_data": embedded,
                "started_at": "now()",
                "finished_at": "CASE WHEN mod(g, 10) < 3 THEN now() END",
                "updated_at": "now()",
            },
            f"{rows} WHERE mod(g, 10) < 6",
        )
        for model in (Contact, Distribution, Invitation, Response):
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    connection.close()
    with connection.cursor() as cursor:  # outside a transaction: VACUUM refuses to run in one
        cursor.execute("VACUUM ANALYZE")
    return {name: survey.pk for name, survey in surveys.items()}


def copy_statement(survey_id: int) -> str:
    """The ceiling: the same rows as the product's history (joins, order), raw columns, COPY's own CSV."""
    fields = ", ".join(f"r.embedded_data ->> '{name}'" for name in sorted(FIELDS))
    return (
        "COPY (SELECT r.id, c.last_name, c.first_name, c.email, c.external_data_reference, i.status, "
        f"r.finished_at, i.token, i.expires_at, {fields} "
        "FROM distributions_invitation i JOIN distributions_distribution d ON d.id = i.distribution_id "
        "JOIN directory_contact c ON c.id = i.contact_id "
        "LEFT JOIN distributions_response r ON r.invitation_id = i.id "
        f"WHERE d.survey_id = {survey_id} ORDER BY i.id) TO STDOUT WITH CSV"
    )


# --- measurements ------------------------------------------------------------------------------


def measure_copy(survey_id: int) -> dict:
    start = time.perf_counter()
    psql = subprocess.Popen(
        [
            "psql",
            "-h",
            PG_HOST,
            "-p",
            str(PG_PORT),
            "-U",
            PG_USER,
            "-d",
            DB_NAME,
            "-X",
            "-q",
            "-c",
            copy_statement(survey_id),
        ],
        stdout=subprocess.PIPE,
    )
    size = 0
    while chunk := psql.stdout.read(READ_BYTES):
        size += len(chunk)
    if psql.wait() != 0:
        raise RuntimeError(f"psql exited with {psql.returncode}")
    return {"bytes": size, "seconds": time.perf_counter() - start}


def measure_in_child(survey_id: int, path: str) -> dict:
    """Run `serve_once` in a fresh interpreter, so its peak RSS is this download's alone."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", path, "--survey", str(survey_id)],
        cwd=ROOT,
        env={**os.environ, **ENV},
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def serve_once(path: str, survey_id: int) -> dict:
    """In the child: download the survey's history through the view (or the portable path) and count bytes."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from distributions.models import Survey
    from reporting.history import history_csv
    from reporting.selectors import history_scope

    client = Client()
    client.force_login(get_user_model().objects.get(username=ADMIN_USERNAME))
    survey = Survey.objects.get(pk=survey_id)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if path == "product":
        response = client.get(reverse("reporting:survey_history_csv", args=[survey_id]))
        assert response.status_code == 200 and response.streaming, response
        chunks = response.streaming_content
    else:
        chunks = history_csv(history_scope(survey=survey), use_copy=False)
    size = sum(len(chunk) for chunk in chunks)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"bytes": size, "seconds": seconds, "rss_before_kb": rss_before, "peak_kb": peak}


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda run: run["seconds"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="history rows of the big survey (default 1M)")
    parser.add_argument("--small-rows", type=int, default=100_000, help="rows of the small survey (default 100k)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement, best kept (default 3)")
    parser.add_argument("--skip-portable", action="store_true", help="do not time the csv-module path")
    parser.add_argument("--child", choices=("product", "portable"), help=argparse.SUPPRESS)
    parser.add_argument("--survey", type=int, help=argparse.SUPPRESS)
    scratch_db.add_database_argument(parser, default=DEFAULT_DB_NAME)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(serve_once(args.child, args.survey)))
        return 0
    global DB_NAME, ENV
    DB_NAME, ENV = args.database, scratch_db.settings_env(database_url(args.database))

    os.environ.update(ENV)
    try:
        print(f"Creating {DB_NAME} and seeding {args.rows:,} + {args.small_rows:,} history rows ...", flush=True)
        start = time.perf_counter()
        create_database()
        import django

        django.setup()
        surveys = seed(args.rows, args.small_rows)
        print(f"  seeded and analyzed in {time.perf_counter() - start:.1f} s", flush=True)
        sizes = {"small": args.small_rows, "big": args.rows}
        results = {}
        for name, rows in sizes.items():
            survey_id = surveys[name]
            measure_copy(survey_id)  # warm-up: the rows into shared buffers and the OS cache
            copy = best([measure_copy(survey_id) for _ in range(args.repeat)])
            product = best([measure_in_child(survey_id, "product") for _ in range(args.repeat)])
            portable = None if args.skip_portable else measure_in_child(survey_id, "portable")
            results[name] = (rows, copy, product, portable)
            line = (
                f"  {rows:>9,} rows  copy {rows / copy['seconds']:>9,.0f} rows/s ({copy['bytes'] / 1e6:.0f} MB)"
                f"  product {rows / product['seconds']:>9,.0f} rows/s ({product['bytes'] / 1e6:.0f} MB)"
                f"  ratio {copy['seconds'] / product['seconds']:.0%}"
                f"  peak RSS {product['peak_kb'] / 1024:.0f} MB (before download {product['rss_before_kb'] / 1024:.0f})"
            )
            if portable:
                line += f"  portable {rows / portable['seconds']:,.0f} rows/s, peak {portable['peak_kb'] / 1024:.0f} MB"
            print(line, flush=True)

        rows, copy, product, _ = results["big"]
        ratio = copy["seconds"] / product["seconds"]
        growth = product["peak_kb"] - results["small"][2]["peak_kb"]
        verdicts = [
            (ratio >= MIN_RATIO, f"product >= {MIN_RATIO:.0%} of COPY's rows/s at {rows:,} rows: {ratio:.0%}"),
            (
                growth < MAX_PEAK_GROWTH_KB,
                f"peak RSS of the serving process flat ({args.small_rows:,} -> {rows:,} rows): "
                f"{growth / 1024:+.1f} MB (limit {MAX_PEAK_GROWTH_KB / 1024:.0f} MB)",
            ),
        ]
        print("\nTargets:")
        for ok, text in verdicts:
            print(f"  {'PASS' if ok else 'FAIL'}  {text}")
        return 0 if all(ok for ok, _ in verdicts) else 1
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
