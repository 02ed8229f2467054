"""Statements prepared on the PostgreSQL server, for the few executed over and over on one connection.

Django turns psycopg's prepared statements off on its connections (prepare_threshold None), so
every statement is parsed and planned anew by the server. A statement executed within
`statements_prepared` is prepared on the server the first time the connection executes it (its
SQL and parameter types), and executed by name from then on; a preparation lasts as long as the
connection. Outside the block nothing changes. A connection pooler in front of the database must
keep prepared statements (README, Database).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def statements_prepared(pg_connection: psycopg.Connection) -> Iterator[None]:
    """Within it, every statement executed on `pg_connection` (psycopg's connection under Django's,
    `connection.connection`) is prepared, or reuses its preparation."""
    threshold = pg_connection.prepare_threshold
    pg_connection.prepare_threshold = 0
    try:
        yield
    finally:
        pg_connection.prepare_threshold = threshold
