"""The response export's file: the reference platform's columns and header rows, and the rows of
responses in CSV, TSV, JSON or NDJSON.

CSV and TSV follow the reference's response export: UTF-8 with a BOM, three header rows (column
ids, their labels or question texts, the ImportId JSON of each column), then one row per response,
every cell a spreadsheet could run as a formula neutralised. They are written by PostgreSQL's COPY
on PostgreSQL and by the csv module elsewhere, the same bytes either way (distributions/spreadsheet.py).
JSON is `{"responses": [...]}` and NDJSON one response per line, each `{"responseId", "values",
"labels"}` with values keyed by ImportId, as the reference's JSON export.
"""

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC

from django.db.models import Case, CharField, F, QuerySet, Value, When
from django.db.models.functions import Coalesce, NullIf

from directory.models import Contact
from distributions.models import Distribution, Invitation, Question, Survey
from distributions.spreadsheet import (
    BOM,
    CsvLines,
    copy_counted_chunks,
    csv_line,
    csv_writer,
    neutralise,
    pg_text_cell,
    text_cell,
)

FORMATS = ("csv", "tsv", "json", "ndjson")
DELIMITERS = {"csv": ",", "tsv": "\t"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "zip": "application/zip",
}
# Every response comes from a link the product sent: the reference's response type 0.
RESPONSE_TYPE, RESPONSE_TYPE_LABEL = "0", "IP Address"
USER_LANGUAGE = "EN"
# The reference's distributionChannel values for this product's channels.
DISTRIBUTION_CHANNELS = {
    Distribution.Channel.EMAIL: "email",
    Distribution.Channel.SMS: "smsinvite",
    Distribution.Channel.TWO_WAY_SMS: "sms",
}
CSV_TIMESTAMP = "%Y-%m-%d %H:%M:%S"
JSON_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


def question_id(question: Question) -> str:
    """The reference's question id, QID<n>: how exports and the API name a question."""
    return f"QID{question.pk}"


@dataclass(frozen=True)
class Column:
    id: str  # header row 1
    label: str  # header row 2
    import_id: dict  # header row 3, and the key of the value in JSON


FIXED_COLUMNS = (
    Column("StartDate", "Start Date", {"ImportId": "startDate", "timeZone": "UTC"}),
    Column("EndDate", "End Date", {"ImportId": "endDate", "timeZone": "UTC"}),
    Column("Status", "Response Type", {"ImportId": "status"}),
    Column("Progress", "Progress", {"ImportId": "progress"}),
    Column("Duration (in seconds)", "Duration (in seconds)", {"ImportId": "duration"}),
    Column("Finished", "Finished", {"ImportId": "finished"}),
    Column("RecordedDate", "Recorded Date", {"ImportId": "recordedDate", "timeZone": "UTC"}),
    Column("ResponseId", "Response ID", {"ImportId": "_recordId"}),
    Column("RecipientLastName", "Recipient Last Name", {"ImportId": "recipientLastName"}),
    Column("RecipientFirstName", "Recipient First Name", {"ImportId": "recipientFirstName"}),
    Column("RecipientEmail", "Recipient Email", {"ImportId": "recipientEmail"}),
    Column("ExternalReference", "External Data Reference", {"ImportId": "externalDataReference"}),
    Column("DistributionChannel", "Distribution Channel", {"ImportId": "distributionChannel"}),
    Column("UserLanguage", "User Language", {"ImportId": "userLanguage"}),
)
# The columns of Response the COPY statement reads (its subquery's SELECT list).
RESPONSE_COLUMNS = (
    "id",
    "invitation_id",
    "public_id",
    "started_at",
    "finished_at",
    "updated_at",
    "answers",
    "embedded_data",
)
# What each row reads, in this order (the portable path's values_list and the COPY's columns).
ROW_FIELDS = (
    "pk",
    "public_id",
    "started_at",
    "finished_at",
    "updated_at",
    "answers",
    "embedded_data",
    "invitation__distribution__channel",
    "invitation__contact__last_name",
    "invitation__contact__first_name",
    "recipient_email",  # annotated: see recipient_email()
    "invitation__contact__external_data_reference",
)


# The channels whose invitation address is a phone: their RecipientEmail is the contact's email.
_TEXT_CHANNELS = sorted(str(channel) for channel in (Distribution.Channel.SMS, Distribution.Channel.TWO_WAY_SMS))


def recipient_email():
    """RecipientEmail, on a Response queryset: the address its invitation was emailed to, as the
    history CSV's Email Address column gives it, not the contact's email as it is now (which may
    have changed since); for a text's response, and an invitation without an address, the
    contact's email."""
    return Case(
        When(invitation__distribution__channel__in=_TEXT_CHANNELS, then=F("invitation__contact__email")),
        default=Coalesce(NullIf(F("invitation__address"), Value("")), F("invitation__contact__email")),
        output_field=CharField(),
    )


# recipient_email() in SQL, for COPY.
_PG_RECIPIENT_EMAIL = (
    "(CASE WHEN d.channel IN ({}) THEN c.email ELSE coalesce(NULLIF(i.address, ''), c.email) END)".format(
        ", ".join(f"'{channel}'" for channel in _TEXT_CHANNELS)
    )
)


@dataclass(frozen=True)
class ExportLayout:
    """What one export writes: its format, the questions and embedded-data fields it has columns for."""

    format: str
    use_labels: bool
    questions: tuple[Question, ...]  # the selected questions, in the survey's order
    field_names: tuple[str, ...]  # the selected embedded-data fields
    all_question_keys: tuple[str, ...]  # every question of the survey: Progress counts them all

    @property
    def columns(self) -> list[Column]:
        return [
            *FIXED_COLUMNS,
            *(Column(question_id(q), q.text, {"ImportId": question_id(q)}) for q in self.questions),
            *(Column(name, name, {"ImportId": name}) for name in self.field_names),
        ]

    @property
    def delimiter(self) -> str:
        return DELIMITERS.get(self.format, ",")


def export_layout(*, survey: Survey, format: str, use_labels: bool, question_ids, field_names) -> ExportLayout:
    """The layout for `survey`: `question_ids` (QID…) and `field_names` select columns, None means all."""
    questions = list(survey.questions.order_by("position", "id"))
    # Sorted here, not by the database, as the history CSV's columns: a collation orders "=Total",
    # "score" and "Score" its own way, so the columns would move with the database.
    declared = sorted(survey.fields.values_list("name", flat=True))
    selected = questions if question_ids is None else [q for q in questions if question_id(q) in set(question_ids)]
    names = declared if field_names is None else [name for name in declared if name in set(field_names)]
    return ExportLayout(
        format=format,
        use_labels=use_labels,
        questions=tuple(selected),
        field_names=tuple(names),
        all_question_keys=tuple(str(q.pk) for q in questions),
    )


# --- header ------------------------------------------------------------------------------------


def header(layout: ExportLayout) -> bytes:
    """What the file starts with: the BOM and three header rows (CSV, TSV); `{"responses":[` (JSON)."""
    if layout.format == "json":
        return b'{"responses":['
    if layout.format == "ndjson":
        return b""
    columns = layout.columns
    # Question texts and field names are typed by admins, but end up in spreadsheet cells.
    rows = (
        [neutralise(column.id) for column in columns],
        [neutralise(column.label) for column in columns],
        [json.dumps(column.import_id, separators=(",", ":")) for column in columns],
    )
    return BOM + b"".join(csv_line(row, delimiter=layout.delimiter) for row in rows)


def footer(layout: ExportLayout) -> bytes:
    return b"]}" if layout.format == "json" else b""


# --- rows, portable path (and every JSON export) --------------------------------------------------


def _timestamp(value, pattern: str) -> str | None:
    return value.astimezone(UTC).strftime(pattern) if value else None


def _progress(answers: dict, finished: bool, keys: Sequence[str]) -> int:
    if finished:
        return 100
    return sum(1 for key in keys if key in answers) * 100 // len(keys) if keys else 0


def _choice(answer, part: str):
    return answer.get(part) if isinstance(answer, dict) else None


def csv_rows(layout: ExportLayout, rows: Sequence[tuple]) -> bytes:
    """Rows (ROW_FIELDS values) as CSV or TSV lines, as the COPY statement writes them."""
    lines = CsvLines()
    writer = csv_writer(lines, delimiter=layout.delimiter)
    labels = layout.use_labels
    for _pk, response_id, started, finished, updated, answers, embedded, channel, last, first, email, ref in rows:
        answers = answers if isinstance(answers, dict) else {}
        embedded = embedded if isinstance(embedded, dict) else {}
        ended = finished or updated
        recorded = _timestamp(ended, CSV_TIMESTAMP)
        cells = [
            _timestamp(started, CSV_TIMESTAMP),
            recorded,
            RESPONSE_TYPE_LABEL if labels else RESPONSE_TYPE,
            str(_progress(answers, finished is not None, layout.all_question_keys)),
            str(math.floor((ended - started).total_seconds())),
            ("True" if finished else "False") if labels else ("1" if finished else "0"),
            recorded,
            response_id,
            text_cell(last),
            text_cell(first),
            text_cell(email),
            text_cell(ref),
            DISTRIBUTION_CHANNELS.get(channel, channel),
            USER_LANGUAGE,
        ]
        for question in layout.questions:
            answer = answers.get(str(question.pk))
            if question.kind != Question.Kind.MULTIPLE_CHOICE:
                cells.append(text_cell(answer))
            elif labels:
                cells.append(text_cell(_choice(answer, "text")))
            else:
                number = _choice(answer, "number")
                cells.append(None if number is None else text_cell(number))
        cells.extend(text_cell(embedded.get(name)) for name in layout.field_names)
        writer.writerow(cells)
    return lines.take().encode()


def json_rows(layout: ExportLayout, rows: Sequence[tuple], *, first: bool) -> bytes:
    """Rows as JSON objects: comma-separated inside the JSON array (`first`: no comma before), or NDJSON lines."""
    objects = []
    for _pk, response_id, started, finished, updated, answers, embedded, channel, last, first_name, email, ref in rows:
        answers = answers if isinstance(answers, dict) else {}
        embedded = embedded if isinstance(embedded, dict) else {}
        ended = finished or updated
        values = {
            "startDate": _timestamp(started, JSON_TIMESTAMP),
            "endDate": _timestamp(ended, JSON_TIMESTAMP),
            "status": int(RESPONSE_TYPE),
            "progress": _progress(answers, finished is not None, layout.all_question_keys),
            "duration": math.floor((ended - started).total_seconds()),
            "finished": 1 if finished else 0,
            "recordedDate": _timestamp(ended, JSON_TIMESTAMP),
            "_recordId": response_id,
            "recipientLastName": last or None,
            "recipientFirstName": first_name or None,
            "recipientEmail": email or None,
            "externalDataReference": ref or None,
            "distributionChannel": DISTRIBUTION_CHANNELS.get(channel, channel),
            "userLanguage": USER_LANGUAGE,
        }
        labels = {"status": RESPONSE_TYPE_LABEL, "finished": "True" if finished else "False"}
        for question in layout.questions:
            answer = answers.get(str(question.pk))
            if question.kind == Question.Kind.MULTIPLE_CHOICE:
                values[question_id(question)] = _choice(answer, "number")
                if _choice(answer, "text") is not None:
                    labels[question_id(question)] = _choice(answer, "text")
            else:
                values[question_id(question)] = answer
        values.update((name, embedded.get(name)) for name in layout.field_names)
        values = {key: value for key, value in values.items() if value not in (None, "")}
        objects.append(json.dumps({"responseId": response_id, "values": values, "labels": labels}, ensure_ascii=False))
    if layout.format == "ndjson":
        return "".join(f"{line}\n" for line in objects).encode()
    return (("" if first else ",") + ",".join(objects)).encode() if objects else b""


# --- rows, PostgreSQL path for CSV and TSV: COPY ------------------------------------------------


def _pg_timestamp(expression: str) -> str:
    """CSV_TIMESTAMP in SQL: the UTC time to the second, as a timestamp's text in the ISO DateStyle
    (YYYY-MM-DD HH:MI:SS; psycopg reads timestamps in no other), at two thirds of to_char's cost."""
    return f"date_trunc('second', {expression} AT TIME ZONE 'UTC')::text"


def copy_statement(layout: ExportLayout, responses: QuerySet) -> tuple[str, list]:
    """COPY of the `responses` (a queryset of Response) in id order, in CSV or TSV, as csv_rows writes them.

    One statement for the whole export: PostgreSQL may then join by hashing and split the work
    between parallel workers. The responses' query is a subquery in FROM that the planner folds
    into the statement, and every cell is an expression of the joined row (no LATERAL or
    OFFSET 0 subquery), so the cells are computed in those workers too.
    """
    labels = layout.use_labels
    keys = layout.all_question_keys
    recorded = _pg_timestamp("coalesce(r.finished_at, r.updated_at)")
    questions, question_params = [], []
    for question in layout.questions:
        if question.kind != Question.Kind.MULTIPLE_CHOICE:
            questions.append(pg_text_cell("(r.answers ->> %s)"))
        else:
            questions.append(pg_text_cell(f"(r.answers -> %s ->> '{'text' if labels else 'number'}')"))
        question_params += [str(question.pk)] * 3  # pg_text_cell names its expression three times
    embedded = [pg_text_cell("(r.embedded_data ->> %s)") for _ in layout.field_names]
    embedded_params = [name for name in layout.field_names for _ in range(3)]
    answered = " + ".join("(r.answers ? %s)::int" for _ in keys) or "0"
    channels = " ".join("WHEN %s THEN %s" for _ in DISTRIBUTION_CHANNELS)
    cells = [
        _pg_timestamp("r.started_at"),
        recorded,
        "%s",
        f"CASE WHEN r.finished_at IS NOT NULL THEN 100 ELSE ({answered}) * 100 / {max(len(keys), 1)} END",
        # date_part's epoch of an interval is a float, as timedelta.total_seconds(): exact to the
        # microsecond for any duration under a century, and cheaper than extract's numeric.
        "floor(date_part('epoch', coalesce(r.finished_at, r.updated_at) - r.started_at))::bigint",
        "CASE WHEN r.finished_at IS NULL THEN %s ELSE %s END",
        recorded,
        "r.public_id",
        pg_text_cell("c.last_name"),
        pg_text_cell("c.first_name"),
        pg_text_cell(_PG_RECIPIENT_EMAIL),
        pg_text_cell("c.external_data_reference"),
        f"CASE d.channel {channels} ELSE d.channel END",
        "%s",
        *questions,
        *embedded,
    ]
    selected, selected_params = responses.values(*RESPONSE_COLUMNS).query.sql_with_params()
    params = [
        RESPONSE_TYPE_LABEL if labels else RESPONSE_TYPE,
        *keys,
        *(("False", "True") if labels else ("0", "1")),
        *(item for pair in DISTRIBUTION_CHANNELS.items() for item in pair),
        USER_LANGUAGE,
        *question_params,
        *embedded_params,
        *selected_params,
    ]
    delimiter = "E'\\t'" if layout.format == "tsv" else "','"
    sql = f"""
        COPY (
            SELECT {", ".join(cells)}
            FROM ({selected}) r
            JOIN {Invitation._meta.db_table} i ON i.id = r.invitation_id
            JOIN {Distribution._meta.db_table} d ON d.id = i.distribution_id
            LEFT JOIN {Contact._meta.db_table} c ON c.id = i.contact_id
            ORDER BY r.id
        ) TO STDOUT WITH (FORMAT csv, DELIMITER {delimiter})
    """
    return sql, params


def copy_rows(layout: ExportLayout, responses: QuerySet, *, step_rows: int) -> Iterator[tuple[bytes, int]]:
    """The COPY's output for `responses`: (CSV or TSV bytes, rows so far), see copy_counted_chunks."""
    return copy_counted_chunks(*copy_statement(layout, responses), step_rows=step_rows)
