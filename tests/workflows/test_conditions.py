import pytest

from workflows.conditions import (
    OPERATOR_LABELS,
    ConditionRow,
    Match,
    Operator,
    RowResult,
    evaluate,
    literal_value_error,
    piped_value_error,
)


def check(operator: Operator, actual: str | None, expected: str = "", *, xsd_type: str = "") -> RowResult:
    """Evaluate one row of field F against an event where F is `actual` (declared `xsd_type` by a WSDL)."""
    event = {} if actual is None else {"F": actual}
    row = ConditionRow(field="F", operator=operator, value=expected)
    _, [result] = evaluate([row], match=Match.ALL, event=event, field_types={"F": xsd_type})
    return result


# Compound fields and related records, which arrive flattened into dotted names


def test_it_reads_a_compound_field_as_its_components():
    event = {"MailingAddress.city": "Paris", "MailingAddress.country": "FR", "MailingAddress.street": None}
    rows = [
        ConditionRow(field="MailingAddress", operator=Operator.IS_NOT_EMPTY),
        ConditionRow(field="MailingAddress", operator=Operator.CONTAINS, value="paris"),
        ConditionRow(field="MailingAddress.country", operator=Operator.EQUALS, value="FR"),
    ]
    passed, results = evaluate(rows, match=Match.ALL, event=event)
    assert passed, results
    assert results[0].actual == "Paris, FR"


def test_it_finds_a_compound_field_without_components_empty():
    assert check(Operator.IS_EMPTY, None).passed
    _, [result] = evaluate(
        [ConditionRow(field="Location__c", operator=Operator.IS_EMPTY)],
        match=Match.ALL,
        event={"Location__c.latitude": None, "Location__cX": "1"},
    )
    assert result.passed


# Salesforce ids: 0015g00000ABCDE's 18-character form is 0015g00000ABCDEAA5.


@pytest.mark.parametrize("xsd_type", ["ID", ""])
@pytest.mark.parametrize("expected", ["0015g00000ABCDE", "0015G00000ABCDEAA5", "0015g00000abcdeaa5"])
def test_it_compares_the_15_and_18_character_forms_of_an_id_as_one_id(xsd_type, expected):
    result = check(Operator.EQUALS, "0015g00000ABCDEAA5", expected, xsd_type=xsd_type)
    assert (result.passed, result.note) == (True, "compared as Salesforce ids")
    assert not check(Operator.NOT_EQUALS, "0015g00000ABCDEAA5", expected, xsd_type=xsd_type).passed


@pytest.mark.parametrize("xsd_type", ["ID", ""])
def test_it_tells_apart_15_character_ids_that_differ_only_in_case(xsd_type):
    # Another record: a 15-character id is case-sensitive.
    assert not check(Operator.EQUALS, "0015g00000ABCDEAA5", "0015g00000abcde", xsd_type=xsd_type).passed
    assert not check(Operator.EQUALS, "0015g00000ABCDE", "0015g00000abcde", xsd_type=xsd_type).passed


@pytest.mark.parametrize("expected", ["escalatedtomanager", "ESCALATEDTOMANAG"[:15]])
def test_it_compares_18_letters_as_text_without_a_wsdl(expected):
    # Letters alone read as an 18-character id (its suffix naming which are capitals): a text
    # value is no id, and equals (case-sensitive) must not find it equal to another case or to
    # its first 15 letters.
    result = check(Operator.EQUALS, "ESCALATEDTOMANAGER", expected)
    assert (result.passed, result.note) == (False, "")


def test_it_compares_a_declared_id_with_what_is_no_id_as_text_with_a_note():
    result = check(Operator.EQUALS, "0015g00000ABCDEAA5", "Acme", xsd_type="ID")
    assert not result.passed
    assert result.note == "'0015g00000ABCDEAA5' and 'Acme' are not both Salesforce ids: compared as text"


def test_it_refuses_a_literal_that_is_no_id_for_a_declared_id_field():
    assert "xsd:ID" in literal_value_error(Operator.EQUALS, "Acme", xsd_type="ID")
    assert literal_value_error(Operator.EQUALS, "0015g00000ABCDE", xsd_type="ID") is None


# equals / not equals


def test_it_passes_equals_on_identical_text():
    assert check(Operator.EQUALS, "Closed", "Closed").passed


def test_it_fails_equals_on_different_case():
    assert not check(Operator.EQUALS, "closed", "Closed").passed


def test_it_ignores_surrounding_whitespace_in_equals():
    assert check(Operator.EQUALS, " Closed ", "Closed\n").passed


def test_it_compares_numbers_numerically_in_equals():
    result = check(Operator.EQUALS, "39.0", "39")
    assert (result.passed, result.note) == (True, "compared as numbers")


def test_it_compares_booleans_case_insensitively_in_equals():
    assert check(Operator.EQUALS, "true", "True").passed


def test_it_fails_equals_between_different_booleans():
    assert not check(Operator.EQUALS, "false", "TRUE").passed


def test_it_does_not_read_infinity_as_a_number():
    assert not check(Operator.GREATER_THAN, "inf", "5").passed


def test_it_treats_an_absent_field_as_empty_in_equals():
    assert check(Operator.EQUALS, None, "").passed


def test_it_passes_not_equals_on_different_text():
    assert check(Operator.NOT_EQUALS, "Open", "Closed").passed


def test_it_fails_not_equals_on_equal_numbers():
    assert not check(Operator.NOT_EQUALS, "5.00", "5").passed


# contains / not contains


def test_it_passes_contains_case_insensitively():
    assert check(Operator.CONTAINS, "Acme Corporation", "corp").passed


def test_it_fails_contains_when_the_text_is_absent():
    assert not check(Operator.CONTAINS, "Acme", "corp").passed


def test_it_passes_not_contains_when_the_text_is_absent():
    assert check(Operator.NOT_CONTAINS, "Acme", "corp").passed


def test_it_fails_not_contains_case_insensitively():
    assert not check(Operator.NOT_CONTAINS, "ACME CORP", "corp").passed


def test_it_still_finds_a_substring_of_a_picklist_value_with_contains():
    assert check(Operator.CONTAINS, "Chatter;Phone", "Chat").passed


# includes / excludes (multi-select picklists)


def test_it_passes_includes_for_one_of_the_selected_values():
    assert check(Operator.INCLUDES, "Chat;Phone;Web", "Phone").passed


def test_it_fails_includes_for_a_value_that_only_starts_a_selected_one():
    assert not check(Operator.INCLUDES, "Chatter;Phone", "Chat").passed


def test_it_passes_includes_case_insensitively_and_ignoring_spaces():
    assert check(Operator.INCLUDES, "Chat; Web Form", "web form").passed


def test_it_passes_includes_of_several_values_only_when_all_are_selected():
    assert check(Operator.INCLUDES, "Chat;Phone;Web", "Web;Chat").passed
    assert not check(Operator.INCLUDES, "Chat;Phone;Web", "Chat;Email").passed


def test_it_fails_includes_on_an_empty_field():
    assert not check(Operator.INCLUDES, None, "Chat").passed


def test_it_fails_includes_without_a_value_to_look_for():
    result = check(Operator.INCLUDES, "Chat", " ; ")
    assert (result.passed, result.note) == (False, "no value to look for")


def test_it_passes_excludes_when_the_value_only_starts_a_selected_one():
    assert check(Operator.EXCLUDES, "Chatter;Phone", "Chat").passed


def test_it_fails_excludes_for_a_selected_value():
    assert not check(Operator.EXCLUDES, "Chat;Phone", "chat").passed


def test_it_passes_excludes_on_an_empty_field():
    assert check(Operator.EXCLUDES, "", "Chat").passed


# is empty / is not empty


def test_it_passes_is_empty_for_an_absent_field():
    assert check(Operator.IS_EMPTY, None).passed


def test_it_passes_is_empty_for_a_null_field():
    _, [result] = evaluate([ConditionRow(field="F", operator=Operator.IS_EMPTY)], match=Match.ALL, event={"F": None})
    assert result.passed


def test_it_passes_is_empty_for_whitespace():
    assert check(Operator.IS_EMPTY, "  \t").passed


def test_it_fails_is_empty_for_a_value():
    assert not check(Operator.IS_EMPTY, "x").passed


def test_it_passes_is_not_empty_for_a_value():
    assert check(Operator.IS_NOT_EMPTY, "x").passed


def test_it_fails_is_not_empty_for_whitespace():
    assert not check(Operator.IS_NOT_EMPTY, " ").passed


# greater than / less than


def test_it_compares_numbers_numerically_in_greater_than():
    assert check(Operator.GREATER_THAN, "10", "9.5").passed


def test_it_compares_numbers_numerically_in_less_than():
    assert check(Operator.LESS_THAN, "9", "10").passed


def test_it_fails_greater_than_on_equal_numbers():
    assert not check(Operator.GREATER_THAN, "5", "5.0").passed


def test_it_compares_salesforce_datetimes():
    result = check(Operator.GREATER_THAN, "2017-09-01T16:27:19.000Z", "2017-09-01T16:27:18Z")
    assert (result.passed, result.note) == (True, "compared as dates")


def test_it_compares_dates():
    assert check(Operator.LESS_THAN, "1978-01-01", "1978-01-02").passed


def test_it_compares_a_datetime_with_a_date_by_its_utc_date():
    # 23:30 at UTC-5 is already the next day in UTC.
    assert check(Operator.GREATER_THAN, "2017-09-01T23:30:00-05:00", "2017-09-01").passed


def test_it_fails_a_datetime_against_the_same_date():
    assert not check(Operator.LESS_THAN, "2017-09-01T10:00:00.000Z", "2017-09-01").passed


def test_it_fails_greater_than_on_text_with_a_note():
    result = check(Operator.GREATER_THAN, "abc", "5")
    assert (result.passed, result.note) == (False, "'abc' and '5' are not both numbers, dates or times")


def test_it_fails_less_than_on_an_empty_field():
    assert not check(Operator.LESS_THAN, None, "5").passed


def test_it_compares_java_style_exponents_as_numbers():
    assert check(Operator.EQUALS, "1.0E7", "10000000").passed
    assert check(Operator.GREATER_THAN, "1.0E7", "9999999.99").passed


def test_it_compares_datetimes_with_offsets_as_instants():
    # 11:00 at +02:00 is 09:00 UTC.
    assert check(Operator.GREATER_THAN, "2024-05-01T10:00:00.000+0000", "2024-05-01T11:00:00+02:00").passed


def test_it_equals_one_instant_written_in_two_shapes():
    result = check(Operator.EQUALS, "2024-05-01T12:00:00.000+0200", "2024-05-01T10:00:00Z")
    assert (result.passed, result.note) == (True, "compared as dates")


def test_it_equals_a_datetime_and_its_utc_date():
    assert check(Operator.EQUALS, "2024-05-01T23:30:00.000Z", "2024-05-01").passed


def test_it_compares_times_of_day():
    result = check(Operator.GREATER_THAN, "10:00:00.000Z", "09:30")
    assert (result.passed, result.note) == (True, "compared as times")


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        ("0001-01-01T00:00:00+02:00", "2020-01-01"),  # in year 0 in UTC
        ("9999-12-31T23:00:00-02:00", "2020-01-01T00:00:00Z"),  # in year 10000 in UTC
        ("1E9999999999999999999999", "5"),  # past Decimal's exponent limit
    ],
)
def test_it_fails_greater_than_with_a_note_on_a_value_out_of_range(actual, expected):
    result = check(Operator.GREATER_THAN, actual, expected)
    assert (result.passed, result.note) == (False, f"'{actual}' and '{expected}' are not both numbers, dates or times")


def test_it_compares_as_text_a_value_out_of_range_of_its_declared_kind():
    result = check(Operator.EQUALS, "0001-01-01T00:00:00+02:00", "0001-01-01T00:00:00+02:00", xsd_type="dateTime")
    assert result.passed
    assert result.note.endswith("are not both dates: compared as text")


# kinds declared by the WSDL


def test_it_compares_a_declared_text_field_as_text_even_when_it_holds_digits():
    assert check(Operator.EQUALS, "00001026", "1026").passed
    assert not check(Operator.EQUALS, "00001026", "1026", xsd_type="string").passed


def test_it_still_orders_numbers_held_by_a_declared_text_field():
    assert check(Operator.GREATER_THAN, "10", "9", xsd_type="string").passed


def test_it_reads_1_as_true_for_a_declared_boolean():
    result = check(Operator.EQUALS, "1", "true", xsd_type="boolean")
    assert (result.passed, result.note) == (True, "compared as true/false")


def test_it_compares_a_declared_date_with_a_datetime_by_its_utc_date():
    # 22:00 at -05:00 on June 30 is July 1 in UTC.
    assert check(Operator.EQUALS, "2011-07-01", "2011-06-30T22:00:00-05:00", xsd_type="date").passed
    assert not check(Operator.EQUALS, "2011-06-30", "2011-06-30T22:00:00-05:00", xsd_type="date").passed


def test_it_compares_a_value_not_of_the_declared_kind_as_text_with_a_note():
    result = check(Operator.EQUALS, "n/a", "5", xsd_type="double")
    assert (result.passed, result.note) == (False, "'n/a' and '5' are not both numbers: compared as text")


def test_it_fails_greater_than_on_a_declared_date_against_a_number():
    result = check(Operator.GREATER_THAN, "2011-06-30", "5", xsd_type="date")
    assert (result.passed, result.note) == (False, "'2011-06-30' and '5' are not both dates")


# combining rows


def rows() -> list[ConditionRow]:
    return [
        ConditionRow(field="Status", operator=Operator.EQUALS, value="Closed"),
        ConditionRow(field="Priority", operator=Operator.EQUALS, value="High"),
    ]


def test_it_meets_all_when_every_row_passes():
    met, _ = evaluate(rows(), match=Match.ALL, event={"Status": "Closed", "Priority": "High"})
    assert met


def test_it_fails_all_when_one_row_fails():
    met, _ = evaluate(rows(), match=Match.ALL, event={"Status": "Closed", "Priority": "Low"})
    assert not met


def test_it_meets_any_when_one_row_passes():
    met, _ = evaluate(rows(), match=Match.ANY, event={"Status": "Open", "Priority": "High"})
    assert met


def test_it_fails_any_when_no_row_passes():
    met, _ = evaluate(rows(), match=Match.ANY, event={"Status": "Open", "Priority": "Low"})
    assert not met


def test_it_meets_conditions_without_rows_whatever_the_match():
    assert evaluate([], match=Match.ANY, event={}) == (True, [])


def test_it_reports_every_row_even_after_the_outcome_is_known():
    _, results = evaluate(rows(), match=Match.ANY, event={"Status": "Closed", "Priority": "Low"})
    assert [result.passed for result in results] == [True, False]


def test_it_reports_expected_and_actual_as_given():
    _, [result] = evaluate(
        [ConditionRow(field="Status", operator=Operator.EQUALS, value=" Closed ")],
        match=Match.ALL,
        event={"Status": None},
    )
    assert (result.field, result.expected, result.actual) == ("Status", " Closed ", None)


def test_it_compares_against_the_resolved_value():
    row = ConditionRow(field="Email", operator=Operator.EQUALS, value="${event://Alt}")
    met, [result] = evaluate(
        [row],
        match=Match.ALL,
        event={"Email": "a@x.test"},
        resolve=lambda value: value.replace("${event://Alt}", "a@x.test"),
    )
    assert (met, result.expected) == (True, "a@x.test")


def test_it_labels_every_operator():
    assert set(OPERATOR_LABELS) == set(Operator)
    assert OPERATOR_LABELS[Operator.NOT_EQUALS] == "does not equal (case-sensitive)"


@pytest.mark.parametrize("operator", [op for op in Operator if op not in (Operator.IS_EMPTY, Operator.IS_NOT_EMPTY)])
def test_every_operator_that_compares_text_says_whether_case_matters(operator):
    assert OPERATOR_LABELS[operator].endswith(("(case-sensitive)", "ignoring case)")) or operator in (
        Operator.GREATER_THAN,
        Operator.LESS_THAN,
    )


def row_passes(operator, actual, expected, field_types=None):
    met, [result] = evaluate(
        [ConditionRow(field="Origin", operator=operator, value=expected)],
        match=Match.ALL,
        event={"Origin": actual},
        field_types=field_types,
    )
    return met


@pytest.mark.parametrize("field_types", [None, {"Origin": "string"}])
def test_equals_is_case_sensitive_and_equals_ignoring_case_is_not(field_types):
    assert row_passes(Operator.EQUALS, "Web", "WEB", field_types) is False
    assert row_passes(Operator.NOT_EQUALS, "Web", "WEB", field_types) is True
    assert row_passes(Operator.EQUALS_IGNORING_CASE, "Web", "WEB", field_types) is True
    assert row_passes(Operator.NOT_EQUALS_IGNORING_CASE, "Web", "WEB", field_types) is False
    assert row_passes(Operator.EQUALS_IGNORING_CASE, "Web", "Phone", field_types) is False
    assert row_passes(Operator.NOT_EQUALS_IGNORING_CASE, "Web", "Phone", field_types) is True


def test_ignoring_case_still_compares_numbers_and_dates_as_such():
    assert row_passes(Operator.EQUALS_IGNORING_CASE, "1.0E7", "10000000") is True
    assert row_passes(Operator.EQUALS_IGNORING_CASE, "2024-05-01T10:00:00Z", "2024-05-01") is True
    assert row_passes(Operator.NOT_EQUALS_IGNORING_CASE, "39.0", "39") is False
    declared = {"Origin": "dateTime"}
    assert row_passes(Operator.EQUALS_IGNORING_CASE, "2024-05-01T10:00:00.000Z", "2024-05-01T10:00:00Z", declared)


# values written in the condition form


def test_it_refuses_includes_without_a_value():
    assert "Write the picklist value to look for" in literal_value_error(Operator.INCLUDES, " ")


def test_it_refuses_greater_than_text():
    assert literal_value_error(Operator.GREATER_THAN, "high") == (
        "Is greater than compares numbers, dates or times: write a number (1234.5), a date (2011-06-30) "
        "or a date and time (2024-05-01T10:00:00Z)."
    )


def test_it_refuses_a_value_not_of_the_declared_kind():
    assert literal_value_error(Operator.EQUALS, "yes", xsd_type="boolean") == (
        "The WSDL declares this field as xsd:boolean: write true or false."
    )


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+02:00", "1E9999999999999999999999"])
def test_it_refuses_a_written_value_out_of_range(value):
    assert literal_value_error(Operator.GREATER_THAN, value).startswith("Is greater than compares numbers")


def test_it_refuses_a_written_value_out_of_range_of_its_declared_kind():
    error = literal_value_error(Operator.LESS_THAN, "9999-12-31T23:00:00-02:00", xsd_type="dateTime")
    assert error == "The WSDL declares this field as xsd:dateTime: " + (
        "write a date such as 2011-06-30 or a date and time such as 2024-05-01T10:00:00Z."
    )


@pytest.mark.parametrize(
    ("operator", "value", "xsd_type"),
    [
        (Operator.INCLUDES, "Chat;Web", ""),
        (Operator.GREATER_THAN, "1.0E7", ""),
        (Operator.LESS_THAN, "2024-05-01T10:00:00+0000", "dateTime"),
        (Operator.EQUALS, "2011-06-30", "dateTime"),
        (Operator.EQUALS, "", "double"),
        (Operator.EQUALS, "anything", "string"),
        (Operator.CONTAINS, "anything", "double"),
    ],
)
def test_it_accepts_values_the_operator_can_compare(operator, value, xsd_type):
    assert literal_value_error(operator, value, xsd_type=xsd_type) is None


@pytest.mark.parametrize("xsd_type", ["boolean", "ID"])
@pytest.mark.parametrize("operator", [Operator.GREATER_THAN, Operator.LESS_THAN])
@pytest.mark.parametrize("value", ["5", "2024-05-01", "true"])
def test_it_refuses_greater_or_less_than_for_a_field_declared_true_false_or_id(xsd_type, operator, value):
    # Its values are never numbers, dates or times: the condition would fail every run.
    error = literal_value_error(operator, value, xsd_type=xsd_type)
    assert error.startswith(f"The WSDL declares this field as xsd:{xsd_type} (")
    assert error.endswith("fails every run. Use equals or does not equal.")
    assert piped_value_error(operator, field_type=xsd_type, value_type="double") == error
    assert piped_value_error(operator, field_type=xsd_type, value_type="string") == error


@pytest.mark.parametrize(
    ("operator", "error"),
    [
        (Operator.CONTAINS, "so this would always pass. To test for a value, use is not empty."),
        (Operator.NOT_CONTAINS, "so this would never pass. To test for no value, use is empty."),
    ],
)
@pytest.mark.parametrize("value", ["", "   "])
def test_it_refuses_contains_without_text_to_look_for(operator, error, value):
    assert literal_value_error(operator, value) == (
        f"Write the text to look for: every value contains empty text, {error}"
    )


def test_it_says_a_number_takes_no_thousands_separator():
    # As people type numbers: 1,000.5 is one thousand, which Salesforce sends as 1000.5.
    assert literal_value_error(Operator.GREATER_THAN, "1,000.5", xsd_type="double") == (
        "The WSDL declares this field as xsd:double: write a number with a decimal point and no thousands "
        "separator, e.g. 1234.5 (not 1,234.5)."
    )
