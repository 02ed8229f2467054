"""Keyset ("seek") pages of a queryset: the rows after, or before, the row a page ended on.

A page is read as `WHERE <sorts after the boundary row> ORDER BY <ordering> LIMIT size + 1`, so
reaching the ten-thousandth page costs what the first does: the database starts an index range
scan at the boundary instead of reading and throwing away every row before it (OFFSET). Rows
added meanwhile neither repeat nor shift the pages. The ordering ends with the primary key (the
admin's changelist adds it), which makes every boundary a single row.

The seek condition for the ordering (k1 desc, id desc) after (v1, w) is written
`k1 <= v1 AND (k1 < v1 OR id < w)`: its first term is a range on k1 that an index on k1 (alone
or after the columns a filter fixes) serves as an index condition. The equivalent OR of
alternatives, `k1 < v1 OR (k1 = v1 AND id < w)`, is what django-cursor-pagination writes, and
PostgreSQL cannot start an index scan at it, which makes a deep page walk the index from its
start; django-admin-cursor-paginator seeks on one column without a tie-breaker and offers no
sorting. Hence this module.

Nullable sort keys (e.g. an invitation's sent_at) are ordered with their NULLs explicitly last,
the same on PostgreSQL and SQLite (whose defaults differ), and the seek condition says where
NULLs fall. Non-nullable keys keep the plain ORDER BY, which the indexes were made for.

The cursor is the boundary row's key values with the ordering and the direction, signed
(django.core.signing) so that a cursor from another list, another sort order or a cut link is
refused as a whole rather than compared against the wrong columns.
"""

import datetime
import decimal
import uuid
from dataclasses import dataclass

from django.contrib.admin.utils import get_fields_from_path
from django.core import signing
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db.models import F, OrderBy, Q, QuerySet

_SALT = "admin.keyset"
AFTER, BEFORE = "after", "before"


class InvalidCursor(Exception):
    """The cursor is not one this list gave out for its current sort order."""


@dataclass(frozen=True)
class SortKey:
    """One term of a keyset ordering: a field path, its direction, where NULLs go (None: not nullable)."""

    path: str
    descending: bool
    field: object
    nulls_last: bool | None

    def reversed(self) -> "SortKey":
        nulls_last = None if self.nulls_last is None else not self.nulls_last
        return SortKey(self.path, not self.descending, self.field, nulls_last)

    def order_by(self):
        if self.nulls_last is None:
            return f"-{self.path}" if self.descending else self.path
        expression = F(self.path)
        nulls = {"nulls_last": True} if self.nulls_last else {"nulls_first": True}
        return expression.desc(**nulls) if self.descending else expression.asc(**nulls)

    def spec(self) -> str:
        return ("-" if self.descending else "") + self.path

    # --- seek conditions; None means "no row" ---

    def after(self, value) -> Q | None:
        """Rows whose key sorts strictly after `value`."""
        if value is None:
            return None if self.nulls_last else Q(**{f"{self.path}__isnull": False})
        condition = Q(**{f"{self.path}__{'lt' if self.descending else 'gt'}": value})
        return condition | Q(**{f"{self.path}__isnull": True}) if self.nulls_last else condition

    def at_or_after(self, value) -> Q:
        """Rows whose key sorts at `value` or after it: a range an index on the key can serve."""
        if value is None:
            return Q(**{f"{self.path}__isnull": True}) if self.nulls_last else Q()
        condition = Q(**{f"{self.path}__{'lte' if self.descending else 'gte'}": value})
        return condition | Q(**{f"{self.path}__isnull": True}) if self.nulls_last else condition

    def equal(self, value) -> Q:
        return Q(**{f"{self.path}__isnull": True}) if value is None else Q(**{self.path: value})


class KeysetOrdering:
    """A queryset's ordering as sort keys, and its pages read by seeking.

    `ordering` is the queryset's order_by terms: "field", "-field", "relation__field", "pk", or
    OrderBy(F(...)). Raises ImproperlyConfigured for a term that is not a model field (an
    annotation or an expression) or orders by a relation whose model has its own default
    ordering: a list offering such a sort cannot be paged by keyset.
    """

    def __init__(self, model, ordering):
        self.model = model
        self.keys = [self._key(term) for term in ordering]
        if not self.keys or self.keys[-1].path not in ("pk", model._meta.pk.name):
            # The admin's changelist ends every ordering with the primary key; other callers must too.
            raise ImproperlyConfigured(f"A keyset ordering of {model.__name__} must end with its primary key.")
        self.specs = [key.spec() for key in self.keys]

    def _key(self, term) -> SortKey:
        if isinstance(term, OrderBy) and isinstance(term.expression, F):
            path, descending = term.expression.name, term.descending
        elif isinstance(term, str):
            path, descending = term.removeprefix("-"), term.startswith("-")
        else:
            raise ImproperlyConfigured(f"Keyset pages cannot sort {self.model.__name__} by {term!r}.")
        try:
            fields = get_fields_from_path(self.model, path) if path != "pk" else [self.model._meta.pk]
        except FieldDoesNotExist as error:
            raise ImproperlyConfigured(f"Keyset pages cannot sort {self.model.__name__} by {path}.") from error
        field = fields[-1]
        if field.is_relation:
            if field.related_model._meta.ordering:
                # The database would sort by the related model's ordering, which this key does not name.
                raise ImproperlyConfigured(
                    f"Keyset pages cannot sort {self.model.__name__} by {path}: name the related field to sort by."
                )
            field = field.target_field
        nullable = any(getattr(f, "null", False) for f in fields)
        return SortKey(path, descending, field, nulls_last=True if nullable else None)

    def ordered(self, queryset: QuerySet, *, reverse: bool = False) -> QuerySet:
        """`queryset` in this ordering (or its exact reverse), each row annotated with its key values."""
        keys = [key.reversed() for key in self.keys] if reverse else self.keys
        annotations = {f"_keyset_{index}": F(key.path) for index, key in enumerate(self.keys)}
        return queryset.annotate(**annotations).order_by(*(key.order_by() for key in keys))

    def seek(self, queryset: QuerySet, values: list, *, direction: str) -> QuerySet:
        """The rows of `queryset` after (or before) the row whose keys are `values`, nearest first."""
        keys = self.keys if direction == AFTER else [key.reversed() for key in self.keys]
        condition = None
        # Built from the last key (the primary key) outwards: key_i after v_i, or equal and the rest after.
        for key, value in reversed(list(zip(keys, values, strict=True))):
            after = key.after(value)
            if condition is None:
                condition = after
                continue
            rest = key.equal(value) & condition if after is None else key.at_or_after(value) & (after | condition)
            condition = rest
        rows = self.ordered(queryset, reverse=direction == BEFORE)
        return rows.filter(condition) if condition is not None else rows.none()

    def values_of(self, row) -> list:
        return [getattr(row, f"_keyset_{index}") for index in range(len(self.keys))]

    # --- cursors ---

    def cursor(self, row, *, direction: str) -> str:
        """The signed cursor of the page after (or before) `row`, a row read through ordered()/seek()."""
        values = [_to_json(value) for value in self.values_of(row)]
        return signing.dumps({"o": self.specs, "d": direction, "v": values}, salt=self._salt(), compress=True)

    def read_cursor(self, cursor: str) -> tuple[str, list]:
        """-> (direction, key values). Raises InvalidCursor for a cursor this ordering did not give out."""
        try:
            data = signing.loads(cursor, salt=self._salt())
        except signing.BadSignature as error:
            raise InvalidCursor("not signed by this list") from error
        if not isinstance(data, dict) or data.get("o") != self.specs or data.get("d") not in (AFTER, BEFORE):
            raise InvalidCursor("made for another sort order")
        values = data.get("v")
        if not isinstance(values, list) or len(values) != len(self.keys):
            raise InvalidCursor("wrong number of values")
        try:
            return data["d"], [None if v is None else key.field.to_python(v) for key, v in zip(self.keys, values)]
        except ValidationError as error:
            raise InvalidCursor("a value of the wrong type") from error

    def _salt(self) -> str:
        return f"{_SALT}.{self.model._meta.label_lower}"


def _to_json(value):
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value
