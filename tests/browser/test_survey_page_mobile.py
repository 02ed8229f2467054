"""The survey page on a phone: nothing piped into it makes the page wider than the screen."""

import pytest

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
