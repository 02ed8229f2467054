#!/usr/bin/env python
"""Response export (CSV) against PostgreSQL's own COPY of the same rows.

    .venv/bin/python benchmarks/response_export.py [--rows 1000000] [--small-rows 100000] [--repeat 1]
        [--database sfsurveys_bench_response_export] [--keep]

Creates the database (dropped first if it exists, dropped again at the end), migrates it and
seeds, with set-based SQL (INSERT ... SELECT generate_series), two surveys of --rows and
--small-rows responses, each with its contact, distribution and invitation; every survey has a
multiple-choice, a rating and a text question and three declared embedded-data fields, 70% of
responses finished, the others partly answered (with --keep the database is kept at the end, and
one kept by an earlier run with the same sizes is used again instead of seeding). Then, best of --repeat runs each:
  copy     psql runs COPY (SELECT the raw columns, same joins, same order) TO STDOUT WITH CSV;
           this process reads the pipe and counts bytes: the ceiling
  product  a fresh Python process starts a CSV export (not compressed) and runs its job as a
           worker would (response_export_run: its COPY streamed, progress updates, the file saved
           to its storage), and reports the file's size and its peak RSS (getrusage)
  zip      once per size, for reference: the same with the default compress=true
Targets (exit 1 when missed): product >= 50% of copy's rows/s at --rows, and the exporting
process's peak RSS growing by less than 32 MB between --small-rows and --rows (flat memory).
Exit 2 when the benchmark itself failed.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import scratch_db  # noqa: E402
from benchmarks.scratch_db import (  # noqa: E402
    BENCHMARK_SECRET_KEY,
    PG_HOST,
    PG_PORT,
    PG_USER,
    create_migrated_database,
    database_url,
    migrate,
)

MIN_RATIO = 0.50
MAX_PEAK_GROWTH_KB = 32 * 1024
READ_BYTES = 256 * 1024
FIELDS = ("Store", "Region", "Case Priority")


def environment(database: str, export_dir: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "DATABASE_URL": database_url(database),
        "DEBUG": "false",
        "RESPONSE_EXPORT_DIR": export_dir,
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-key-" + "x" * 40),
    }


# --- database ----------------------------------------------------------------------------------


def seed(big: int, small: int) -> dict[str, int]:
    """Two surveys of `big` and `small` responses. -> {"big": survey id, "small": survey id}"""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from benchmarks.history_csv import insert_select
    from directory.models import Contact, Directory
    from distributions.models import Distribution, Invitation, Response, Survey, SurveyField

    owner = get_user_model().objects.create_superuser("bench-export", "bench@example.com", None)
    directory = Directory.objects.create(name="Bench")
    surveys, keys = {}, {}
    for name, rows in (("big", big), ("small", small)):
        survey = Survey.objects.create(name=f"Bench {rows} responses", owner=owner, status=Survey.Status.ACTIVE)
        choice = survey.questions.create(position=1, kind="multiple_choice", text="How was it?", choices="Good\nBad")
        rating = survey.questions.create(position=2, kind="rating", text="How likely are you to recommend us?")
        comment = survey.questions.create(position=3, kind="text", text="Anything else?")
        SurveyField.objects.bulk_create([SurveyField(survey=survey, name=field) for field in FIELDS])
        surveys[name], keys[name] = survey, (str(choice.pk), str(rating.pk), str(comment.pk))
    total = big + small
    rows = f"generate_series(1, {total}) AS g"
    survey_of_g = f"CASE WHEN g <= {big} THEN {surveys['big'].pk} ELSE {surveys['small'].pk} END"
    last_name = (
        "CASE WHEN mod(g, 97) = 0 THEN '=HYPERLINK(\"http://example.com\")' "
        "WHEN mod(g, 89) = 0 THEN 'O''Brien, Jr.' "
        "ELSE (ARRAY['Doe','Smith','Durand','Tanaka','Patel','García','Okafor','Larsen'])[1 + mod(g, 8)] END"
    )
    first_name = "(ARRAY['Jane','John','Amélie','Kenji','Priya','Luis','Olu','Sven'])[1 + mod(g / 8, 8)]"
    embedded = (
        "jsonb_build_object('Store', (ARRAY['Downtown','Airport','Harbour','Old Town','=Mall'])[1 + mod(g, 5)], "
        "'Region', (ARRAY['North','South','East','West'])[1 + mod(g, 4)], 'Case Priority', "
        "(ARRAY['Low','Medium','High'])[1 + mod(g, 3)])"
    )

    def answers(which: str) -> str:
        choice, rating, comment = keys[which]
        return (
            f"jsonb_build_object('{choice}', jsonb_build_object('number', 1 + mod(g, 2), "
            "'text', (ARRAY['Good','Bad'])[1 + mod(g, 2)]), "
            f"'{rating}', mod(g, 11), "
            f"'{comment}', (ARRAY['Faster replies, please', 'All good', '-1 for the wait', "
            "'Line one\nline two'])[1 + mod(g, 4)])"
        )

    answers_of_g = f"CASE WHEN g <= {big} THEN {answers('big')} ELSE {answers('small')} END"
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
            {"id": "g", "survey_id": survey_of_g, "subject": "'How did we do?'", "created_at": "now()"},
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
                "status": "CASE WHEN mod(g, 10) < 7 THEN 'survey_finished' ELSE 'survey_partially_finished' END",
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
                # Partly answered responses lack the text answer.
                "answers": f"CASE WHEN mod(g, 10) < 7 THEN {answers_of_g} ELSE ({answers_of_g}) - "
                f"CASE WHEN g <= {big} THEN '{keys['big'][2]}' ELSE '{keys['small'][2]}' END END",
                "embedded_data": embedded,
                "started_at": "now() - mod(g, 1000) * interval '1 minute'",
                "finished_at": "CASE WHEN mod(g, 10) < 7 THEN now() END",
                "updated_at": "now()",
            },
            rows,
        )
        for model in (Contact, Distribution, Invitation, Response):
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    connection.close()
    with connection.cursor() as cursor:  # outside a transaction: VACUUM refuses to run in one
        cursor.execute("VACUUM ANALYZE")
    return {name: survey.pk for name, survey in surveys.items()}


def seeded_surveys(database: str, big: int, small: int) -> dict[str, int] | None:
    """The surveys of a database an earlier run seeded with these sizes and kept, or None."""
    import psycopg

    try:
        conn = psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database, autocommit=True)
    except psycopg.OperationalError:
        return None
    with conn:
        try:
            found = dict(conn.execute("SELECT name, id FROM distributions_survey").fetchall())
            counts = dict(
                conn.execute("SELECT survey_id, count(*) FROM distributions_response GROUP BY survey_id").fetchall()
            )
        except psycopg.Error:
            return None
    surveys = {name: found.get(f"Bench {rows} responses") for name, rows in (("big", big), ("small", small))}
    if len(found) != 2 or any(
        surveys[name] is None or counts.get(surveys[name]) != rows for name, rows in (("big", big), ("small", small))
    ):
        return None
    return surveys


def copy_statement(survey_id: int) -> str:
    """The ceiling: the product's rows (joins, order), raw columns, COPY's own CSV."""
    fields = ", ".join(f"r.embedded_data ->> '{name}'" for name in sorted(FIELDS))
    return (
        "COPY (SELECT r.started_at, r.finished_at, r.updated_at, r.public_id, c.last_name, c.first_name, c.email, "
        "c.external_data_reference, d.channel, r.answers, "
        f"{fields} "
        "FROM distributions_response r JOIN distributions_invitation i ON i.id = r.invitation_id "
        "JOIN distributions_distribution d ON d.id = i.distribution_id "
        "LEFT JOIN directory_contact c ON c.id = i.contact_id "
        f"WHERE r.survey_id = {survey_id} ORDER BY r.id) TO STDOUT WITH CSV"
    )


# --- measurements ------------------------------------------------------------------------------


def measure_copy(database: str, survey_id: int) -> dict:
    start = time.perf_counter()
    psql = subprocess.Popen(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", database, "-X", "-q"]
        + ["-c", copy_statement(survey_id)],
        stdout=subprocess.PIPE,
    )
    size = 0
    while chunk := psql.stdout.read(READ_BYTES):
        size += len(chunk)
    if psql.wait() != 0:
        raise RuntimeError(f"psql exited with {psql.returncode}")
    return {"bytes": size, "seconds": time.perf_counter() - start}


def measure_in_child(env: dict, survey_id: int, compress: bool) -> dict:
    """Run `export_once` in a fresh interpreter, so its peak RSS is this export's alone."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", "zip" if compress else "csv", "--survey", str(survey_id)],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def export_once(survey_id: int, compress: bool) -> dict:
    """In the child: start a CSV export of the survey and run its job here, as a worker would."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from distributions.models import ResponseExport, Survey
    from distributions.services.response_export import response_export_open, response_export_run, response_export_start

    survey = Survey.objects.get(pk=survey_id)
    user = get_user_model().objects.get(username="bench-export")
    export = response_export_start(survey=survey, user=user, format="csv", compress=compress)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    status = response_export_run(export_id=export.pk)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    export = ResponseExport.objects.get(pk=export.pk)
    if status != ResponseExport.Status.COMPLETE:
        raise RuntimeError(f"The export ended {status}: {export.error}")
    with response_export_open(export) as file:
        size = file.seek(0, os.SEEK_END)
    export.delete()
    return {"bytes": size, "seconds": seconds, "rss_before_kb": rss_before, "peak_kb": peak}


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda run: run["seconds"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="responses of the big survey (default 1M)")
    parser.add_argument("--small-rows", type=int, default=100_000, help="responses of the small survey (default 100k)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per measurement, best kept (default 1)")
    parser.add_argument("--database", default="sfsurveys_bench_response_export", help="scratch database (dropped)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the seeded database, and reuse one kept with the same sizes"
    )
    parser.add_argument("--skip-zip", action="store_true", help="do not time the compressed export")
    parser.add_argument("--child", choices=("csv", "zip"), help=argparse.SUPPRESS)
    parser.add_argument("--survey", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(export_once(args.survey, compress=args.child == "zip")))
        return 0

    export_dir = tempfile.mkdtemp(prefix="sfsurveys-bench-exports-")
    env = environment(args.database, export_dir)
    os.environ.update(env)
    try:
        surveys = seeded_surveys(args.database, args.rows, args.small_rows) if args.keep else None
        import django

        if surveys:
            print(
                f"Reusing {args.database}, kept seeded with {args.rows:,} + {args.small_rows:,} responses", flush=True
            )
            migrate({"SECRET_KEY": BENCHMARK_SECRET_KEY, **env})  # the checkout may have migrations the copy lacks
            django.setup()
        else:
            print(f"Creating {args.database} and seeding {args.rows:,} + {args.small_rows:,} responses ...", flush=True)
            start = time.perf_counter()
            create_migrated_database(args.database, env=env)
            django.setup()
            surveys = seed(args.rows, args.small_rows)
            print(f"  seeded and analyzed in {time.perf_counter() - start:.1f} s", flush=True)
        results = {}
        for name, rows in (("small", args.small_rows), ("big", args.rows)):
            survey_id = surveys[name]
            measure_copy(args.database, survey_id)  # warm-up: the rows into shared buffers and the OS cache
            copy = best([measure_copy(args.database, survey_id) for _ in range(args.repeat)])
            product = best([measure_in_child(env, survey_id, compress=False) for _ in range(args.repeat)])
            zipped = None if args.skip_zip else measure_in_child(env, survey_id, compress=True)
            results[name] = (rows, copy, product)
            line = (
                f"  {rows:>9,} rows  copy {rows / copy['seconds']:>9,.0f} rows/s ({copy['bytes'] / 1e6:.0f} MB)"
                f"  product {rows / product['seconds']:>9,.0f} rows/s ({product['bytes'] / 1e6:.0f} MB)"
                f"  ratio {copy['seconds'] / product['seconds']:.0%}"
                f"  peak RSS {product['peak_kb'] / 1024:.0f} MB"
                f" (before the export {product['rss_before_kb'] / 1024:.0f})"
            )
            if zipped:
                line += (
                    f"  zip {rows / zipped['seconds']:,.0f} rows/s ({zipped['bytes'] / 1e6:.0f} MB), "
                    f"peak {zipped['peak_kb'] / 1024:.0f} MB"
                )
            print(line, flush=True)

        rows, copy, product = results["big"]
        ratio = copy["seconds"] / product["seconds"]
        growth = product["peak_kb"] - results["small"][2]["peak_kb"]
        verdicts = [
            (ratio >= MIN_RATIO, f"product >= {MIN_RATIO:.0%} of COPY's rows/s at {rows:,} rows: {ratio:.0%}"),
            (
                growth < MAX_PEAK_GROWTH_KB,
                f"peak RSS of the exporting process flat ({args.small_rows:,} -> {rows:,} rows): "
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
        if args.keep:
            if "django" in sys.modules:
                from django.db import connections

                connections.close_all()
        else:
            scratch_db.close_and_drop(args.database)
        shutil.rmtree(export_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
