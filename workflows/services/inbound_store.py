"""Writing one accepted message: its inbound-log row, its new notifications and a run for each.

This is the endpoint's whole cost, so on PostgreSQL it is one statement in a transaction of its
own (chained inserts, the notifications passed as one JSON document), and on SQLite a short write
transaction of a few multi-row inserts. Either way a notification already stored (same
organization and notification id) is skipped by the unique constraint, so only new notifications
get a run, even when two deliveries of one message race; and nothing is written unless the
workflow's row still holds the values the caller decided with.
"""

import functools
import json
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import connection, transaction
from django_q.models import OrmQ
from psycopg.types.json import Jsonb

from workflows.models import InboundMessage, Notification, Run, Workflow
from workflows.prepared_statements import statements_prepared
from workflows.services.dispatch import QUEUE_KEY


@dataclass(frozen=True)
class StoredMessage:
    inbound_id: int
    run_ids: list[int]


class WorkflowChanged(Exception):
    """The workflow's row no longer holds the values the message was validated with (its token was
    rotated, it was disabled or edited, or deleted): nothing was written; read it again."""


def inbound_store(
    *, workflow: dict, inbound: dict, status: dict, notifications: list[dict], run: dict, jobs: list[str]
) -> StoredMessage:
    """Insert the rows in one transaction (the caller's, if it has one open).

    `workflow` holds Workflow columns (`id` and those the caller decided on) that its row must
    still hold, else WorkflowChanged is raised and nothing is written. `inbound` holds the
    InboundMessage columns but status, reason and new_notification_count, which the store sets:
    `status["accepted"]` or, when no notification is new, `status["duplicate"]`, each a
    (status, reason) pair. Each of `notifications` holds the Notification columns but the inbound
    message and the time received (the inbound message's); `run` the columns every new run shares
    but its notification; `jobs` the signed django-q2 jobs that wake workers, queued only if there
    is a new run. Database errors propagate as Django's DatabaseError.
    """
    if connection.vendor == "postgresql":
        return _store_in_one_statement(workflow, inbound, status, notifications, run, jobs)
    return _store_in_sqlite(workflow, inbound, status, notifications, run, jobs)


def _store_in_sqlite(
    workflow: dict, inbound: dict, status: dict, notifications: list[dict], run: dict, jobs: list[str]
) -> StoredMessage:
    # SQLite has one writer at a time: everything but the inserts is done before the transaction
    # (which takes the write lock when it begins), and the inserts are a few multi-row statements
    # on the DB-API cursor, not model instances.
    quote = connection.ops.quote_name
    inbound_row = {
        **{name: _sqlite_value(value) for name, value in inbound.items()},
        "status": status["accepted"][0],
        "reason": status["accepted"][1],
        "new_notification_count": len(notifications),
    }
    received_at = inbound_row["received_at"]
    notification_rows = [
        (
            row["organization_key"],
            row["notification_id"],
            row["sobject_type"],
            row["record_id"],
            json.dumps(row["fields"]),
            received_at,
        )
        for row in notifications
    ]
    run_values = [_sqlite_value(value) for value in run.values()]
    workflow_check = " AND ".join(f"{quote(name)} = ?" for name in workflow)
    insert_inbound = (
        f"INSERT INTO {quote(InboundMessage._meta.db_table)} ({', '.join(map(quote, inbound_row))}) "
        f"SELECT {', '.join('?' * len(inbound_row))} "
        f"WHERE EXISTS (SELECT 1 FROM {quote(Workflow._meta.db_table)} WHERE {workflow_check}) RETURNING id"
    )
    insert_notifications = (
        f"INSERT INTO {quote(Notification._meta.db_table)} (inbound_message_id, organization_key, notification_id,"
        " sobject_type, record_id, fields, received_at) VALUES "
        + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(notification_rows))
        + " ON CONFLICT (organization_key, notification_id) DO NOTHING RETURNING id, notification_id"
    )
    with transaction.atomic(), connection.wrap_database_errors:
        cursor = connection.connection.cursor()
        try:
            cursor.execute(insert_inbound, [*inbound_row.values(), *workflow.values()])
            created = cursor.fetchone()
            if created is None:
                raise WorkflowChanged
            inbound_id = created[0]
            cursor.execute(insert_notifications, [value for row in notification_rows for value in (inbound_id, *row)])
            new = dict((notification_id, pk) for pk, notification_id in cursor.fetchall())
            # Runs in the message's order, which is the order workers take them in.
            new_ids = [new[row["notification_id"]] for row in notifications if row["notification_id"] in new]
            run_ids = []
            if new_ids:
                cursor.execute(
                    f"INSERT INTO {quote(Run._meta.db_table)} (notification_id, {', '.join(map(quote, run))}) VALUES "
                    + ", ".join([f"({', '.join('?' * (len(run) + 1))})"] * len(new_ids))
                    + " RETURNING id",
                    [value for notification_id in new_ids for value in (notification_id, *run_values)],
                )
                run_ids = sorted(pk for (pk,) in cursor.fetchall())
            if run_ids and jobs:
                cursor.execute(
                    f"INSERT INTO {quote(OrmQ._meta.db_table)} (key, payload, lock) VALUES "
                    + ", ".join(["(?, ?, ?)"] * len(jobs)),
                    [value for job in jobs for value in (QUEUE_KEY, job, received_at)],
                )
            if len(new_ids) != len(notifications):
                changes = {"new_notification_count": len(new_ids)}
                if not new_ids:
                    changes["status"], changes["reason"] = status["duplicate"]
                InboundMessage.objects.filter(pk=inbound_id).update(**changes)
        finally:
            cursor.close()
    return StoredMessage(inbound_id=inbound_id, run_ids=run_ids)


def _store_in_one_statement(
    workflow: dict, inbound: dict, status: dict, notifications: list[dict], run: dict, jobs: list[str]
) -> StoredMessage:
    params = {
        **_prepared(workflow, prefix="workflow_"),
        **_prepared(inbound, prefix="inbound_"),
        **_prepared(run, prefix="run_"),
        "accepted_status": status["accepted"][0],
        "accepted_reason": status["accepted"][1],
        "duplicate_status": status["duplicate"][0],
        "duplicate_reason": status["duplicate"][1],
        "notifications": json.dumps(notifications),
        "sent_order": [row["notification_id"] for row in notifications],
        "jobs": jobs,
        "job_key": QUEUE_KEY,
    }
    sql = _one_statement(tuple(workflow), tuple(inbound), tuple(run))
    # A server-side-binding cursor: the parameters (a body of up to megabytes, the notifications'
    # JSON) travel apart from the SQL instead of being quoted into it, which measurably costs.
    # Outside a transaction the statement is one by itself, which saves the BEGIN and COMMIT
    # round trips. wrap_database_errors turns psycopg's errors (a connection lost mid-statement)
    # into Django's DatabaseError, which the endpoint answers with the contract's 503, and marks
    # the connection for Django to check before it is reused.
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        # Planning its five chained inserts anew on every call was half the server's CPU for a
        # 1-notification message.
        with statements_prepared(connection.connection):
            cursor.execute(sql, params)
        inbound_id, run_ids = cursor.fetchone()
    if inbound_id is None:
        raise WorkflowChanged
    return StoredMessage(inbound_id=inbound_id, run_ids=run_ids)


# Built once per set of columns (in practice once per process), not on every message.
@functools.lru_cache(maxsize=8)
def _one_statement(workflow: tuple[str, ...], inbound: tuple[str, ...], run: tuple[str, ...]) -> str:
    """The PostgreSQL statement that stores a message, for these columns of each row."""
    quote = connection.ops.quote_name
    inbound_table = InboundMessage._meta.db_table
    return f"""
        WITH workflow AS (
            -- The precondition: no row, nothing inserted below.
            SELECT id FROM {quote(Workflow._meta.db_table)}
            WHERE {" AND ".join(f"{quote(name)} = %(workflow_{name})s" for name in workflow)}
        ), inbound_id AS (
            -- Drawn first, so the inbound-log row can be inserted last, knowing what was new.
            SELECT nextval(pg_get_serial_sequence('{inbound_table}', 'id')) AS id FROM workflow
        ), new_notifications AS (
            INSERT INTO {quote(Notification._meta.db_table)}
                (inbound_message_id, organization_key, notification_id, sobject_type, record_id, fields, received_at)
            SELECT inbound_id.id, n.organization_key, n.notification_id, n.sobject_type, n.record_id, n.fields,
                   %(inbound_received_at)s
            FROM inbound_id, jsonb_to_recordset(%(notifications)s::jsonb) AS n(
                organization_key text, notification_id text, sobject_type text, record_id text, fields jsonb)
            -- In one order whatever the message's: two deliveries of the same notifications in
            -- different orders would otherwise each wait for a row the other inserted (a deadlock).
            ORDER BY n.notification_id
            ON CONFLICT (organization_key, notification_id) DO NOTHING
            RETURNING id, notification_id
        ), inbound AS (
            -- The notifications' foreign key to this row is checked when the statement ends.
            INSERT INTO {quote(inbound_table)}
                (id, status, reason, new_notification_count, {", ".join(map(quote, inbound))})
            SELECT inbound_id.id,
                   CASE WHEN counted.new = 0 THEN %(duplicate_status)s ELSE %(accepted_status)s END,
                   CASE WHEN counted.new = 0 THEN %(duplicate_reason)s ELSE %(accepted_reason)s END,
                   counted.new,
                   {", ".join(f"%(inbound_{name})s" for name in inbound)}
            FROM inbound_id, (SELECT count(*) AS new FROM new_notifications) AS counted
            RETURNING id
        ), new_runs AS (
            -- Runs in the message's order, which is the order workers take them in.
            INSERT INTO {quote(Run._meta.db_table)} (notification_id, {", ".join(map(quote, run))})
            SELECT new_notifications.id, {", ".join(f"%(run_{name})s" for name in run)}
            FROM new_notifications
            JOIN unnest(%(sent_order)s::text[]) WITH ORDINALITY AS sent(notification_id, position)
                USING (notification_id)
            ORDER BY sent.position
            RETURNING id
        ), wake_ups AS (
            -- django-q2's queue table, written as its ORM broker does (key, payload, lock):
            -- tests/workflows/test_queue_table.py checks that this is still its shape.
            INSERT INTO {quote(OrmQ._meta.db_table)} (key, payload, lock)
            SELECT %(job_key)s, payload, %(inbound_received_at)s FROM unnest(%(jobs)s::text[]) AS payload
            WHERE EXISTS (SELECT FROM new_runs)
        )
        SELECT (SELECT id FROM inbound), ARRAY(SELECT id FROM new_runs ORDER BY id)
    """


def _sqlite_value(value):
    """A column value as Django writes it to SQLite: JSON as text, datetimes as UTC text."""
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _prepared(values: dict, *, prefix: str) -> dict:
    """Named parameters; lists and dicts go to JSON columns."""
    return {prefix + name: Jsonb(value) if isinstance(value, list | dict) else value for name, value in values.items()}
