from workflows.conditions import OPERATOR_LABELS, ConditionRow, Match, Operator, RowResult, evaluate


def check(operator: Operator, actual: str | None, expected: str = "") -> RowResult:
    """Evaluate one row of field F against an event where F is `actual`."""
    event = {} if actual is None else {"F": actual}
    _, [result] = evaluate([ConditionRow(field="F", operator=operator, value=expected)], match=Match.ALL, event=event)
    return result


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
    assert (result.passed, result.note) == (False, "'abc' and '5' are not both numbers or dates")


def test_it_fails_less_than_on_an_empty_field():
    assert not check(Operator.LESS_THAN, None, "5").passed


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
    assert OPERATOR_LABELS[Operator.NOT_EQUALS] == "does not equal"
