"""The throwaway database a benchmark creates, migrates and drops again, and the options naming it.

PostgreSQL is reached at PGHOST:PGPORT (libpq's variables; default 127.0.0.1:5432) as PGUSER
(default postgres, trust auth). Two benchmarks run side by side when each has its own
`--database` (and, for those that serve HTTP, its own `--port`).
"""

import os
import subprocess
import sys
from pathlib import Path

PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PGPORT", "5432"))
PG_USER = os.environ.get("PGUSER", "postgres")
ROOT = Path(__file__).resolve().parent.parent
# Settings refuse to start without SECRET_KEY once DATABASE_URL names a server.
BENCHMARK_SECRET_KEY = "benchmark-only-key-" + "x" * 40


def add_database_argument(parser, *, default: str) -> None:
    """--database NAME: the scratch PostgreSQL database (created, dropped first and at the end)."""
    parser.add_argument(
        "--database",
        default=default,
        help=f"scratch PostgreSQL database, dropped first if it exists and again at the end (default {default}); "
        "give each benchmark run side by side its own",
    )


def database_url(name: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def settings_env(url: str, *, settings: str = "benchmarks.settings") -> dict[str, str]:
    """Environment for a Django process of the benchmark on the database at `url`."""
    return {
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", BENCHMARK_SECRET_KEY),
    }


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql)


def drop_database(name: str) -> None:
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=300,
    )


def create_migrated_database(name: str, *, env: dict[str, str]) -> None:
    """A fresh database (dropped first if it exists), migrated with the given settings env."""
    drop_database(name)
    pg_admin(f'CREATE DATABASE "{name}"')
    migrate({"SECRET_KEY": BENCHMARK_SECRET_KEY, **env})


def close_and_drop(name: str) -> None:
    """A benchmark's last step, whatever happened before: close Django's connections (if Django
    started) so nothing holds the database, then drop it; a failure is reported, not raised."""
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - Django may not be set up yet
        pass
    try:
        drop_database(name)
    except Exception as exc:  # noqa: BLE001
        print(f"Could not drop {name}: {exc}", file=sys.stderr)
