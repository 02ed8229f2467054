"""PostgreSQL connections: Python lists written as array literals without a regular expression per quote.

Django 5.2 inserts several rows in one statement as one array per column (INSERT ... SELECT * FROM
UNNEST(...)), so psycopg writes every value of a bulk insert into an array literal. Its text
dumper escapes each quote and backslash of an element through `re.sub` with a template, which
expands the template in Python once per match: an invitation's HTML body or a task run's JSON
input has hundreds of quotes, and escaping them was a tenth of a distributing worker's CPU.

`ArrayDumper` writes the same arrays (PostgreSQL's array input syntax, section 8.15.6 of its
manual) with every element in double quotes and its backslashes and double quotes escaped by
`bytes.replace`. Quoting an element that does not need it changes nothing PostgreSQL reads; NULL
stays unquoted, the SQL null. Nested lists and lists whose element type psycopg could not tell
are left to psycopg's own dumper.
"""

from typing import Any

from django.db.backends.signals import connection_created
from psycopg.types.array import ListDumper


class ArrayDumper(ListDumper):
    """psycopg's text dumper of lists, escaping elements with bytes.replace (see the module's docstring)."""

    def dump(self, obj: list[Any]) -> bytes | None:
        sub_dumper = self.sub_dumper
        if sub_dumper is None or any(isinstance(item, list) for item in obj):
            return super().dump(obj)
        dump = sub_dumper.dump
        elements = []
        for item in obj:
            value = None if item is None else dump(item)
            if value is None:
                elements.append(b"NULL")
            else:
                value = bytes(value).replace(b"\\", b"\\\\").replace(b'"', b'\\"')
                elements.append(b'"' + value + b'"')
        return b"{" + self.delimiter.join(elements) + b"}"


def use_array_dumper(*, sender, connection, **kwargs) -> None:
    """connection_created receiver: PostgreSQL connections write lists with ArrayDumper."""
    if connection.vendor == "postgresql":
        connection.connection.adapters.register_dumper(list, ArrayDumper)


def connect_array_dumper() -> None:
    connection_created.connect(use_array_dumper, dispatch_uid="postgresql_array_dumper")
