from datetime import UTC, datetime, timedelta, timezone

import pytest

from workflows.piping import PipingSources, Token, event_fields_used, render, tokens, validate

NOW = datetime(2026, 11, 28, 17, 23, 0, 456789, tzinfo=UTC)
LINKS = {"SurveyLink": "https://x.test/s/abc/?a=1&b=2", "OptOutLink": "https://x.test/o/abc/"}


def sources(**overrides) -> PipingSources:
    return PipingSources(now=NOW, **overrides)


# tokens


def test_it_splits_a_token_into_scheme_path_and_raw():
    assert tokens("Hi ${e://Field/Store name}!") == [
        Token(scheme="e", path="Field/Store name", raw="${e://Field/Store name}", start=3)
    ]


def test_it_marks_a_token_without_closing_brace_as_unterminated():
    [token] = tokens("Hello ${event://Email and more")
    assert (token.raw, token.terminated) == ("${event://Email and more", False)


def test_it_ends_an_unterminated_token_at_the_next_token():
    first, second = tokens("${event://Email ${m://FirstName}")
    assert (first.raw, first.terminated) == ("${event://Email ", False)
    assert (second.raw, second.terminated) == ("${m://FirstName}", True)


# render: schemes


def test_it_pipes_an_event_field():
    assert render("To ${event://Email}", sources(event={"Email": "a@x.test"})).text == "To a@x.test"


def test_it_pipes_custom_and_namespaced_event_fields():
    event = {"Account_Region__c": "EMEA", "npe01__Home__c": "Rome"}
    template = "${event://Account_Region__c}/${event://npe01__Home__c}"
    assert render(template, sources(event=event)).text == "EMEA/Rome"


def test_it_pipes_a_component_of_a_compound_field_or_related_record():
    event = {"MailingAddress.city": "Paris", "Account.Owner.Email": "o@x.test"}
    template = "${event://MailingAddress.city} ${event://Account.Owner.Email}"
    assert render(template, sources(event=event)).text == "Paris o@x.test"


def test_it_pipes_a_compound_field_whole_as_its_components():
    event = {"Location__c.latitude": "48.85", "Location__c.longitude": "2.35"}
    assert render("${event://Location__c}", sources(event=event)).text == "48.85, 2.35"


@pytest.mark.parametrize("known", [{"MailingAddress"}, {"MailingAddress.city"}, None])
def test_it_accepts_a_component_of_a_known_compound_field(known):
    assert validate("${event://MailingAddress.city}", known_event_fields=known) == []


@pytest.mark.parametrize("path", ["MailingAddress.", "MailingAddress..city", ".city"])
def test_it_rejects_a_dotted_name_with_an_empty_part(path):
    [error] = validate(f"${{event://{path}}}")
    assert "is not a Salesforce field API name" in error


def test_it_pipes_event_metadata():
    meta = {"_Object": "Case", "_NotificationId": "04l1", "_OrganizationId": "00D1"}
    template = "${event://_Object} ${event://_NotificationId} ${event://_OrganizationId}"
    assert render(template, sources(event_meta=meta)).text == "Case 04l1 00D1"


def test_it_does_not_read_metadata_from_event_fields():
    result = render("${event://_Object}", sources(event={"_Object": "spoofed"}))
    assert result.text == ""


def test_it_pipes_contact_fields():
    contact = {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Email": "ada@x.test",
        "ExternalDataReference": "003A",
        "Phone": "+390612345678",
        "Language": "IT",
    }
    template = "${m://FirstName}|${m://LastName}|${m://Email}|${m://ExternalDataReference}|${m://Phone}|${m://Language}"
    assert render(template, sources(contact=contact)).text == "Ada|Lovelace|ada@x.test|003A|+390612345678|IT"


def test_it_pipes_embedded_data_with_spaces_in_the_name():
    result = render("${e://Field/Store name}", sources(embedded_data={"Store name": "Milan 2"}))
    assert result.text == "Milan 2"


def test_it_pipes_the_output_of_an_earlier_task():
    outputs = {1: {"ContactId": "CID_1"}, 2: {"ContactId": "CID_2"}}
    assert render("${task://2/ContactId}", sources(task_outputs=outputs)).text == "CID_2"


def test_it_pipes_the_survey_link_as_a_bare_url_in_text():
    result = render("${l://SurveyLink?d=Take the survey}", sources(links=LINKS))
    assert result.text == "https://x.test/s/abc/?a=1&b=2"


def test_it_pipes_the_survey_link_as_an_escaped_anchor_in_html():
    result = render("${l://SurveyLink?d=Take <the> survey}", sources(links=LINKS), html=True)
    assert result.text == '<a href="https://x.test/s/abc/?a=1&amp;b=2">Take &lt;the&gt; survey</a>'


def test_it_shows_the_url_as_link_text_when_no_display_text_is_given():
    result = render("${l://OptOutLink}", sources(links=LINKS), html=True)
    assert result.text == '<a href="https://x.test/o/abc/">https://x.test/o/abc/</a>'


def test_it_pipes_the_survey_url_without_an_anchor_in_html():
    result = render("${l://SurveyURL}", sources(links=LINKS), html=True)
    assert result.text == "https://x.test/s/abc/?a=1&amp;b=2"


def test_it_pipes_the_opt_out_link_and_url():
    template = "${l://OptOutLink?d=Unsubscribe} ${l://OptOutURL}"
    assert render(template, sources(links=LINKS)).text == "https://x.test/o/abc/ https://x.test/o/abc/"


def test_it_pipes_now_in_utc_to_the_second():
    rome = timezone(timedelta(hours=1))
    result = render("${date://now}", PipingSources(now=NOW.astimezone(rome)))
    assert result.text == "2026-11-28T17:23:00Z"


def test_it_pipes_today_as_the_utc_date():
    late_evening_in_new_york = datetime(2026, 11, 28, 21, 0, tzinfo=timezone(timedelta(hours=-5)))
    result = render("${date://today}", PipingSources(now=late_evening_in_new_york))
    assert result.text == "2026-11-29"


def test_it_uses_the_current_time_when_none_is_given():
    before = datetime.now(UTC).replace(microsecond=0)
    piped = datetime.fromisoformat(render("${date://now}", PipingSources()).text)
    assert before <= piped <= datetime.now(UTC)


# render: html and literal text


def test_it_escapes_piped_values_in_html():
    result = render("<p>${event://Subject}</p>", sources(event={"Subject": "<script>"}), html=True)
    assert result.text == "<p>&lt;script&gt;</p>"


RLO, LRE, PDF, RLI, PDI = "\u202e", "\u202a", "\u202c", "\u2067", "\u2069"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # An override or isolate left open would reverse the template's own text after the value.
        (f"Eve {RLO}evil", f"Eve {RLO}evil{PDF}"),
        (f"{RLI}{LRE}x", f"{RLI}{LRE}x{PDF}{PDI}"),
        # A closer without its opener would close the template's own, around the value.
        (f"x{PDF}{PDI}y", "xy"),
        # Balanced controls and right-to-left text are the value's own: kept as they are.
        (f"{RLO}ab{PDF} مرحبا {RLI}c{PDI}", f"{RLO}ab{PDF} مرحبا {RLI}c{PDI}"),
        # A PDI closes the embeddings opened inside its isolate too.
        (f"{RLI}{RLO}a{PDI}b", f"{RLI}{RLO}a{PDI}b"),
    ],
)
def test_bidirectional_controls_of_a_piped_value_stay_inside_it_in_html(value, shown):
    template = "<p>Hello ${m://FirstName}, your case is closed.</p>"
    result = render(template, sources(contact={"FirstName": value}), html=True)
    assert result.text == f"<p>Hello {shown}, your case is closed.</p>"


def test_it_does_not_escape_piped_values_in_text():
    result = render("${event://Subject}", sources(event={"Subject": "<script> & co"}))
    assert result.text == "<script> & co"


def test_it_keeps_javascript_template_literals_and_unknown_schemes_as_written():
    template = "const a = `${name}`; ${foo://X}"
    assert render(template, sources()).text == template


def test_it_keeps_an_unterminated_token_as_written():
    template = "Hello ${event://Email"
    assert render(template, sources(event={"Email": "a@x.test"})).text == template


# render: missing values


def test_it_renders_a_null_field_as_empty_and_notes_it():
    result = render("[${event://Phone}]", sources(event={"Phone": None}))
    assert (result.text, result.missing) == ("[]", ("${event://Phone}",))


def test_it_notes_each_missing_token_once_in_order_of_appearance():
    template = "${m://Email} ${event://Email} ${m://Email} ${task://1/ContactId}"
    result = render(template, sources(event={"Email": "a@x.test"}))
    assert result.missing == ("${m://Email}", "${task://1/ContactId}")


def test_it_notes_a_link_that_has_no_url():
    result = render("${l://SurveyLink?d=Go}", sources(), html=True)
    assert (result.text, result.missing) == ("", ("${l://SurveyLink?d=Go}",))


def test_it_renders_a_malformed_token_of_a_known_scheme_as_missing():
    result = render("a${date://yesterday}b", sources())
    assert (result.text, result.missing) == ("ab", ("${date://yesterday}",))


# validate


def test_it_accepts_every_well_formed_token():
    template = (
        "${event://Email} ${event://_Object} ${m://ExternalDataReference} ${e://Field/Store}"
        " ${task://1/ContactId} ${l://SurveyLink?d=Go} ${l://OptOutURL} ${date://today}"
    )
    assert validate(template) == []


def test_it_ignores_text_that_is_not_shaped_like_a_token():
    assert validate("const a = `${name}`; ${ x } $event://Email}") == []


def test_it_rejects_an_unknown_scheme():
    assert validate("${foo://X}") == ["${foo://X} is not piped text: use event, m, e, task, l or date"]


def test_it_rejects_a_scheme_not_allowed_here():
    assert validate("${task://1/ContactId}", schemes={"event", "date"}) == [
        "${task://1/ContactId} cannot be used here: use event or date"
    ]


def test_it_rejects_an_unterminated_token():
    assert validate("Dear ${event://Email") == ["${event://Email is missing its closing }: write ${event://Email}"]


def test_it_rejects_an_empty_event_field_name():
    [error] = validate("${event://}")
    assert error.startswith("${event://} names no field")


def test_it_rejects_an_event_field_that_is_not_an_api_name():
    [error] = validate("${event://First Name}")
    assert error.startswith("${event://First Name} is not a Salesforce field API name")


def test_it_rejects_unknown_event_metadata():
    assert validate("${event://_Type}") == [
        "${event://_Type} is not event metadata: use _Object, _NotificationId or _OrganizationId"
    ]


def test_it_rejects_an_event_field_the_workflow_does_not_know():
    assert validate("${event://Nope}", known_event_fields={"Subject", "Email", "Id"}) == [
        "${event://Nope} is not a field of this workflow's Salesforce object; known fields: Email, Id, Subject"
    ]


@pytest.mark.parametrize(
    ("written", "meant"),
    [("${event://Emial}", "${event://Email}"), ("${event://email}", "${event://Email}")],
)
def test_it_names_the_known_field_a_misspelt_one_was_meant_as(written, meant):
    assert validate(written, known_event_fields={"Subject", "Email", "Id"}) == [
        f"{written} is not a field of this workflow's Salesforce object: write {meant}"
    ]


def test_it_lists_at_most_twenty_known_fields():
    known = {f"F{number:02}" for number in range(25)}
    [error] = validate("${event://Nope}", known_event_fields=known)
    assert error.endswith("F17, F18, F19 and 5 more")


def test_it_accepts_metadata_whatever_the_known_fields():
    assert validate("${event://_OrganizationId}", known_event_fields=set()) == []


def test_it_skips_the_known_fields_check_when_they_are_not_known():
    assert validate("${event://Anything__c}", known_event_fields=None) == []


def test_it_rejects_an_unknown_contact_field():
    assert validate("${m://Nickname}") == [
        "${m://Nickname} is not a contact field: use FirstName, LastName, Email,"
        " ExternalDataReference, Phone or Language"
    ]


def test_it_rejects_embedded_data_without_the_field_prefix():
    [error] = validate("${e://Store}")
    assert error.startswith("${e://Store} must be written ${e://Field/Name}")


def test_it_rejects_embedded_data_without_a_name():
    [error] = validate("${e://Field/}")
    assert error.startswith("${e://Field/} must be written ${e://Field/Name}")


def test_it_rejects_a_task_token_without_a_position():
    [error] = validate("${task://ContactId}")
    assert error.startswith("${task://ContactId} must be written ${task://<n>/<Output>}")


def test_it_rejects_a_task_position_of_zero():
    assert len(validate("${task://0/ContactId}")) == 1


def test_it_rejects_an_unknown_date():
    assert validate("${date://tomorrow}") == ["${date://tomorrow} is not a date: use ${date://now} or ${date://today}"]


def test_it_rejects_an_unknown_link():
    assert validate("${l://ResultsLink}") == [
        "${l://ResultsLink} is not a link: use SurveyLink, SurveyURL, OptOutLink or OptOutURL"
    ]


def test_it_rejects_display_text_on_a_bare_url():
    [error] = validate("${l://SurveyURL?d=Go}")
    assert error == ("${l://SurveyURL?d=Go} takes no display text: write ${l://SurveyLink?d=Your text} for a link")


def test_it_rejects_a_link_option_other_than_display_text():
    [error] = validate("${l://SurveyLink?x=1}")
    assert error.startswith("${l://SurveyLink?x=1} takes only a display text")


def test_it_reports_a_repeated_error_once():
    assert len(validate("${m://Nick} ${m://Nick}")) == 1


# event_fields_used


def test_it_lists_the_event_fields_a_template_uses():
    template = "${event://Email} ${event://Account_Region__c} ${event://_Object} ${m://Email}"
    assert event_fields_used(template) == {"Email", "Account_Region__c"}


def test_it_leaves_unterminated_tokens_out_of_the_fields_used():
    assert event_fields_used("${event://Email") == set()


# --- look-alikes: text meant as piped text but not written as it -------------------------------


@pytest.mark.parametrize(
    ("template", "written", "meant"),
    [
        (
            "Dear {event://Customer_First_Name__c},",
            "{event://Customer_First_Name__c}",
            "${event://Customer_First_Name__c}",
        ),
        ("Dear ${event:/FirstName},", "${event:/FirstName}", "${event://FirstName}"),
        ("Dear ${event//FirstName},", "${event//FirstName}", "${event://FirstName}"),
        ("Dear ${event:FirstName},", "${event:FirstName}", "${event://FirstName}"),
        ("Dear $ {event://FirstName},", "$ {event://FirstName}", "${event://FirstName}"),
        ("Dear ${ event://FirstName},", "${ event://FirstName}", "${event://FirstName}"),
        ("Dear {{event://FirstName}},", "{event://FirstName}", "${event://FirstName}"),
        ("Hi {m://FirstName}", "{m://FirstName}", "${m://FirstName}"),
        ("Store: {e://Field/Store}", "{e://Field/Store}", "${e://Field/Store}"),
        ("{task://1/ContactId}", "{task://1/ContactId}", "${task://1/ContactId}"),
        ("On {date://today}", "{date://today}", "${date://today}"),
        (
            "{l://SurveyLink?d=Take the survey}",
            "{l://SurveyLink?d=Take the survey}",
            "${l://SurveyLink?d=Take the survey}",
        ),
        ("Open {L://SurveyURL now", "{L://SurveyURL", "${l://SurveyURL}"),
    ],
)
def test_a_look_alike_is_an_error_naming_the_corrected_token(template, written, meant):
    assert validate(template) == [f"{written} is not piped text as written: write {meant}"]
    assert render(template, PipingSources()).text == template  # left as written: why it must be an error


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("${Event://Email}", "${Event://Email} is not piped text: write ${event://Email}"),
        ("${evnt://Email}", "${evnt://Email} is not piped text: write ${event://Email}"),
        ("${foo://X}", "${foo://X} is not piped text: use event, m, e, task, l or date"),
        (
            "Hi ${event://FirstName, welcome",
            "${event://FirstName, welcome is missing its closing }: write ${event://FirstName}",
        ),
        ("${m://firstname}", "${m://firstname} is not a contact field: write ${m://FirstName}"),
        ("${date://Today}", "${date://Today} is not a date: write ${date://today}"),
        ("${l://surveylink?d=Go}", "${l://surveylink?d=Go} is not a link: write ${l://SurveyLink?d=Go}"),
    ],
)
def test_a_wrong_token_names_its_fix_when_there_is_one(template, error):
    assert validate(template) == [error]


def test_look_alikes_and_wrong_tokens_are_reported_in_order():
    assert validate("{m://Email} then ${foo://X} and {date://now}") == [
        "{m://Email} is not piped text as written: write ${m://Email}",
        "${foo://X} is not piped text: use event, m, e, task, l or date",
        "{date://now} is not piped text as written: write ${date://now}",
    ]


def test_a_look_alike_inside_a_token_is_left_to_that_token_s_error():
    [error] = validate("${event://X then {date://now}")
    assert error.startswith("${event://X then {date://now} is not a Salesforce field API name")


@pytest.mark.parametrize(
    "text",
    [
        "p { margin: 0 } a{color:red}",  # CSS in an HTML body
        "const a = `${name}`; let b = {m: 1};",  # a script
        "{event} {e} {date}",  # braces around a scheme's name only
        "mailto:someone@example.com {link}",
    ],
)
def test_text_that_only_resembles_a_look_alike_is_no_error(text):
    assert validate(text) == []


# Tokens written as other tools spell them, and braces once too many


@pytest.mark.parametrize(
    ("template", "meant"),
    [
        ("${contact://Email}", "${m://Email}"),
        ("${contact://firstname}", "${m://FirstName}"),
        ("${ed://Store}", "${e://Field/Store}"),
        ("${ED://Field/Store}", "${e://Field/Store}"),
        ("${embeddedData://Tier}", "${e://Field/Tier}"),
        ("${link://SurveyURL}", "${l://SurveyURL}"),
    ],
)
def test_it_names_the_token_meant_by_another_scheme_name(template, meant):
    assert validate(template) == [f"{template} is not piped text: write {meant}"]


def test_it_names_the_embedded_data_token_meant_without_field():
    assert validate("${e://Store}") == [
        "${e://Store} must be written ${e://Field/Name} with the embedded data name: write ${e://Field/Store}"
    ]


@pytest.mark.parametrize("display", ["", " "])
def test_it_refuses_a_link_with_an_empty_display_text(display):
    # The email would hold <a href="..."></a>: a link nobody can see or click.
    template = f"<p>${{l://SurveyLink?d={display}}}</p>"
    assert validate(template) == [
        f"${{l://SurveyLink?d={display}}} has an empty display text, so the link shows nothing: write "
        "${l://SurveyLink?d=Your text}, or ${l://SurveyLink} to show the address"
    ]


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("${event://ContactId}}", "${event://ContactId}} has one } too many: write ${event://ContactId}"),
        (
            "Case ${${event://CaseNumber}}",
            "${${event://CaseNumber}} wraps piped text in braces once more: write ${event://CaseNumber}",
        ),
    ],
)
def test_it_refuses_braces_once_too_many_around_a_token(template, error):
    assert render(template, PipingSources(event={"ContactId": "003", "CaseNumber": "1026"})).text != "003"
    assert validate(template) == [error]


@pytest.mark.parametrize("template", ["{${event://Email}}", "p { color: red } ${event://Email}", "${name}}"])
def test_it_leaves_braces_that_are_not_a_token_wrapped_twice(template):
    assert validate(template) == []


# Components of compound fields the WSDL declares

COMPOUND_FIELDS = {"MailingAddress": "address", "Location__c": "location", "Email": "string", "Account": "Account"}


@pytest.mark.parametrize(
    ("template", "error"),
    [
        (
            "${event://MailingAddress.cty}",
            "${event://MailingAddress.cty} is not a field: MailingAddress is a compound field (xsd:address in the "
            "WSDL); write ${event://MailingAddress.city}",
        ),
        (
            "${event://Location__c.city}",
            "${event://Location__c.city} is not a field: Location__c is a compound field (xsd:location in the WSDL); "
            "its components: latitude, longitude",
        ),
    ],
)
def test_it_refuses_a_component_that_the_compound_type_has_not(template, error):
    assert validate(template, known_event_fields=COMPOUND_FIELDS) == [error]


@pytest.mark.parametrize(
    "template", ["${event://MailingAddress.postalCode}", "${event://Location__c.latitude}", "${event://Account.Name}"]
)
def test_it_takes_a_component_of_a_compound_type_or_of_a_related_record(template):
    assert validate(template, known_event_fields=COMPOUND_FIELDS) == []
    assert validate(template, known_event_fields=set(COMPOUND_FIELDS)) == []  # names alone: any component
