"""Invitation statuses move forward only, and every change is also a DeliveryEvent.

Events arrive late and out of order (a "delivered" webhook after the survey was finished), so a
status is replaced only by one that ranks higher. The event is appended either way: the history
keeps everything, the status shows the furthest point reached.
"""

import functools

from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from distributions.models import DeliveryEvent, Invitation
from workflows.prepared_statements import statements_prepared

Status = Invitation.Status

# Higher wins. Outcomes of sending come first, then what the recipient did.
RANK = {
    Status.PENDING: 0,
    Status.EMAIL_SKIPPED: 10,
    Status.SMS_SKIPPED: 10,
    Status.EMAIL_FAILED: 10,
    Status.EMAIL_SENT: 20,
    Status.SMS_SENT: 20,
    Status.EMAIL_SOFT_BOUNCE: 25,
    Status.SMS_DELIVERED: 30,
    # Twilio reports "undelivered" or "failed" after "sent", as an ESP reports a bounce after
    # the email was sent; delivered and failed are both final, so the first reported stays.
    Status.SMS_FAILED: 30,
    Status.EMAIL_HARD_BOUNCE: 30,
    Status.EMAIL_BLOCKED: 30,
    Status.EMAIL_OPENED: 40,
    Status.EMAIL_COMPLAINT: 45,
    Status.LINK_EXPIRED: 50,
    # Opting out from the link comes after the email was sent and opened, and must show; a
    # response already started keeps its survey status (the opt-out is still in the events).
    Status.OPTED_OUT: 55,
    Status.SURVEY_STARTED: 60,
    Status.SURVEY_PARTIALLY_FINISHED: 70,
    # A two-way SMS session that expired without its last answer: whatever was answered is kept
    # (a response not finished), and the status says why it stopped short.
    Status.SESSION_EXPIRED: 75,
    Status.SURVEY_FINISHED: 80,
}


def invitation_record(
    *,
    invitation: Invitation,
    kind: str,
    status: str | None = None,
    detail: str = "",
    occurred_at=None,
    provider: str = "",
    provider_event_id: str = "",
    data: dict | None = None,
    asynchronous_commit: bool = False,
    also_replacing: tuple[str, ...] = (),
) -> bool:
    """Append an event and move the status forward if `status` ranks higher. -> status changed

    `also_replacing`: statuses `status` replaces although they rank higher; for an outcome only the
    provider knows, which corrects what the sender recorded (an ESP's "failed" after Email Sent).

    The rank check is in the UPDATE's WHERE clause, which PostgreSQL evaluates again on the newest
    row version after waiting for a concurrent writer: no status can move backwards.

    `asynchronous_commit=True` (PostgreSQL, outside a transaction): the record commits without
    waiting for its WAL flush (synchronous_commit off). It is visible to every session at once
    and survives the caller's death; only a crash of the database server within a fraction of a
    second can lose it (see services/delivery.py for what the reaper does about that).
    """
    now = timezone.now()
    event = {
        "invitation_id": invitation.pk,
        "kind": kind,
        "occurred_at": occurred_at or now,
        "provider": provider,
        "provider_event_id": provider_event_id,
        "description": detail,
        "data": data or {},
    }
    lower = [*_ranked_below(status), *also_replacing] if status is not None else []
    if connection.vendor == "postgresql" and status is not None:
        # Every email sent is recorded here, one at a time: one round trip instead of four.
        asynchronous = asynchronous_commit and not connection.in_atomic_block
        changed = _record_in_one_statement(event, status=status, lower=lower, now=now, asynchronous=asynchronous)
    else:
        with transaction.atomic():
            DeliveryEvent.objects.create(**event)
            changed = status is not None and bool(
                Invitation.objects.filter(pk=invitation.pk, status__in=lower).update(
                    status=status, status_detail=detail, updated_at=now
                )
            )
    if changed:
        invitation.status, invitation.status_detail = status, detail
    return changed


@functools.lru_cache(maxsize=64)
def _ranked_below(status: str) -> tuple[str, ...]:
    """The statuses `status` replaces: those that rank lower (RANK). Raises ValueError for an unknown status."""
    rank = RANK[Status(status)]
    return tuple(lower for lower, lower_rank in RANK.items() if lower_rank < rank)


def _record_in_one_statement(event: dict, *, status: str, lower: list[str], now, asynchronous: bool) -> bool:
    values = [*event.values(), now]
    values[list(event).index("data")] = Jsonb(event["data"])
    with connection.cursor() as cursor:
        # Prepared: the statement every email sent is recorded with, planned once per connection.
        with statements_prepared(connection.connection):
            cursor.execute(
                _record_statement(tuple(event), asynchronous=asynchronous),
                [*values, status, event["description"], now, event["invitation_id"], lower],
            )
        return cursor.rowcount == 1


@functools.lru_cache(maxsize=4)
def _record_statement(columns: tuple[str, ...], *, asynchronous: bool) -> str:
    """The one statement of `_record_in_one_statement`, for the event's columns and created_at."""
    columns = (*columns, "created_at")
    # set_config(..., is_local => true) lasts until this statement's own (autocommit) transaction
    # ends, and PostgreSQL reads synchronous_commit when committing it: one round trip, no BEGIN.
    # The one-time EXISTS makes sure the setting is applied before the commit.
    asynchronous_sql = "SELECT set_config('synchronous_commit', 'off', true)" if asynchronous else "SELECT 1"
    return f"""
        WITH commit_setting AS ({asynchronous_sql}),
        event AS (
            INSERT INTO {DeliveryEvent._meta.db_table} ({", ".join(columns)})
            VALUES ({", ".join(["%s"] * len(columns))})
        )
        UPDATE {Invitation._meta.db_table} SET status = %s, status_detail = %s, updated_at = %s
        WHERE id = %s AND status = ANY(%s) AND EXISTS (SELECT FROM commit_setting)
        """
