"""Writing one accepted message: its inbound-log row, its new notifications and a run for each.

This is the endpoint's whole cost, so on PostgreSQL it is one statement (three chained inserts,
the notifications passed as one JSON document); other databases take the ORM path to the same
rows. Either way a notification already stored (same organization and notification id) is
skipped by the unique constraint, so only new notifications get a run, even when two deliveries
of one message race.
"""

import json
from dataclasses import dataclass

import psycopg
from django.db import connection
from django_q.models import OrmQ
from psycopg.types.json import Jsonb

from workflows.models import InboundMessage, Notification, Run
from workflows.services.dispatch import QUEUE_KEY, job_rows


@dataclass(frozen=True)
class StoredMessage:
    inbound_id: int
    run_ids: list[int]


def inbound_store(*, inbound: dict, notifications: list[dict], run: dict, jobs: list[str]) -> StoredMessage:
    """Insert the rows, in the caller's transaction.

    `inbound` holds the InboundMessage columns; each of `notifications` the Notification columns
    but the inbound message and the time received (the inbound message's); `run` the columns
    every new run shares but its notification; `jobs` the signed django-q2 jobs that wake
    workers, queued only if there is a new run.
    """
    if connection.vendor == "postgresql":
        return _store_in_one_statement(inbound, notifications, run, jobs)
    return _store_with_the_orm(inbound, notifications, run, jobs)


def _store_with_the_orm(inbound: dict, notifications: list[dict], run: dict, jobs: list[str]) -> StoredMessage:
    message = InboundMessage.objects.create(**inbound)
    Notification.objects.bulk_create(
        [Notification(inbound_message=message, received_at=message.received_at, **row) for row in notifications],
        ignore_conflicts=True,
    )
    # Skipped conflicts were not inserted, so the rows that carry this message's id are the new ones.
    new_ids = Notification.objects.filter(inbound_message=message).values_list("id", flat=True)
    runs = Run.objects.bulk_create([Run(notification_id=notification_id, **run) for notification_id in new_ids])
    if runs and jobs:
        OrmQ.objects.bulk_create(job_rows(jobs))
    return StoredMessage(inbound_id=message.pk, run_ids=[new.pk for new in runs])


def _store_in_one_statement(inbound: dict, notifications: list[dict], run: dict, jobs: list[str]) -> StoredMessage:
    quote = connection.ops.quote_name
    params = {
        **_prepared(inbound, prefix="inbound_"),
        **_prepared(run, prefix="run_"),
        "notifications": json.dumps(notifications),
        "sent_order": [row["notification_id"] for row in notifications],
        "jobs": jobs,
        "job_key": QUEUE_KEY,
    }
    sql = f"""
        WITH inbound AS (
            INSERT INTO {quote(InboundMessage._meta.db_table)} ({", ".join(map(quote, inbound))})
            VALUES ({", ".join(f"%(inbound_{name})s" for name in inbound)})
            RETURNING id
        ), new_notifications AS (
            INSERT INTO {quote(Notification._meta.db_table)}
                (inbound_message_id, organization_key, notification_id, sobject_type, record_id, fields, received_at)
            SELECT inbound.id, n.organization_key, n.notification_id, n.sobject_type, n.record_id, n.fields,
                   %(inbound_received_at)s
            FROM inbound, jsonb_to_recordset(%(notifications)s::jsonb) AS n(
                organization_key text, notification_id text, sobject_type text, record_id text, fields jsonb)
            -- In one order whatever the message's: two deliveries of the same notifications in
            -- different orders would otherwise each wait for a row the other inserted (a deadlock).
            ORDER BY n.notification_id
            ON CONFLICT (organization_key, notification_id) DO NOTHING
            RETURNING id, notification_id
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
            -- django-q2's queue table, written as its ORM broker does (key, payload, lock)
            INSERT INTO {quote(OrmQ._meta.db_table)} (key, payload, lock)
            SELECT %(job_key)s, payload, %(inbound_received_at)s FROM unnest(%(jobs)s::text[]) AS payload
            WHERE EXISTS (SELECT FROM new_runs)
        )
        SELECT (SELECT id FROM inbound), ARRAY(SELECT id FROM new_runs ORDER BY id)
    """
    # A server-side-binding cursor: the parameters (a body of up to megabytes, the notifications'
    # JSON) travel apart from the SQL instead of being quoted into it, which measurably costs.
    # wrap_database_errors turns psycopg's errors (a connection lost mid-statement) into Django's
    # DatabaseError, which the endpoint answers with the contract's 503, and marks the connection
    # for Django to check before it is reused.
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        inbound_id, run_ids = cursor.fetchone()
    return StoredMessage(inbound_id=inbound_id, run_ids=run_ids)


def _prepared(values: dict, *, prefix: str) -> dict:
    """Named parameters; lists and dicts go to JSON columns."""
    return {prefix + name: Jsonb(value) if isinstance(value, list | dict) else value for name, value in values.items()}
