"""PostgreSQL connections: server-side parameters and the array dumper of config/postgresql.py."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from psycopg.types.json import Jsonb

from config.postgresql import ArrayDumper
from directory.models import Contact, Directory

pytestmark = pytest.mark.postgres

AWKWARD = [
    "plain",
    "",
    "NULL",
    "null",
    None,
    'a "quoted" word',
    "back\\slash",
    '\\"',
    "{braces}",
    "a,b",
    "  spaces around  ",
    "tab\tand\nnewline",
    "\u3000ideographic space",
    "<a href=\"https://example.com/s/tok?x=1&y='2'\">Take the survey</a>",
    "émoji ✅",
]


def _round_trip(sql: str, params: list) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_its_connections_bind_parameters_on_the_server_and_write_lists_with_the_array_dumper(postgres_only):
    connection.ensure_connection()

    assert connection.features.uses_server_side_binding
    assert connection.connection.adapters.get_dumper(list, "t") is ArrayDumper


def test_an_array_of_awkward_texts_reads_back_as_written(postgres_only):
    assert _round_trip("SELECT %s::text[]", [AWKWARD]) == AWKWARD


@pytest.mark.parametrize(
    ("values", "array_type"),
    [
        ([1, None, -2, 2**40], "bigint[]"),
        ([datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), None], "timestamptz[]"),
        ([True, False, None], "boolean[]"),
        ([], "text[]"),
        ([None, None], "text[]"),
        ([["nested", 'with "quotes"'], ["and", None]], "text[]"),
    ],
    ids=["integers", "datetimes", "booleans", "empty", "only-nulls", "nested"],
)
def test_other_arrays_read_back_as_written(postgres_only, values, array_type):
    assert _round_trip(f"SELECT %s::{array_type}", [values]) == values


def test_json_documents_in_an_array_read_back_as_written(postgres_only):
    documents = [{"html": '<p class="x">\\ "hi"</p>', "n": [1, None]}, None, {"": "NULL"}]

    loaded = _round_trip("SELECT %s::jsonb[]", [[Jsonb(d) if d is not None else None for d in documents]])

    assert [json.loads(d) if isinstance(d, str) else d for d in loaded] == documents


@pytest.mark.django_db
def test_a_bulk_insert_of_awkward_values_stores_them_as_written(postgres_only):
    directory = Directory.objects.create(name="Awkward")
    texts = [text for text in AWKWARD if text is not None]

    Contact.objects.bulk_create(
        Contact(directory=directory, first_name=text, last_name="x", embedded_data={"value": text}) for text in texts
    )

    stored = list(Contact.objects.filter(directory=directory).order_by("pk").values_list("first_name", "embedded_data"))
    assert stored == [(text, {"value": text}) for text in texts]
