"""The throwaway PostgreSQL database a benchmark creates, migrates and drops again."""

import os
import subprocess
import sys
from pathlib import Path

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
ROOT = Path(__file__).resolve().parent.parent


def database_url(name: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql)


def drop_database(name: str) -> None:
    pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def create_migrated_database(name: str, *, env: dict[str, str]) -> None:
    """A fresh database (dropped first if it exists), migrated with the given settings env."""
    drop_database(name)
    pg_admin(f"CREATE DATABASE {name}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=300,
    )


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
