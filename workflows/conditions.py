"""Workflow conditions: compare event fields, combined with all/any. Pure Python, no database.

Semantics of ``evaluate``:

- No rows: the conditions are met.
- ``actual`` is ``event.get(row.field)``; an absent field and ``None`` are both empty, because
  Salesforce omits null fields from outbound messages. ``expected`` is ``resolve(row.value)``,
  so the caller resolves piped text in the value (``${event://...}``, ``${date://today}``...).
- Values are stripped of surrounding whitespace before comparing.
- equals: numeric equality when both are numbers (``39.0`` equals ``39``); case-insensitive when
  both are booleans (``true`` equals ``True``); otherwise exact string equality.
  not_equals is its negation.
- contains / not_contains: case-insensitive substring (an empty value is contained in anything).
- is_empty / is_not_empty: empty means absent, ``None`` or whitespace only; the value is ignored.
- greater_than / less_than: numeric when both are numbers, else chronological when both are ISO
  dates or datetimes (``1978-01-01``, ``2017-09-01T16:27:19.000Z``); a date against a datetime
  compares the datetime's UTC date. Anything else fails with a note saying why.
- match ALL: every row passed; ANY: at least one. Every row is evaluated either way, so the run
  report shows each row's result.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum


class Operator(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    GREATER_THAN = "greater_than"
    LESS_THAN = "less_than"


OPERATOR_LABELS: dict[Operator, str] = {
    Operator.EQUALS: "equals",
    Operator.NOT_EQUALS: "does not equal",
    Operator.CONTAINS: "contains",
    Operator.NOT_CONTAINS: "does not contain",
    Operator.IS_EMPTY: "is empty",
    Operator.IS_NOT_EMPTY: "is not empty",
    Operator.GREATER_THAN: "is greater than",
    Operator.LESS_THAN: "is less than",
}


class Match(StrEnum):
    ALL = "all"
    ANY = "any"


@dataclass(frozen=True)
class ConditionRow:
    field: str
    operator: Operator
    value: str = ""


@dataclass(frozen=True)
class RowResult:
    field: str
    operator: Operator
    expected: str
    actual: str | None
    passed: bool
    note: str = ""


# Plain decimal notation only: float() would also accept "nan", "inf" and "1_000".
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BOOLEANS = frozenset({"true", "false"})
_AS_NUMBERS = "compared as numbers"


def evaluate(
    rows: Sequence[ConditionRow],
    *,
    match: Match,
    event: Mapping[str, str | None],
    resolve: Callable[[str], str] = lambda value: value,
) -> tuple[bool, list[RowResult]]:
    results = [_evaluate_row(row, event=event, resolve=resolve) for row in rows]
    passed = [result.passed for result in results]
    combine = all if match == Match.ALL else any
    # No rows means no conditions, even with ANY (where any([]) would say False).
    return (not results or combine(passed)), results


def _evaluate_row(row: ConditionRow, *, event: Mapping[str, str | None], resolve: Callable[[str], str]) -> RowResult:
    actual = event.get(row.field)
    expected = resolve(row.value)
    passed, note = _compare(row.operator, actual=(actual or "").strip(), expected=expected.strip())
    return RowResult(
        field=row.field,
        operator=row.operator,
        expected=expected,
        actual=actual,
        passed=passed,
        note=note,
    )


def _compare(operator: Operator, *, actual: str, expected: str) -> tuple[bool, str]:
    match operator:
        case Operator.EQUALS:
            return _equals(actual, expected)
        case Operator.NOT_EQUALS:
            equal, note = _equals(actual, expected)
            return not equal, note
        case Operator.CONTAINS:
            return expected.casefold() in actual.casefold(), ""
        case Operator.NOT_CONTAINS:
            return expected.casefold() not in actual.casefold(), ""
        case Operator.IS_EMPTY:
            return not actual, ""
        case Operator.IS_NOT_EMPTY:
            return bool(actual), ""
        case Operator.GREATER_THAN | Operator.LESS_THAN:
            return _order(operator, actual, expected)


def _equals(actual: str, expected: str) -> tuple[bool, str]:
    actual_number, expected_number = _as_number(actual), _as_number(expected)
    if actual_number is not None and expected_number is not None:
        return actual_number == expected_number, _AS_NUMBERS
    if actual.lower() in _BOOLEANS and expected.lower() in _BOOLEANS:
        return actual.lower() == expected.lower(), "compared as true/false"
    return actual == expected, ""


def _order(operator: Operator, actual: str, expected: str) -> tuple[bool, str]:
    actual_number, expected_number = _as_number(actual), _as_number(expected)
    if actual_number is not None and expected_number is not None:
        left, right, note = actual_number, expected_number, _AS_NUMBERS
    else:
        actual_moment, expected_moment = _as_moment(actual), _as_moment(expected)
        if actual_moment is None or expected_moment is None:
            return False, f"'{actual}' and '{expected}' are not both numbers or dates"
        left, right = _comparable(actual_moment, expected_moment)
        note = "compared as dates"
    return (left > right if operator == Operator.GREATER_THAN else left < right), note


def _as_number(text: str) -> Decimal | None:
    return Decimal(text) if _NUMBER.fullmatch(text) else None


def _as_moment(text: str) -> date | datetime | None:
    # Checked first: datetime.fromisoformat would read a bare date as midnight.
    if _DATE.fullmatch(text):
        parse: Callable[[str], date | datetime] = date.fromisoformat
    else:
        parse = datetime.fromisoformat
    try:
        return parse(text)
    except ValueError:
        return None


def _comparable(left: date | datetime, right: date | datetime) -> tuple[date, date]:
    if isinstance(left, datetime) and isinstance(right, datetime):
        return _utc(left), _utc(right)
    return _utc_date(left), _utc_date(right)


def _utc(moment: datetime) -> datetime:
    # Salesforce sends UTC; a hand-typed value without an offset is read as UTC too.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc_date(moment: date | datetime) -> date:
    return _utc(moment).date() if isinstance(moment, datetime) else moment
