"""Salesforce field values read as Python values: numbers, booleans, dates, times, lists, phones.

An outbound message carries every field as XML text in the lexical form of the field's XSD type,
which the outbound message's WSDL declares (``Workflow.known_fields``: ``"double"``,
``"dateTime"``...; ``""`` when a field was only seen in messages, then its kind is inferred from
the text). The shapes Salesforce sends (SOAP API Developer Guide, "Primitive Data Types" and
"Field Types"; XML Schema Part 2: Datatypes for the lexical forms):

============================  ===================================  ===============================
Salesforce field              XSD type                             text
============================  ===================================  ===============================
Date                          date                                 ``2011-06-30``
Date/Time                     dateTime                             ``2024-05-01T10:00:00.000Z``,
                                                                   also ``+0000`` / ``+02:00``
Time                          time                                 ``10:00:00.000Z``
Checkbox                      boolean                              ``true`` / ``false``
Number, Currency, Percent     double (int for some standard ones)  ``1234.5``, ``-3``, ``1.0E7``
Multi-select picklist         string                               ``Chat;Phone;Web``
Phone, Text, Picklist          string                               free text
Id, Lookup                    ID                                   ``0015g00000ABCDE`` or its
                                                                   18-character form
                                                                   ``0015g00000ABCDEAA5``
============================  ===================================  ===============================

Piped text that people type (a condition's value, a task's transaction date) and ``${date://...}``
use the same forms. A moment without an offset is UTC, as Salesforce's are.

Every parser takes the text as sent (surrounding whitespace is ignored) and raises
``InvalidValue``, a ``ValueError`` whose message says what was expected. Phones are read by the
directory's ``parse_phone`` (``directory/values.py``, re-exported here), as every contact's are.
"""

import re
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum

# Phones are read as the directory stores them; its InvalidValue is the one every parser here raises.
from directory.values import InvalidValue, parse_phone  # noqa: F401
from workflows.salesforce.build import case_safe_id
from workflows.salesforce.parse import CASE_SAFE_ALPHABET, SALESFORCE_ID, organization_key


class ValueKind(StrEnum):
    """How a field's values are compared; the value is the name people read in notes."""

    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "true/false"
    DATE = "date"
    DATETIME = "date and time"
    TIME = "time"
    ID = "Salesforce id"


# The XSD types (local names, as wsdl.py keeps them) of the fields Salesforce puts in outbound
# messages. Currency and percent fields are doubles; multi-select picklists and phones strings.
XSD_KINDS: dict[str, ValueKind] = {
    "string": ValueKind.TEXT,
    "ID": ValueKind.ID,
    "base64Binary": ValueKind.TEXT,
    "boolean": ValueKind.BOOLEAN,
    "double": ValueKind.NUMBER,
    "float": ValueKind.NUMBER,
    "decimal": ValueKind.NUMBER,
    "int": ValueKind.NUMBER,
    "integer": ValueKind.NUMBER,
    "long": ValueKind.NUMBER,
    "short": ValueKind.NUMBER,
    "date": ValueKind.DATE,
    "dateTime": ValueKind.DATETIME,
    "time": ValueKind.TIME,
}

MULTI_SELECT_SEPARATOR = ";"

# The dates a Salesforce Date or Date/Time field can hold (SOQL and SOSL Reference, "Date Formats
# and Date Literals", minimum and maximum dates): a value outside them came from somewhere else.
SALESFORCE_FIRST_DAY = date(1700, 1, 1)
SALESFORCE_LAST_DAY = date(4000, 12, 31)

# Decimal notation with an optional Java-style exponent (Salesforce sends 1.0E7 for ten million).
# Deliberately narrower than Decimal() and float(), which also read "NaN", "Infinity", "1_000" and
# digits of other scripts ("١٢٣"): every pattern here matches ASCII digits only.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_BOOLEANS = {"true": True, "false": False}
_XSD_BOOLEANS = {**_BOOLEANS, "1": True, "0": False}
_ZONE = r"(Z|[+-]\d{2}(:?\d{2})?)"
_DATE = re.compile(rf"(\d{{4}}-\d{{2}}-\d{{2}}){_ZONE}?", re.ASCII)
_TIME = rf"\d{{2}}:\d{{2}}(:\d{{2}}([.,]\d+)?)?{_ZONE}?"
# A space instead of the T too: people type "2024-05-01 10:00" in conditions.
_DATETIME = re.compile(rf"\d{{4}}-\d{{2}}-\d{{2}}[T ]{_TIME}", re.ASCII)
_TIME_ONLY = re.compile(_TIME, re.ASCII)
_DATE_FORMS = "a date such as 2011-06-30"
_DATETIME_FORMS = "a date and time such as 2024-05-01T10:00:00.000Z (an offset such as +02:00 or +0000 may replace Z)"


def kind_of(xsd_type: str) -> ValueKind | None:
    """The kind of a field the WSDL declares with `xsd_type` (a local name such as ``"double"``).

    None when the type is not known (``""``: the field was only seen in messages; ``"anyType"``),
    so the caller infers the kind from the values.
    """
    return XSD_KINDS.get(xsd_type)


def check_lexical_form(text: str, xsd_type: str) -> None:
    """Raise InvalidValue (saying what was expected) when `text` is not a value Salesforce could
    send for a field of `xsd_type` (a number for double, true or false for boolean, an id for
    ID...), as read by this module's parsers. Text of an undeclared or text type always is."""
    kind = kind_of(xsd_type)
    if kind == ValueKind.NUMBER:
        parse_number(text)
    elif kind == ValueKind.BOOLEAN:
        parse_boolean(text, xsd=True)
    elif kind == ValueKind.DATE:
        parse_date(text)
    elif kind == ValueKind.DATETIME:
        parse_datetime(text)
    elif kind == ValueKind.TIME:
        parse_time(text)
    elif kind == ValueKind.ID:
        parse_salesforce_id(text)


def parse_number(text: str) -> Decimal:
    """``1234.5``, ``-3``, ``.5``, ``1.0E7`` -> Decimal (exact: currency keeps its cents)."""
    value = text.strip()
    if not _NUMBER.fullmatch(value):
        raise InvalidValue(
            f"{value!r} is not a number: write digits with a decimal point and no thousands separator, "
            "e.g. 1234.5 (not 1,234.5)."
        )
    try:
        return Decimal(value)
    except InvalidOperation:  # an exponent past Decimal's limit (about 10**18), far beyond any double
        raise InvalidValue(f"{value!r} is not a number that can be compared: its exponent is out of range.") from None


def parse_boolean(text: str, *, xsd: bool = False) -> bool:
    """``true`` / ``false`` in any case -> bool; with `xsd`, also ``1`` / ``0`` (xsd:boolean's
    other forms, which are numbers when the type is not declared)."""
    value = text.strip().lower()
    forms = _XSD_BOOLEANS if xsd else _BOOLEANS
    if value not in forms:
        raise InvalidValue(f"{text.strip()!r} is not true or false.")
    return forms[value]


def parse_date(text: str) -> date:
    """``2011-06-30`` -> date. An xsd:date may carry a zone (``2011-06-30Z``); the day is kept as
    written, since a calendar date names the same day in any zone."""
    value = text.strip()
    match = _DATE.fullmatch(value)
    if match is None:
        raise InvalidValue(f"{value!r} is not {_DATE_FORMS}.")
    try:
        return date.fromisoformat(match[1])
    except ValueError as error:
        raise InvalidValue(f"{value!r} is not a valid date: {error}.") from None


def parse_datetime(text: str) -> datetime:
    """``2024-05-01T10:00:00.000Z``, ``...+0000``, ``...+02:00``, ``2024-05-01 10:00`` -> an aware
    datetime in UTC. Without an offset the time is UTC, as Salesforce sends it."""
    value = text.strip()
    if not _DATETIME.fullmatch(value):
        raise InvalidValue(f"{value!r} is not {_DATETIME_FORMS}.")
    try:
        # Python 3.11's fromisoformat reads every shape the pattern lets through (Z, +0000, +02:00,
        # a comma or more than six digits in the fraction); the pattern keeps out what it reads
        # beyond ISO 8601's extended form that XSD uses (20240501, week dates).
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidValue(f"{value!r} is not a valid date and time: {error}.") from None
    try:
        return _in_utc(moment)
    except OverflowError:  # 0001-01-01T00:00:00+02:00 is in year 0 in UTC, which datetime cannot hold
        raise InvalidValue(f"{value!r} is out of range: in UTC it falls before year 1 or after year 9999.") from None


def parse_moment(text: str) -> date | datetime:
    """A date or a date and time, whichever the text is: a date for ``2011-06-30`` (it names a
    day, not an instant), else as `parse_datetime`. Raises InvalidValue: the reason a text of
    either shape is not a valid one (2011-02-30, a moment out of range), else naming both forms."""
    value = text.strip()
    if _DATE.fullmatch(value):
        return parse_date(value)
    if _DATETIME.fullmatch(value):
        return parse_datetime(value)
    raise InvalidValue(f"{value!r} is neither {_DATE_FORMS} nor {_DATETIME_FORMS}.")


def in_salesforce_range(moment: date | datetime) -> date | datetime:
    """`moment` (as parse_moment gives it) when its day, in UTC for a date and time, is one a
    Salesforce field can hold (SALESFORCE_FIRST_DAY to SALESFORCE_LAST_DAY); else InvalidValue.

    Within that range a moment can be moved into any time zone and stored by any database."""
    day = moment.date() if isinstance(moment, datetime) else moment
    if not SALESFORCE_FIRST_DAY <= day <= SALESFORCE_LAST_DAY:
        raise InvalidValue(
            f"{moment.isoformat()} is outside the dates Salesforce holds "
            f"({SALESFORCE_FIRST_DAY.isoformat()} to {SALESFORCE_LAST_DAY.isoformat()})."
        )
    return moment


def parse_time(text: str) -> time:
    """``10:00:00.000Z``, ``10:00``, ``10:00:00+02:00`` -> a time of day in UTC, without tzinfo
    (times with and without an offset then compare)."""
    value = text.strip()
    if not _TIME_ONLY.fullmatch(value):
        raise InvalidValue(f"{value!r} is not a time such as 10:00:00.000Z.")
    try:
        moment = time.fromisoformat(value)
    except ValueError as error:
        raise InvalidValue(f"{value!r} is not a valid time: {error}.") from None
    if moment.tzinfo is None:
        return moment
    # Any day serves to apply the offset: a time of day has no date to move across.
    return _in_utc(datetime.combine(date(2000, 1, 1), moment)).time()


def parse_salesforce_id(text: str) -> str:
    """``0015g00000ABCDE`` or ``0015g00000ABCDEAA5`` -> ``0015g00000ABCDE``: the id's 15-character,
    case-sensitive form, which its 15- and 18-character forms share.

    The 18-character form is case-insensitive: its suffix says which of the first 15 characters
    are uppercase letters, so it is read whatever case it is written in. A suffix that names a
    digit as uppercase (or holds a character outside its alphabet) is no checksum of those 15.
    """
    value = text.strip()
    if not SALESFORCE_ID.fullmatch(value):
        raise InvalidValue(f"{value!r} is not a Salesforce id: 15 or 18 letters and digits, e.g. 0015g00000ABCDE.")
    if len(value) == 18 and not _checksum_holds(value):
        raise InvalidValue(f"{value!r} is not a Salesforce id: its last 3 characters do not check its first 15.")
    return organization_key(value)


def canonical_salesforce_id(text: str) -> str:
    """A Salesforce id in the 18-character form Salesforce writes it in (the case of the first 15
    restored from the suffix, the suffix in capitals), whichever form `text` is; `text` as
    written when it is no Salesforce id."""
    value = text.strip()
    try:
        return case_safe_id(parse_salesforce_id(value))
    except InvalidValue:
        return value


def salesforce_id_forms(text: str) -> list[str]:
    """`text` as written and, when it is a Salesforce id, its canonical form: the forms a stored
    id sent by Salesforce can have when `text` names it."""
    value = text.strip()
    canonical = canonical_salesforce_id(value)
    return [value] if canonical == value else [value, canonical]


def _checksum_holds(id18: str) -> bool:
    for chunk, code in enumerate(id18[15:].upper()):
        if code not in CASE_SAFE_ALPHABET:
            return False
        uppercase = CASE_SAFE_ALPHABET.index(code)
        for position, char in enumerate(id18[chunk * 5 : chunk * 5 + 5]):
            if uppercase >> position & 1 and not char.isalpha():
                return False
    return True


def case_safe_suffix_holds(id18: str) -> bool:
    """Whether the last 3 characters of an 18-character Salesforce id are the case-safe suffix of
    its first 15 (Salesforce's CASESAFEID), strictly, for an id an admin copies into a setting.

    Each suffix character names which characters of its 5-character chunk are uppercase letters,
    so it must be of CASE_SAFE_ALPHABET and name no digit (as parse_salesforce_id checks); and when
    the first 15 are written in both cases, as Salesforce writes them (not put in capitals or in
    lowercase since), they must be in the case it names: ``00D5g000004ABCDEAA`` is a mistyped
    ``00D5g000004ABCDEA4``, as ``EAA`` names ``4abcd`` for the last chunk."""
    if len(id18) != 18 or not _checksum_holds(id18):
        return False
    letters = [char for char in id18[:15] if char.isalpha()]
    in_own_case = any(char.isupper() for char in letters) and any(char.islower() for char in letters)
    return not in_own_case or case_safe_id(id18[:15]) == id18[:15] + id18[15:].upper()


def field_value(fields: Mapping[str, str | None], name: str) -> str | None:
    """The value of the field `name` among a notification's fields; None when it is null.

    A compound field (an address such as MailingAddress, a geolocation) or a related record
    arrives as elements, which the parser flattens into dotted names (``MailingAddress.city``):
    its value is then its components' values that are not blank, joined by ", " in the order sent.
    """
    if name in fields:
        return fields[name]
    prefix = f"{name}."
    parts = [value.strip() for key, value in fields.items() if key.startswith(prefix) and value and value.strip()]
    return ", ".join(parts) if parts else None


# The components of Salesforce's compound types (SOAP API Developer Guide, "Compound Fields":
# Address and Geolocation), as they arrive inside such a field.
COMPOUND_COMPONENTS: dict[str, tuple[str, ...]] = {
    "address": (
        "street",
        "city",
        "state",
        "stateCode",
        "postalCode",
        "country",
        "countryCode",
        "latitude",
        "longitude",
        "geocodeAccuracy",
    ),
    "location": ("latitude", "longitude"),
}


def is_known_field(name: str, known: Collection[str]) -> bool:
    """Whether `name` is one of the `known` fields, or a component (``MailingAddress.city``) of one.

    When `known` maps each field to its XSD type (Workflow.known_fields) and the field is of a
    compound type (address, location), the component must be one of that type's
    (COMPOUND_COMPONENTS): ``MailingAddress.cty`` never has a value."""
    if name in known:
        return True
    field, dot, component = name.partition(".")
    if not dot or field not in known:
        return False
    components = COMPOUND_COMPONENTS.get(known[field]) if isinstance(known, Mapping) else None
    return components is None or component in components


def unknown_component(name: str, known: Collection[str]) -> tuple[str, str, tuple[str, ...]] | None:
    """(field, its XSD type, that type's components) when `name` is ``Field.component`` of a known
    compound field (see is_known_field) but the component is not one of its type's; else None."""
    field, dot, component = name.partition(".")
    if not dot or not isinstance(known, Mapping) or field not in known:
        return None
    components = COMPOUND_COMPONENTS.get(known[field])
    if components is None or component in components:
        return None
    return field, known[field], components


def split_multi_select(text: str) -> list[str]:
    """``Chat;Phone;Web`` -> ["Chat", "Phone", "Web"]: a multi-select picklist's selected values,
    in order, blank ones dropped. Salesforce joins them with ``;``, which a value cannot contain."""
    return [value.strip() for value in text.split(MULTI_SELECT_SEPARATOR) if value.strip()]


def _in_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
