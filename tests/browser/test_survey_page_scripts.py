"""The survey page in a real browser: values piped into an admin's HTML never run as script."""

import pytest
from playwright.sync_api import expect

from distributions.models import Response
from tests.factories import make_contact, make_invitation, make_question, make_survey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PIXEL = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"  # a 1x1 GIF


def test_a_piped_value_used_as_a_link_cannot_run_script(live_server, page, allow_orm_beside_playwright):
    # Salesforce fields can hold what a customer typed (Web-to-Case); escaping keeps it from
    # becoming markup, but inside href="..." a javascript: URL stays a working link.
    survey = make_survey(
        status="active", introduction='Hello, <a id="profile" href="${e://Field/Profile}">see your profile</a>.'
    )
    contact = make_contact(embedded_data={"Profile": "javascript:document.title='ran'"})
    invitation = make_invitation(survey=survey, contact=contact)
    page.goto(f"{live_server.url}/s/{invitation.token}/")
    title = page.title()

    page.click("#profile")
    page.wait_for_timeout(300)

    assert page.title() == title


def test_the_page_keeps_its_styles_and_its_form_under_that_policy(live_server, page, allow_orm_beside_playwright):
    survey = make_survey(status="active")
    question = make_question(survey=survey, kind="text", text="Anything else?")
    invitation = make_invitation(survey=survey)
    page.goto(f"{live_server.url}/s/{invitation.token}/")

    page.fill(f"textarea[name=q{question.pk}]", "All good")
    page.click("button[value=finish]")

    expect(page).to_have_title("Thank you")
    assert page.eval_on_selector("body", "body => getComputedStyle(body).backgroundColor") == "rgb(246, 246, 244)"
    assert Response.objects.get(invitation=invitation).answers == {str(question.pk): "All good"}


def test_the_page_shows_images_of_the_introduction(live_server, page, allow_orm_beside_playwright):
    survey = make_survey(status="active", introduction=f'<img id="logo" src="data:image/gif;base64,{PIXEL}">')
    invitation = make_invitation(survey=survey)

    page.goto(f"{live_server.url}/s/{invitation.token}/")

    assert page.eval_on_selector("#logo", "img => img.complete && img.naturalWidth") == 1
