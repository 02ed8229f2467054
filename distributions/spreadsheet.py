"""CSV cells that open safely in a spreadsheet, written the same by Python and by PostgreSQL's COPY.

Two producers of the same bytes, used by the distribution-history CSV and the response export:
- on PostgreSQL, PostgreSQL writes the CSV itself (`COPY (SELECT ...) TO STDOUT WITH (FORMAT csv)`)
  and its output is passed on in chunks: the csv module runs at about a fifth of COPY's speed;
- elsewhere (SQLite), rows are written with the csv module through `CsvLines`.
Both follow PostgreSQL's CSV rules: a field is quoted when it holds the delimiter, a quote, CR or
LF, or is an empty string; NULL is an empty unquoted field; lines end with LF. Every empty cell is
written as NULL (None), so both print it as nothing.
"""

import csv
import json
from collections.abc import Iterator, Sequence

from django.db import connection

BOM = "\ufeff".encode()
# A spreadsheet runs a cell starting with one of these as a formula (tab and CR: Excel strips them
# first). A leading apostrophe makes it plain text and is not displayed.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_BYTES = 64 * 1024


def neutralise(value: str) -> str:
    """`value` made plain text for a spreadsheet: an apostrophe before a formula's first character."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def text_cell(value) -> str | None:
    """A cell of user data: neutralised, None when empty.

    Non-string JSON values are written as PostgreSQL's `->>` renders them (JSON text, booleans in
    lower case), so both producers agree.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        value = str(value).lower() if isinstance(value, bool) else json.dumps(value, ensure_ascii=False)
    return neutralise(value)


class CsvLines:
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


def csv_writer(lines: CsvLines, *, delimiter: str = ","):
    """A csv.writer into `lines` that quotes as PostgreSQL's COPY does (see CsvLines)."""
    return csv.writer(lines, delimiter=delimiter, lineterminator="\r\n")


def csv_line(cells: Sequence, *, delimiter: str = ",") -> bytes:
    """One row (a header row, say) as UTF-8 bytes, quoted as the rows are."""
    lines = CsvLines()
    csv_writer(lines, delimiter=delimiter).writerow(cells)
    return lines.take().encode()


# --- the same cells in SQL, for COPY ------------------------------------------------------------

# ascii() is the code of the first character: = + - @ tab CR (see FORMULA_STARTS).
_FORMULA_CODES = ", ".join(str(ord(char)) for char in FORMULA_STARTS)


def pg_text_cell(expression: str) -> str:
    """text_cell in SQL: `expression` (a text expression) neutralised, NULL when empty.

    The expression appears three times: a parameter in it must be passed three times.
    """
    neutralised = f"'''' || {expression}"
    return f"CASE WHEN ascii({expression}) IN ({_FORMULA_CODES}) THEN {neutralised} ELSE NULLIF({expression}, '') END"


def copy_chunks(sql: str, params: Sequence) -> Iterator[bytes]:
    """The output of the COPY ... TO STDOUT statement `sql`, in chunks of about CHUNK_BYTES.

    Parameters are bound client-side (COPY takes no server parameters).
    """
    for data, _rows in copy_counted_chunks(sql, params):
        yield data


def copy_counted_chunks(sql: str, params: Sequence, *, step_rows: int = 0) -> Iterator[tuple[bytes, int]]:
    """copy_chunks with the number of rows written so far: (bytes, rows) pairs.

    A chunk also ends after every `step_rows` rows (when given), so that a caller counting
    progress sees each step's exact count. The rows are COPY's own: one CopyData message each.
    """
    buffer = bytearray()
    rows, step_end = 0, step_rows or -1
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        # libpq hands COPY data over one row at a time: gather rows into chunks.
        for row in copy:
            buffer += row
            rows += 1
            if rows == step_end or len(buffer) >= CHUNK_BYTES:
                if rows == step_end:
                    step_end += step_rows
                yield bytes(buffer), rows
                buffer.clear()
    if buffer:
        yield bytes(buffer), rows
