"""The piped-text menu in a real browser: opened and used with the keyboard only, in light and dark mode.

Playwright drives Debian's Chromium (see conftest.py) against pytest-django's live server.
"""

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.factories import make_directory_task, make_workflow
from workflows.models import Task
from workflows.services.workflow_admin import workflow_fields_from_wsdl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CASE_WSDL = Path(__file__).parent.parent / "fixtures" / "salesforce" / "Case.wsdl"
PASSWORD = "a-long-piped-text-password"


@pytest.fixture
def case_workflow(allow_orm_beside_playwright):
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)
    workflow = make_workflow(name="Case closed", owner=admin)
    workflow_fields_from_wsdl(workflow=workflow, data=CASE_WSDL.read_bytes())
    return workflow


def log_in(page, base_url, next_path):
    page.goto(f"{base_url}/admin/login/?{urlencode({'next': next_path})}")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("admin")


def test_a_token_chosen_with_the_keyboard_is_inserted_at_the_cursor_and_saved(
    live_server, page, screenshot, case_workflow
):
    log_in(page, live_server.url, f"/admin/workflows/task/add/?workflow={case_workflow.pk}&kind=add_to_directory")
    expect(page.locator("#id_first_name")).to_be_visible()
    page.fill("#id_mailing_list", "Support customers")
    page.fill("#id_last_name", "${event://Customer_Last_Name__c}")
    page.fill("#id_email", "${event://ContactEmail}")

    first_name = page.locator("#id_first_name")
    first_name.fill("Dear !")
    first_name.focus()
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")  # the cursor between "Dear " and "!"
    page.keyboard.press("Tab")  # to the menu's button beside the field
    button = page.locator("#id_first_name + .piped-text-button")
    expect(button).to_be_focused()
    page.keyboard.press("Enter")

    menu = page.locator(".piped-text-menu")
    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu.locator(".piped-text-filter")).to_be_focused()
    groups = menu.locator(".piped-text-group")
    expect(groups).to_have_text(
        [
            "Event: Case fields",
            "Event metadata",
            "Contact info",
            "Embedded data",
            "Task outputs",
            "Survey links",
            "Date / time",
        ]
    )
    expect(menu.locator("[role=option]", has_text="Customer_First_Name__c")).to_contain_text("string")
    screenshot("menu-open")

    page.keyboard.type("first name")
    options = menu.locator("[role=option]")
    expect(options).to_have_count(2)  # the event's Customer_First_Name__c and the contact's first name
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(options.nth(0)).to_contain_text("${event://Customer_First_Name__c}")
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(options.nth(1)).to_contain_text("${m://FirstName}")
    page.keyboard.press("ArrowUp")
    screenshot("menu-filtered")
    page.keyboard.press("Enter")

    expect(menu).to_have_count(0)
    expect(first_name).to_be_focused()
    expect(first_name).to_have_value("Dear ${event://Customer_First_Name__c}!")
    assert first_name.evaluate("field => field.selectionStart") == len("Dear ${event://Customer_First_Name__c}")

    page.click("input[name=_save]")
    expect(page).to_have_url(re.compile(rf"/admin/workflows/workflow/{case_workflow.pk}/change/"))
    task = Task.objects.get(workflow=case_workflow)
    assert task.config["first_name"] == "Dear ${event://Customer_First_Name__c}!"


def test_escape_closes_the_menu_and_returns_to_the_field_unchanged(live_server, page, case_workflow):
    log_in(page, live_server.url, f"/admin/workflows/task/add/?workflow={case_workflow.pk}&kind=add_to_directory")
    page.fill("#id_email", "x")
    page.locator("#id_email + .piped-text-button").click()
    expect(page.locator(".piped-text-menu")).to_be_visible()
    page.keyboard.type("zzz-nothing")
    expect(page.locator(".piped-text-menu")).to_contain_text("Nothing matches")
    page.keyboard.press("Escape")
    expect(page.locator(".piped-text-menu")).to_have_count(0)
    expect(page.locator("#id_email")).to_be_focused()
    expect(page.locator("#id_email")).to_have_value("x")


def test_a_condition_value_offers_only_event_fields_and_dates(live_server, page, case_workflow):
    make_directory_task(workflow=case_workflow)
    log_in(page, live_server.url, f"/admin/workflows/workflow/{case_workflow.pk}/change/")
    page.click("#conditions-group .add-row a")
    row = page.locator("#conditions-group tr.form-row.dynamic-conditions").last
    row.locator("input[name$='-value'] + .piped-text-button").click()
    expect(page.locator(".piped-text-group")).to_have_text(["Event: Case fields", "Event metadata", "Date / time"])


def test_the_menu_uses_the_admin_dark_theme(live_server, page, case_workflow):
    page.emulate_media(color_scheme="dark")
    log_in(page, live_server.url, f"/admin/workflows/task/add/?workflow={case_workflow.pk}&kind=add_to_directory")
    page.locator("#id_email + .piped-text-button").click()
    menu = page.locator(".piped-text-menu")
    expect(menu).to_be_visible()
    body_background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert menu.evaluate("menu => getComputedStyle(menu).backgroundColor") == body_background
    # The dark theme's background is dark: the menu is not a white box on a dark page.
    red, green, blue = map(int, re.findall(r"\d+", body_background)[:3])
    assert red + green + blue < 3 * 80, body_background
