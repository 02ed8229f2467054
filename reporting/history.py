"""Distribution history as CSV, streamed in constant memory.

Written by PostgreSQL's COPY on PostgreSQL and by the csv module elsewhere, the same bytes either
way (see distributions/spreadsheet.py).
"""

from collections.abc import Iterator
from datetime import UTC

from django.conf import settings
from django.db import connection

from directory.models import Contact
from distributions.models import Distribution, Invitation, Response
from distributions.spreadsheet import (
    BOM,
    CHUNK_BYTES,
    CsvLines,
    copy_chunks,
    csv_line,
    csv_writer,
    neutralise,
    pg_text_cell,
    text_cell,
)
from reporting.selectors import SMS_CHANNEL_VALUES, HistoryScope, history_rows

COLUMNS = (
    "Response Id",
    "Last Name",
    "First Name",
    "Email Address",
    "External Data Reference",
    "Status",
    "End Date",
    "Link",
    "Link Expiration",
)
STATUS_LABELS = dict(Invitation.Status.choices)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def history_csv(scope: HistoryScope, *, use_copy: bool | None = None) -> Iterator[bytes]:
    """The whole file: BOM, header, then the rows of `scope` in chunks of about CHUNK_BYTES."""
    yield BOM + _header(scope)
    if use_copy is None:
        use_copy = connection.vendor == "postgresql"
    yield from (_copy_chunks(scope) if use_copy else _portable_chunks(scope))


def _header(scope: HistoryScope) -> bytes:
    # The field names are typed by admins, but end up in a spreadsheet cell like any other.
    return csv_line([*COLUMNS, *(neutralise(name) for name in scope.field_names)])


# --- portable path: the csv module --------------------------------------------------------------


def _timestamp(value) -> str | None:
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT) if value else None


def _portable_chunks(scope: HistoryScope) -> Iterator[bytes]:
    link_prefix = f"{settings.PUBLIC_BASE_URL}/s/"
    field_names = scope.field_names
    lines = CsvLines()
    writer = csv_writer(lines)
    # `address`: the Email Address column, a text's phone (reporting.selectors.history_address)
    for response_id, last, first, address, reference, status, finished, token, expires, data in history_rows(scope):
        data = data or {}
        writer.writerow(
            (
                response_id,
                text_cell(last),
                text_cell(first),
                text_cell(address),
                text_cell(reference),
                STATUS_LABELS.get(status, status) or None,
                _timestamp(finished),
                f"{link_prefix}{token}/",
                _timestamp(expires),
                *(text_cell(data.get(name)) for name in field_names),
            )
        )
        if lines.size >= CHUNK_BYTES:
            yield lines.take().encode()
    if lines.size:
        yield lines.take().encode()


# --- PostgreSQL path: COPY ----------------------------------------------------------------------

# reporting.selectors.history_address in SQL; the channel values are the code's constants.
_PG_ADDRESS = "(CASE WHEN d.channel IN ({}) THEN i.address ELSE coalesce(NULLIF(i.address, ''), c.email) END)".format(
    ", ".join(f"'{channel}'" for channel in SMS_CHANNEL_VALUES)
)
_PG_TIMESTAMP = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def copy_statement(scope: HistoryScope) -> tuple[str, list]:
    """The COPY statement and its parameters."""
    status_cases = " ".join("WHEN %s THEN %s" for _ in STATUS_LABELS)
    status_params = [item for pair in STATUS_LABELS.items() for item in pair]
    embedded = "".join(f", {pg_text_cell('(r.embedded_data ->> %s)')}" for _ in scope.field_names)
    embedded_params = [name for name in scope.field_names for _ in range(3)]  # pg_text_cell names it three times
    if scope.distribution is not None:
        where, scope_param = "i.distribution_id = %s", scope.distribution.pk
    else:
        where, scope_param = "d.survey_id = %s", scope.survey.pk
    sql = f"""
        COPY (
            SELECT
                r.public_id,
                {pg_text_cell("c.last_name")},
                {pg_text_cell("c.first_name")},
                {pg_text_cell(_PG_ADDRESS)},
                {pg_text_cell("c.external_data_reference")},
                NULLIF(CASE i.status {status_cases} ELSE i.status END, ''),
                {_PG_TIMESTAMP.format("r.finished_at")},
                %s || i.token || '/',
                {_PG_TIMESTAMP.format("i.expires_at")}
                {embedded}
            FROM {Invitation._meta.db_table} i
            JOIN {Distribution._meta.db_table} d ON d.id = i.distribution_id
            LEFT JOIN {Contact._meta.db_table} c ON c.id = i.contact_id
            LEFT JOIN {Response._meta.db_table} r ON r.invitation_id = i.id
            WHERE {where}
            ORDER BY i.id
        ) TO STDOUT WITH (FORMAT csv)
    """
    params = [*status_params, f"{settings.PUBLIC_BASE_URL}/s/", *embedded_params, scope_param]
    return sql, params


def _copy_chunks(scope: HistoryScope) -> Iterator[bytes]:
    return copy_chunks(*copy_statement(scope))
