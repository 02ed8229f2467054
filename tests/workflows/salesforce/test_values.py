"""Salesforce field values in every shape outbound messages (and people typing piped text) use."""

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from workflows.salesforce.values import (
    InvalidValue,
    ValueKind,
    field_value,
    in_salesforce_range,
    is_known_field,
    kind_of,
    parse_boolean,
    parse_date,
    parse_datetime,
    parse_moment,
    parse_number,
    parse_phone,
    parse_salesforce_id,
    parse_time,
    salesforce_id_forms,
    split_multi_select,
)

# dateTime


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T10:00:00.000Z",
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:00.000+0000",
        "2024-05-01T10:00:00+00:00",
        "2024-05-01T12:00:00+02:00",
        "2024-05-01T12:00:00.000+0200",
        "2024-05-01T05:00:00-05:00",
        "2024-05-01T10:00:00",
        "2024-05-01 10:00",
        " 2024-05-01T10:00:00.000Z\n",
    ],
)
def test_it_reads_each_salesforce_datetime_shape_as_the_same_utc_instant(text):
    moment = parse_datetime(text)
    assert moment == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert moment.utcoffset().total_seconds() == 0


def test_it_keeps_the_fraction_of_a_second():
    assert parse_datetime("2024-05-01T10:00:00.250Z").microsecond == 250_000


@pytest.mark.parametrize(
    "text", ["2024-05-01", "20240501T100000Z", "2024-W18-3T10:00", "2024-05-01T25:00:00Z", "yesterday", ""]
)
def test_it_refuses_what_is_not_a_datetime(text):
    with pytest.raises(InvalidValue, match=f"^'{text}' is not a (valid )?date and time"):
        parse_datetime(text)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+02:00", "9999-12-31T23:00:00-02:00"])
def test_it_refuses_a_datetime_whose_utc_instant_falls_outside_years_1_to_9999(text):
    with pytest.raises(InvalidValue, match=f"^'{re.escape(text)}' is out of range: in UTC it falls before year 1"):
        parse_datetime(text)


@pytest.mark.parametrize("text", ["２０２４-05-01T10:00:00Z", "2024-05-01T١٠:00:00Z"])
def test_it_refuses_a_datetime_in_digits_of_another_script(text):
    with pytest.raises(InvalidValue, match="is not a date and time such as"):
        parse_datetime(text)


# date


def test_it_reads_a_salesforce_date():
    assert parse_date("2011-06-30") == date(2011, 6, 30)


def test_it_reads_a_date_with_an_xsd_zone_as_the_day_written():
    assert parse_date("2011-06-30-05:00") == date(2011, 6, 30)


@pytest.mark.parametrize("text", ["2011-06-31", "20110630", "2011-06", "30/06/2011", "2011-06-30T00:00:00Z"])
def test_it_refuses_what_is_not_a_date(text):
    with pytest.raises(InvalidValue, match=f"'{text}' is not a (valid date|date such as 2011-06-30)"):
        parse_date(text)


def test_it_reads_a_bare_date_as_a_day_and_anything_else_as_an_instant():
    assert parse_moment("2011-06-30") == date(2011, 6, 30)
    assert parse_moment("2011-06-30T08:00:00+0000") == datetime(2011, 6, 30, 8, tzinfo=UTC)


def test_it_names_both_accepted_forms_when_neither_a_date_nor_a_datetime():
    with pytest.raises(InvalidValue, match="'soon' is neither a date such as 2011-06-30 nor a date and time"):
        parse_moment("soon")


# time


@pytest.mark.parametrize("text", ["10:00:00.000Z", "10:00:00", "10:00", "12:00:00+02:00", "12:00:00.000+0200"])
def test_it_reads_a_time_of_day_in_utc(text):
    assert parse_time(text) == time(10, 0)


def test_it_refuses_what_is_not_a_time():
    with pytest.raises(InvalidValue, match="not a time"):
        parse_time("10h")


# boolean


@pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False), ("TRUE", True), (" False ", False)])
def test_it_reads_salesforce_booleans(text, value):
    assert parse_boolean(text) is value


def test_it_reads_1_and_0_as_booleans_only_for_a_declared_boolean():
    assert (parse_boolean("1", xsd=True), parse_boolean("0", xsd=True)) == (True, False)
    with pytest.raises(InvalidValue, match="'1' is not true or false"):
        parse_boolean("1")


def test_it_refuses_yes_as_a_boolean():
    with pytest.raises(InvalidValue):
        parse_boolean("yes", xsd=True)


# numbers: number, currency, percent, int


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1234.5", Decimal("1234.5")),
        ("-3", Decimal("-3")),
        ("+7", Decimal("7")),
        (".5", Decimal("0.5")),
        ("42.", Decimal("42")),
        ("1.0E7", Decimal("10000000")),
        ("2.5e-3", Decimal("0.0025")),
        ("0.1", Decimal("0.1")),
    ],
)
def test_it_reads_salesforce_numbers_exactly(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["NaN", "INF", "Infinity", "1_000", "1,234.5", "12%", "$5", "", "e5"])
def test_it_refuses_what_is_not_plain_decimal_notation(text):
    with pytest.raises(InvalidValue, match="is not a number"):
        parse_number(text)


@pytest.mark.parametrize("text", ["١٢٣", "１２３", "1.5e٣"])
def test_it_refuses_digits_of_other_scripts_as_a_number(text):
    with pytest.raises(InvalidValue, match="is not a number: write digits"):
        parse_number(text)


@pytest.mark.parametrize("text", ["1E9999999999999999999999", "-2.5e-9999999999999999999999"])
def test_it_refuses_an_exponent_past_what_a_number_can_hold(text):
    with pytest.raises(InvalidValue, match="its exponent is out of range"):
        parse_number(text)


def test_it_reads_a_huge_but_holdable_exponent_exactly():
    assert parse_number("1E999999") > parse_number("9.99E999998")


# the dates Salesforce holds


@pytest.mark.parametrize(
    "moment", [date(1700, 1, 1), date(4000, 12, 31), datetime(4000, 12, 31, 23, 59, tzinfo=UTC), date(2011, 6, 30)]
)
def test_it_keeps_a_moment_within_the_dates_salesforce_holds(moment):
    assert in_salesforce_range(moment) == moment


@pytest.mark.parametrize(
    "moment", [date(1699, 12, 31), date(4001, 1, 1), date(1, 1, 1), datetime(9999, 12, 31, 23, tzinfo=UTC)]
)
def test_it_refuses_a_moment_outside_the_dates_salesforce_holds(moment):
    with pytest.raises(InvalidValue, match=r"is outside the dates Salesforce holds \(1700-01-01 to 4000-12-31\)"):
        in_salesforce_range(moment)


# multi-select picklists


def test_it_splits_a_multi_select_picklist_into_its_values():
    assert split_multi_select("Chat;Phone;Web") == ["Chat", "Phone", "Web"]


def test_it_keeps_spaces_inside_a_picklist_value_and_drops_blank_ones():
    assert split_multi_select(" Web Chat ;;Phone;") == ["Web Chat", "Phone"]


def test_it_reads_an_empty_multi_select_as_no_value():
    assert split_multi_select("") == []


# phones


@pytest.mark.parametrize("text", ["+1 415 555 0100", "(415) 555-0100", "415.555.0100", "tel:+1-415-555-0100"])
def test_it_formats_a_phone_in_e164(text):
    assert parse_phone(text, default_region="US") == "+14155550100"


@pytest.mark.parametrize("text", ["+1 415 555 0100 ext. 12", "(415) 555-0100 x12", "+14155550100;ext=12"])
def test_it_keeps_a_phone_extension(text):
    assert parse_phone(text, default_region="US") == "+14155550100;ext=12"


def test_it_reads_a_national_number_in_the_default_region():
    assert parse_phone("020 7946 0958", default_region="GB") == "+442079460958"


@pytest.mark.parametrize("text", ["n/a", "(111) 222-3333", "020 7946 0958", "12"])
def test_it_refuses_what_is_not_a_phone_number_of_the_region(text):
    with pytest.raises(InvalidValue, match="not a valid phone number .*read as US"):
        parse_phone(text, default_region="US")


# Salesforce ids


@pytest.mark.parametrize("text", ["0015g00000ABCDE", "0015g00000ABCDEAA5", "0015G00000ABCDEAA5", "0015g00000abcdeaa5"])
def test_it_reads_the_15_and_18_character_forms_of_an_id_in_any_case_as_one_id(text):
    assert parse_salesforce_id(text) == "0015g00000ABCDE"


def test_it_keeps_the_case_of_a_15_character_id():
    assert parse_salesforce_id("0015g00000abcde") != parse_salesforce_id("0015g00000ABCDE")


@pytest.mark.parametrize(
    "text",
    [
        "0015g00000ABCDE999",  # 9 is no suffix character
        "0015g00000ABCDEEAA",  # E says the third character, a digit, is uppercase
        "0015g00000ABCD",
        "0015g00000ABCDE-AA",
        "Closed",
    ],
)
def test_it_refuses_what_is_not_a_salesforce_id(text):
    with pytest.raises(InvalidValue):
        parse_salesforce_id(text)


@pytest.mark.parametrize(
    ("text", "forms"),
    [
        ("5005g00000ABCDE", ["5005g00000ABCDE", "5005g00000ABCDEAA5"]),
        ("5005G00000abcdeaa5", ["5005G00000abcdeaa5", "5005g00000ABCDEAA5"]),
        ("5005g00000ABCDEAA5", ["5005g00000ABCDEAA5"]),
        ("ada@example.com", ["ada@example.com"]),
    ],
)
def test_it_gives_the_forms_salesforce_writes_an_id_in(text, forms):
    assert salesforce_id_forms(text) == forms


# Fields by name


def test_it_gives_a_fields_value_as_sent():
    fields = {"Subject": " Hi ", "Origin": None, "MailingAddress.city": "Paris"}
    assert (field_value(fields, "Subject"), field_value(fields, "Origin"), field_value(fields, "Nope")) == (
        " Hi ",
        None,
        None,
    )


def test_it_gives_a_compound_fields_value_as_its_components_in_the_order_sent():
    fields = {"Geo__c.latitude": "48.85", "Geo__c.longitude": "-2.0E1", "Geo__cX": "no", "Addr.city": "  "}
    assert field_value(fields, "Geo__c") == "48.85, -2.0E1"
    assert field_value(fields, "Addr") is None


def test_it_knows_the_components_of_a_known_field():
    assert is_known_field("MailingAddress.city", {"MailingAddress"})
    assert is_known_field("MailingAddress", {"MailingAddress"})
    assert not is_known_field("OtherAddress.city", {"MailingAddress"})


# XSD types


@pytest.mark.parametrize(
    ("xsd_type", "kind"),
    [
        ("string", ValueKind.TEXT),
        ("ID", ValueKind.ID),
        ("boolean", ValueKind.BOOLEAN),
        ("double", ValueKind.NUMBER),
        ("int", ValueKind.NUMBER),
        ("date", ValueKind.DATE),
        ("dateTime", ValueKind.DATETIME),
        ("time", ValueKind.TIME),
    ],
)
def test_it_knows_the_kind_of_each_salesforce_xsd_type(xsd_type, kind):
    assert kind_of(xsd_type) == kind


@pytest.mark.parametrize("xsd_type", ["", "anyType"])
def test_it_leaves_undeclared_types_to_inference(xsd_type):
    assert kind_of(xsd_type) is None
