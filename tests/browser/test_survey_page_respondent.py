"""The survey page as a respondent meets it: on a phone, and with a screen reader, no script needed."""

import pytest
from playwright.sync_api import expect

from tests.factories import make_contact, make_invitation, make_question, make_survey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE_WIDTH = 320  # the narrowest common phone screen, in CSS pixels (WCAG 1.4.10 Reflow)


def test_a_long_unbroken_piped_value_wraps_instead_of_widening_the_page(live_server, page, allow_orm_beside_playwright):
    # A Salesforce field can hold a URL or a word with no space (Web-to-Case forms, ids); piped into
    # the texts, it must wrap, or a phone shows a page to scroll sideways to read every line.
    survey = make_survey(
        status="active",
        introduction="Hello ${m://FirstName}, about ${e://Field/Case}:",
        thank_you="Thanks ${m://FirstName}",
    )
    question = make_question(survey=survey, kind="text", text="How was ${e://Field/Case}?")
    contact = make_contact(first_name="W" * 150, embedded_data={"Case": "https://example.com/" + "a" * 150})
    invitation = make_invitation(survey=survey, contact=contact)
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 700})

    page.goto(f"{live_server.url}/s/{invitation.token}/")
    survey_width = page.evaluate("document.documentElement.scrollWidth")
    page.fill(f"textarea[name=q{question.pk}]", "Fine")
    page.click("button[value=finish]")
    thank_you_width = page.evaluate("document.documentElement.scrollWidth")

    assert (survey_width, thank_you_width) == (PHONE_WIDTH, PHONE_WIDTH)


def test_after_a_refused_submit_focus_is_on_the_errors_and_each_field_is_described_by_its_own(
    live_server, page, allow_orm_beside_playwright
):
    # Blank text passes the browser's own check of a required field, so the server refuses it; a
    # screen reader must land on what went wrong and hear it again on the field. The page runs no
    # script (its Content-Security-Policy allows none).
    survey = make_survey(status="active")
    make_question(survey=survey, kind="rating", text="Recommend us?")
    text = make_question(survey=survey, kind="text", text="Why?", required=True)
    invitation = make_invitation(survey=survey)
    page.goto(f"{live_server.url}/s/{invitation.token}/")
    page.fill(f"textarea[name=q{text.pk}]", "   ")

    page.click("button[value=finish]")

    expect(page).to_have_title("Error: Survey")
    expect(page.locator("[role=alert]")).to_be_focused()
    expect(page.get_by_role("textbox", name="Why? (required)")).to_have_accessible_description(
        "Please answer this question to submit the survey."
    )
    page.get_by_role("link", name="Please answer this question to submit the survey.").click()
    expect(page.get_by_role("textbox", name="Why? (required)")).to_be_focused()
