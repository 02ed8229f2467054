"""Distribution history as CSV, streamed in constant memory.

Two producers of the same bytes:
- on PostgreSQL, PostgreSQL writes the CSV itself (`COPY (SELECT ...) TO STDOUT WITH (FORMAT csv)`)
  and we pass its output on in chunks: the csv module runs at about a fifth of COPY's speed;
- elsewhere (SQLite), rows from a chunked iterator are written with the csv module.
Both follow PostgreSQL's CSV rules: a field is quoted when it holds a comma, a quote, CR or LF, or
is an empty string; NULL is an empty unquoted field; lines end with LF. Every empty cell is
written as NULL, so both print it as nothing.
"""

import csv
import json
from collections.abc import Iterator
from datetime import UTC

from django.conf import settings
from django.db import connection

from directory.models import Contact
from distributions.models import Distribution, Invitation, Response
from reporting.selectors import HistoryScope, history_rows

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
BOM = "\ufeff".encode()
# A spreadsheet runs a cell starting with one of these as a formula (tab and CR: Excel strips them
# first). A leading apostrophe makes it plain text and is not displayed.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
STATUS_LABELS = dict(Invitation.Status.choices)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CHUNK_BYTES = 64 * 1024


def neutralise(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def history_csv(scope: HistoryScope, *, use_copy: bool | None = None) -> Iterator[bytes]:
    """The whole file: BOM, header, then the rows of `scope` in chunks of about CHUNK_BYTES."""
    yield BOM + _header(scope)
    if use_copy is None:
        use_copy = connection.vendor == "postgresql"
    yield from (_copy_chunks(scope) if use_copy else _portable_chunks(scope))


def _header(scope: HistoryScope) -> bytes:
    lines = _CsvLines()
    # The field names are typed by admins, but end up in a spreadsheet cell like any other.
    csv.writer(lines, lineterminator="\r\n").writerow([*COLUMNS, *(neutralise(name) for name in scope.field_names)])
    return lines.take().encode()


# --- portable path: the csv module --------------------------------------------------------------


class _CsvLines:
    """Collects rows from csv.writer, which writes each row with one write() call.

    The csv module quotes a field holding CR only when CR is in the line terminator, so rows are
    written ending in CRLF and kept ending in LF, as PostgreSQL writes them.
    """

    def __init__(self):
        self.parts: list[str] = []
        self.size = 0

    def write(self, line: str) -> None:
        self.parts.append(line[:-2])
        self.parts.append("\n")
        self.size += len(line)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        self.size = 0
        return text


def _text(value) -> str | None:
    """A cell of user data: neutralised, None when empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        # jsonb's ->> renders non-string JSON values as JSON text; embedded data is normally strings.
        value = str(value).lower() if isinstance(value, bool) else json.dumps(value, ensure_ascii=False)
    return neutralise(value)


def _timestamp(value) -> str | None:
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT) if value else None


def _portable_chunks(scope: HistoryScope) -> Iterator[bytes]:
    link_prefix = f"{settings.PUBLIC_BASE_URL}/s/"
    field_names = scope.field_names
    lines = _CsvLines()
    writer = csv.writer(lines, lineterminator="\r\n")
    for response_id, last, first, email, reference, status, finished, token, expires, data in history_rows(scope):
        data = data or {}
        writer.writerow(
            (
                response_id,
                _text(last),
                _text(first),
                _text(email),
                _text(reference),
                STATUS_LABELS.get(status, status) or None,
                _timestamp(finished),
                f"{link_prefix}{token}/",
                _timestamp(expires),
                *(_text(data.get(name)) for name in field_names),
            )
        )
        if lines.size >= CHUNK_BYTES:
            yield lines.take().encode()
    if lines.size:
        yield lines.take().encode()


# --- PostgreSQL path: COPY ----------------------------------------------------------------------

# ascii() is the code of the first character: = + - @ tab CR (see FORMULA_STARTS).
_FORMULA_CODES = ", ".join(str(ord(char)) for char in FORMULA_STARTS)
_PG_TIMESTAMP = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def _pg_text(expression: str) -> str:
    """A cell of user data in SQL: neutralised, NULL when empty (as _text does in Python)."""
    neutralised = f"'''' || {expression}"
    return f"CASE WHEN ascii({expression}) IN ({_FORMULA_CODES}) THEN {neutralised} ELSE NULLIF({expression}, '') END"


def copy_statement(scope: HistoryScope) -> tuple[str, list]:
    """The COPY statement and its parameters (bound client-side: COPY takes no server parameters)."""
    status_cases = " ".join("WHEN %s THEN %s" for _ in STATUS_LABELS)
    status_params = [item for pair in STATUS_LABELS.items() for item in pair]
    embedded = "".join(f", {_pg_text('(r.embedded_data ->> %s)')}" for _ in scope.field_names)
    embedded_params = [name for name in scope.field_names for _ in range(3)]  # _pg_text names it three times
    if scope.distribution is not None:
        where, scope_param = "i.distribution_id = %s", scope.distribution.pk
    else:
        where, scope_param = "d.survey_id = %s", scope.survey.pk
    sql = f"""
        COPY (
            SELECT
                r.public_id,
                {_pg_text("c.last_name")},
                {_pg_text("c.first_name")},
                {_pg_text("c.email")},
                {_pg_text("c.external_data_reference")},
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
    sql, params = copy_statement(scope)
    buffer = bytearray()
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        # libpq hands COPY data over one row at a time: gather rows into chunks for the response.
        for row in copy:
            buffer += row
            if len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
    if buffer:
        yield bytes(buffer)
