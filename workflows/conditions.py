"""Workflow conditions: compare event fields, combined with all/any. Pure Python, no database.

Semantics of ``evaluate``:

- No rows: the conditions are met.
- ``actual`` is the field's value in the event (``values.field_value``: a compound field such as
  an address is its components' values); an absent field and ``None`` are both empty, because
  Salesforce omits null fields from outbound messages. ``expected`` is ``resolve(row.value)``,
  so the caller resolves piped text in the value (``${event://...}``, ``${date://today}``...).
- Values are stripped of surrounding whitespace before comparing.
- A field's kind is its XSD type from the outbound message's WSDL (``field_types``, as
  ``Workflow.known_fields`` keeps them; see ``workflows.salesforce.values``). A field without a
  declared type takes the first kind both values have, in the order number, date (a date or a date
  and time), time, true/false; else they are text.
- equals: numbers numerically (``39.0`` equals ``39``, ``1.0E7`` equals ``10000000``); dates as
  dates, a date against a date and time by the latter's UTC date; true/false case-insensitively
  (also ``1``/``0`` for a declared boolean); Salesforce ids as ids (the 15- and 18-character
  forms of one id are equal, and the 18-character form is read in any case: a declared ID field,
  or two ids, both with digits, of which one has 18 characters); text exactly, case included. A declared text field
  is compared as text (CaseNumber ``00001026`` does not equal ``1026``). A value that is not of the
  field's declared kind is compared as text, with a note. not_equals is the negation.
- equals_ignoring_case / not_equals_ignoring_case: as equals and not_equals, but text is compared
  regardless of case (``Web`` equals ``WEB``), as SOQL's ``=`` compares strings.
- contains / not_contains: case-insensitive substring (an empty value is contained in anything).
- includes / excludes, for multi-select picklists (``Chat;Phone;Web``): every ``;``-separated
  value of the condition is one of the field's values, case-insensitively, as SOQL's INCLUDES
  reads ``'Chat;Web'``; excludes is the negation. ``Chatter;Phone`` does not include ``Chat``.
  A condition without a value to look for fails includes, with a note.
- is_empty / is_not_empty: empty means absent, ``None`` or whitespace only; the value is ignored.
- greater_than / less_than: numbers, dates or times: the declared kind when it is one of those,
  else the first both values have (a declared text field may hold numbers). Anything else fails
  with a note saying why; so a field declared true/false or id always fails them, and the admin
  refuses such a condition (``literal_value_error``, ``piped_value_error``).
- match ALL: every row passed; ANY: at least one. Every row is evaluated either way, so the run
  report shows each row's result.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from workflows.salesforce.values import (
    InvalidValue,
    ValueKind,
    field_value,
    kind_of,
    parse_boolean,
    parse_moment,
    parse_number,
    parse_salesforce_id,
    parse_time,
    split_multi_select,
)


class Operator(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    EQUALS_IGNORING_CASE = "equals_ignoring_case"
    NOT_EQUALS_IGNORING_CASE = "not_equals_ignoring_case"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    INCLUDES = "includes"
    EXCLUDES = "excludes"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    GREATER_THAN = "greater_than"
    LESS_THAN = "less_than"


# Each label that compares text says whether case matters.
OPERATOR_LABELS: dict[Operator, str] = {
    Operator.EQUALS: "equals (case-sensitive)",
    Operator.NOT_EQUALS: "does not equal (case-sensitive)",
    Operator.EQUALS_IGNORING_CASE: "equals (ignoring case)",
    Operator.NOT_EQUALS_IGNORING_CASE: "does not equal (ignoring case)",
    Operator.CONTAINS: "contains (ignoring case)",
    Operator.NOT_CONTAINS: "does not contain (ignoring case)",
    Operator.INCLUDES: "includes (multi-select picklist, ignoring case)",
    Operator.EXCLUDES: "excludes (multi-select picklist, ignoring case)",
    Operator.IS_EMPTY: "is empty",
    Operator.IS_NOT_EMPTY: "is not empty",
    Operator.GREATER_THAN: "is greater than",
    Operator.LESS_THAN: "is less than",
}

OPERATOR_HELP = (
    "equals / does not equal compare text case included (Web is not WEB); choose the “ignoring case” ones "
    "to compare regardless of case. "
    "contains: the text appears anywhere in the field, so Chat is in Chatter. "
    "includes / excludes, for multi-select picklists (Salesforce sends Chat;Phone;Web): whether Chat is one "
    "of the selected values; Chat;Web asks for both. "
    "is greater / less than: numbers (1234.5), dates (2011-06-30), dates and times (2024-05-01T10:00:00Z; "
    "UTC without an offset) or times. Fields the WSDL declares as numbers, dates, checkboxes or ids are compared "
    "as such (an id's 15- and 18-character forms are equal); a text field is compared as text by equals."
)


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


_EQUALITIES = (
    Operator.EQUALS,
    Operator.NOT_EQUALS,
    Operator.EQUALS_IGNORING_CASE,
    Operator.NOT_EQUALS_IGNORING_CASE,
)
# Dates and dates and times are one kind here: either can be compared with the other.
_INFERRED_KINDS = (ValueKind.NUMBER, ValueKind.ID, ValueKind.DATE, ValueKind.TIME, ValueKind.BOOLEAN)
_ORDERED_KINDS = (ValueKind.NUMBER, ValueKind.DATE, ValueKind.TIME)
_PLURALS = {
    ValueKind.NUMBER: "numbers",
    ValueKind.DATE: "dates",
    ValueKind.TIME: "times",
    ValueKind.BOOLEAN: "true/false",
    ValueKind.ID: "Salesforce ids",
}


def evaluate(
    rows: Sequence[ConditionRow],
    *,
    match: Match,
    event: Mapping[str, str | None],
    resolve: Callable[[str], str] = lambda value: value,
    field_types: Mapping[str, str] | None = None,
) -> tuple[bool, list[RowResult]]:
    """-> (whether the conditions are met, each row's result). `field_types` maps a field's API
    name to its XSD type from the WSDL ("" or absent: not declared)."""
    field_types = field_types or {}
    results = [_evaluate_row(row, event=event, resolve=resolve, field_types=field_types) for row in rows]
    passed = [result.passed for result in results]
    combine = all if match == Match.ALL else any
    # No rows means no conditions, even with ANY (where any([]) would say False).
    return (not results or combine(passed)), results


def _evaluate_row(
    row: ConditionRow,
    *,
    event: Mapping[str, str | None],
    resolve: Callable[[str], str],
    field_types: Mapping[str, str],
) -> RowResult:
    actual = field_value(event, row.field)
    expected = resolve(row.value)
    passed, note = _compare(
        row.operator,
        actual=(actual or "").strip(),
        expected=expected.strip(),
        declared=_declared_kind(field_types.get(row.field) or ""),
    )
    return RowResult(
        field=row.field,
        operator=row.operator,
        expected=expected,
        actual=actual,
        passed=passed,
        note=note,
    )


def literal_value_error(operator: Operator, value: str, *, xsd_type: str = "") -> str | None:
    """Why a condition's value, written without piped text, can never pass as `operator` needs;
    None when it can. `xsd_type` is the field's type from the WSDL ("" when not declared)."""
    value = value.strip()
    declared = _declared_kind(xsd_type)
    if operator in (Operator.CONTAINS, Operator.NOT_CONTAINS) and not value:
        # Empty text is in every value: contains would pass every run, does not contain none.
        if operator == Operator.CONTAINS:
            return (
                "Write the text to look for: every value contains empty text, so this would always pass. "
                "To test for a value, use is not empty."
            )
        return (
            "Write the text to look for: every value contains empty text, so this would never pass. "
            "To test for no value, use is empty."
        )
    if operator in (Operator.INCLUDES, Operator.EXCLUDES):
        if not split_multi_select(value):
            return f"Write the picklist value to look for, e.g. Chat (or Chat;Web for both): {operator} needs one."
        return None
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if error := _unordered_field_error(operator, xsd_type):
            return error
        kinds = (declared,) if declared in _ORDERED_KINDS else _ORDERED_KINDS
    elif operator in _EQUALITIES and value and declared not in (None, ValueKind.TEXT):
        kinds = (declared,)
    else:
        return None
    if any(_typed(kind, value, value, declared=True) is not None for kind in kinds):
        return None
    if declared in kinds:
        return f"The WSDL declares this field as xsd:{xsd_type}: {_EXAMPLES[declared]}"
    return f"{OPERATOR_LABELS[operator].capitalize()} compares numbers, dates or times: {_EXAMPLES[None]}"


def piped_value_error(operator: Operator, *, field_type: str, value_type: str) -> str | None:
    """Why a condition whose value is one piped field can never compare it with the condition's
    field as `operator` needs, from the XSD types the WSDL declares for both (`field_type` for the
    condition's field, `value_type` for the piped one; "" when not declared); None when it can.

    A text field (or one without a declared type) may hold anything, so it always can. Otherwise:
    is greater / less than needs two values of one ordered kind (numbers, dates or dates and
    times, times); equals and its variants, for a field declared other than text, a value of its
    kind (a number never equals true, so "does not equal" would pass every run)."""
    declared, piped = _declared_kind(field_type), _declared_kind(value_type)
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN) and (
        error := _unordered_field_error(operator, field_type)
    ):
        return error
    if piped in (None, ValueKind.TEXT):
        return None
    if operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        wanted = (declared,) if declared in _ORDERED_KINDS else _ORDERED_KINDS
    elif operator in _EQUALITIES and declared not in (None, ValueKind.TEXT):
        wanted = (declared,)
    else:
        return None
    if piped in wanted:
        return None
    names = [str(kind) for kind in wanted]
    fields = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return (
        f"{OPERATOR_LABELS[operator].capitalize()} can never compare this field with a {kind_of(value_type)} value "
        f"(xsd:{value_type}): pipe a {fields} field, or write the value."
    )


def _unordered_field_error(operator: Operator, xsd_type: str) -> str | None:
    """A checkbox or an id is never greater or less than anything: the field's own values are no
    numbers, dates or times, so the comparison fails every run, whatever the value."""
    kind = _declared_kind(xsd_type)
    if kind not in (ValueKind.BOOLEAN, ValueKind.ID):
        return None
    return (
        f"The WSDL declares this field as xsd:{xsd_type} ({kind}), which is never greater or less than a value: "
        f"{OPERATOR_LABELS[operator]} fails every run. Use equals or does not equal."
    )


_EXAMPLES = {
    ValueKind.NUMBER: "write a number with a decimal point and no thousands separator, e.g. 1234.5 (not 1,234.5).",
    ValueKind.DATE: "write a date such as 2011-06-30 or a date and time such as 2024-05-01T10:00:00Z.",
    ValueKind.TIME: "write a time such as 10:00:00Z.",
    ValueKind.BOOLEAN: "write true or false.",
    ValueKind.ID: "write a Salesforce id of 15 or 18 letters and digits, e.g. 0015g00000ABCDE.",
    None: "write a number (1234.5), a date (2011-06-30) or a date and time (2024-05-01T10:00:00Z).",
}


def _declared_kind(xsd_type: str) -> ValueKind | None:
    kind = kind_of(xsd_type)
    return ValueKind.DATE if kind == ValueKind.DATETIME else kind


def _compare(operator: Operator, *, actual: str, expected: str, declared: ValueKind | None) -> tuple[bool, str]:
    match operator:
        case Operator.EQUALS:
            return _equals(actual, expected, declared)
        case Operator.NOT_EQUALS:
            equal, note = _equals(actual, expected, declared)
            return not equal, note
        case Operator.EQUALS_IGNORING_CASE:
            return _equals(actual, expected, declared, ignore_case=True)
        case Operator.NOT_EQUALS_IGNORING_CASE:
            equal, note = _equals(actual, expected, declared, ignore_case=True)
            return not equal, note
        case Operator.CONTAINS:
            return expected.casefold() in actual.casefold(), ""
        case Operator.NOT_CONTAINS:
            return expected.casefold() not in actual.casefold(), ""
        case Operator.INCLUDES:
            return _includes(actual, expected)
        case Operator.EXCLUDES:
            included, note = _includes(actual, expected)
            return not included, note
        case Operator.IS_EMPTY:
            return not actual, ""
        case Operator.IS_NOT_EMPTY:
            return bool(actual), ""
        case Operator.GREATER_THAN | Operator.LESS_THAN:
            return _order(operator, actual, expected, declared)


def _equals(actual: str, expected: str, declared: ValueKind | None, *, ignore_case: bool = False) -> tuple[bool, str]:
    def same_text() -> bool:
        return actual.casefold() == expected.casefold() if ignore_case else actual == expected

    if declared == ValueKind.TEXT:
        return same_text(), ""
    if declared is not None:
        pair = _typed(declared, actual, expected, declared=True, ignore_case=ignore_case)
        if pair is not None:
            return pair[0] == pair[1], f"compared as {_PLURALS[declared]}"
        note = f"'{actual}' and '{expected}' are not both {_PLURALS[declared]}: compared as text"
        return same_text(), note if actual and expected else ""
    for kind in _INFERRED_KINDS:
        pair = _typed(kind, actual, expected, declared=False, ignore_case=ignore_case)
        if pair is not None:
            return pair[0] == pair[1], f"compared as {_PLURALS[kind]}"
    return same_text(), ""


def _includes(actual: str, expected: str) -> tuple[bool, str]:
    wanted = {value.casefold() for value in split_multi_select(expected)}
    if not wanted:
        return False, "no value to look for"
    return wanted <= {value.casefold() for value in split_multi_select(actual)}, ""


def _order(operator: Operator, actual: str, expected: str, declared: ValueKind | None) -> tuple[bool, str]:
    kinds = (declared,) if declared in _ORDERED_KINDS else _ORDERED_KINDS
    for kind in kinds:
        pair = _typed(kind, actual, expected, declared=False)
        if pair is not None:
            left, right = pair
            passed = left > right if operator == Operator.GREATER_THAN else left < right
            return passed, f"compared as {_PLURALS[kind]}"
    wanted = _PLURALS[declared] if declared in _ORDERED_KINDS else "numbers, dates or times"
    return False, f"'{actual}' and '{expected}' are not both {wanted}"


def _typed(kind: ValueKind, actual: str, expected: str, *, declared: bool, ignore_case: bool = False) -> tuple | None:
    """Both values read as `kind`, ready to compare; None when either is not of that kind."""
    try:
        match kind:
            case ValueKind.NUMBER:
                return parse_number(actual), parse_number(expected)
            case ValueKind.ID:
                return _ids(actual, expected, declared=declared, ignore_case=ignore_case)
            case ValueKind.DATE:
                return _comparable(parse_moment(actual), parse_moment(expected))
            case ValueKind.TIME:
                return parse_time(actual), parse_time(expected)
            case ValueKind.BOOLEAN:
                return parse_boolean(actual, xsd=declared), parse_boolean(expected, xsd=declared)
            case _:  # text has no other reading: callers compare it as written
                return None
    except InvalidValue:
        return None


def _ids(actual: str, expected: str, *, declared: bool, ignore_case: bool) -> tuple[str, str] | None:
    # Two 15-character values compare as written either way; without a WSDL saying the field
    # holds ids, only an 18-character one shows that the values are ids rather than codes, and
    # only with digits: every id has some (its key prefix, the zeros of its record number),
    # while any 18 letters read as one, which would make text equal in another case.
    if not declared and (18 not in (len(actual), len(expected)) or not (_has_digit(actual) and _has_digit(expected))):
        return None
    pair = parse_salesforce_id(actual), parse_salesforce_id(expected)
    return (pair[0].casefold(), pair[1].casefold()) if ignore_case else pair


def _has_digit(text: str) -> bool:
    return any(char.isdigit() for char in text[:15])


def _comparable(left: date | datetime, right: date | datetime) -> tuple[date, date]:
    # Moments are in UTC already (values.parse_datetime), so their dates are UTC dates.
    if isinstance(left, datetime) and isinstance(right, datetime):
        return left, right
    return _day(left), _day(right)


def _day(moment: date | datetime) -> date:
    return moment.date() if isinstance(moment, datetime) else moment
