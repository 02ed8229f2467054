"""A new admin builds a workflow on one page, fills its task with the piped-text menu only (no
token typed), sends a test event from the admin and watches its run succeed.

Playwright drives Debian's Chromium (see conftest.py) against pytest-django's live server, which
is also PUBLIC_BASE_URL here: the test event is POSTed over HTTP to the workflow's own event URL.
Screenshots at 1280 and 1920 px wide go to var/screenshots/.
"""

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from playwright.sync_api import expect

from tests.browser.layout import VIEWPORT, assert_all_reachable
from tests.factories import make_question, make_sender_domain, make_survey
from workflows.models import Run, Task, Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CASE_WSDL = Path(__file__).parent.parent / "fixtures" / "salesforce" / "Case.wsdl"
PASSWORD = "a-long-workflow-builder-password"
WIDTHS = (1280, 1920)
DISTRIBUTE = "XM Directory: distribute survey"


@pytest.fixture
def admin_with_survey(allow_orm_beside_playwright, settings, live_server):
    settings.PUBLIC_BASE_URL = live_server.url
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)
    make_sender_domain("example.com")
    survey = make_survey(owner=admin, name="Customer satisfaction")
    make_question(survey=survey, text="How did we do?")
    return survey


def test_a_new_admin_builds_a_workflow_with_the_menu_and_tries_it_with_a_test_event(
    live_server, page, screenshot, admin_with_survey
):
    log_in(page, live_server.url)
    build_the_workflow(page, screenshot)
    fill_the_task_with_the_menu(page, screenshot)
    workflow = Workflow.objects.get(name="Case closed")
    task = Task.objects.get(workflow=workflow)
    assert "$" not in task.config["mailing_list"]
    send_a_test_event(page, screenshot, workflow)
    see_the_run_in_workflow_reporting(page, screenshot)
    see_the_tasks_last_run_on_the_workflow_page(page, screenshot, workflow)


def log_in(page, base_url):
    page.goto(f"{base_url}/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("admin")


def at_each_width(page, screenshot, name):
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert_all_reachable(page, f"{name} at {width} px")
        screenshot(f"{name}-{width}")
    page.set_viewport_size(VIEWPORT)


def build_the_workflow(page, screenshot):
    """The add page: event, WSDL, a condition, then a task, with no save before it."""
    page.click("#content-main a.addlink[href$='/admin/workflows/workflow/add/']")
    expect(page.locator("#id_name")).to_be_focused()
    page.fill("#id_name", "Case closed")
    page.fill("#id_salesforce_object", "Case")
    page.set_input_files("#id_wsdl", CASE_WSDL)
    page.click("#conditions-group .add-row a")
    row = page.locator("#conditions-group tr.form-row.dynamic-conditions").last
    row.locator("input[name$='-field']").fill("IsClosed")
    row.locator("select[name$='-operator']").select_option(value="equals")
    row.locator("input[name$='-value']").fill("true")
    expect(page.get_by_role("button", name=DISTRIBUTE)).to_be_visible()
    at_each_width(page, screenshot, "workflow-add")

    page.get_by_role("button", name=DISTRIBUTE).click()  # saves the workflow, opens the task's form
    expect(page).to_have_url(re.compile(r"/admin/workflows/task/add/\?workflow=\d+&kind=distribute_survey"))
    expect(page.locator(".messagelist")).to_contain_text("was saved: fill in its new task")


def choose(page, field_id, search, expected_token, *, down=0):
    """Open the menu beside the field, search, and insert a match (the first, or `down` below it)
    with the keyboard."""
    page.locator(f"#{field_id} + .piped-text-button").click()
    menu = page.locator(".piped-text-menu")
    expect(menu).to_be_visible()
    page.keyboard.type(search)
    for _ in range(down):
        page.keyboard.press("ArrowDown")
    expect(menu.locator("[role=option][aria-selected=true]")).to_contain_text(expected_token)
    page.keyboard.press("Enter")
    expect(menu).to_have_count(0)


def fill_the_task_with_the_menu(page, screenshot):
    page.select_option("#id_survey", label="Customer satisfaction (active)")
    page.fill("#id_mailing_list", "Support customers")
    choose(page, "id_first_name", "Customer_First", "${event://Customer_First_Name__c}")
    choose(page, "id_last_name", "Customer_Last", "${event://Customer_Last_Name__c}")
    choose(page, "id_email", "ContactEmail", "${event://ContactEmail}")
    page.fill("#id_from_email", "surveys@example.com")
    page.fill("#id_subject", "How did we do with case ")
    page.locator("#id_subject").press("End")
    choose(page, "id_subject", "CaseNumber", "${event://CaseNumber}")
    page.fill("#id_html_body", "Hello ")
    page.locator("#id_html_body").press("End")
    choose(page, "id_html_body", "first name", "${m://FirstName}", down=1)  # the contact's, not the event's
    page.locator("#id_html_body").press("End")
    page.keyboard.type(", please tell us how we did: ")
    # The menu open over the body, for the README: its groups, the survey links searched.
    page.locator("#id_html_body + .piped-text-button").click()
    page.keyboard.type("survey link")
    expect(page.locator(".piped-text-menu [role=option][aria-selected=true]")).to_contain_text("${l://SurveyLink")
    at_each_width_keeping_the_menu(page, screenshot, "task-menu")
    page.keyboard.press("Enter")

    expect(page.locator("#id_subject")).to_have_value("How did we do with case ${event://CaseNumber}")
    expect(page.locator("#id_html_body")).to_have_value(
        "Hello ${m://FirstName}, please tell us how we did: ${l://SurveyLink?d=Take the survey}"
    )
    page.click("input[name=_save]")
    expect(page).to_have_url(re.compile(r"/admin/workflows/workflow/\d+/change/$"))
    expect(page.locator("#tasks-group td.field-kind_label")).to_have_text([DISTRIBUTE])


def at_each_width_keeping_the_menu(page, screenshot, name):
    # The menu is a popup: resizing the window could close it, so it is opened at each width.
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if not page.locator(".piped-text-menu").count():
            page.locator("#id_html_body + .piped-text-button").click()
            page.keyboard.type("survey link")
        expect(page.locator(".piped-text-menu")).to_be_visible()
        screenshot(f"{name}-{width}")
    page.set_viewport_size(VIEWPORT)


def send_a_test_event(page, screenshot, workflow):
    page.get_by_role("link", name="Send a test event").click()
    expect(page).to_have_url(re.compile(rf"/admin/workflows/workflow/{workflow.pk}/test-event/$"))
    expect(page.locator("#reaching-people")).to_contain_text(DISTRIBUTE)
    expect(page.locator("#id_test_recipient")).to_have_value("admin@example.com")  # my own inbox
    for name, value in {
        "IsClosed": "true",
        "CaseNumber": "00001026",
        "Customer_First_Name__c": "Ada",
        "Customer_Last_Name__c": "Lovelace",
        "ContactEmail": "ada@example.com",
    }.items():
        page.fill(f"#id_event__{name}", value)
    at_each_width(page, screenshot, "test-event-form")

    page.get_by_role("button", name="Send the test event").click()
    expect(page.locator("#test-event-delivery")).to_contain_text("acknowledged")
    expect(page.locator("#test-event-runs td.run-status")).to_have_text(["Succeeded"])  # refreshed until then
    expect(page.locator(".test-event-status")).to_have_attribute("data-finished", "true")
    expect(page.locator("#test-event-runs td.run-tasks")).to_have_text([f"1. {DISTRIBUTE}: Succeeded (Sending now)"])
    at_each_width(page, screenshot, "test-event-finished")

    run = Run.objects.get()
    assert run.test_event is not None and run.status == Run.Status.SUCCEEDED, run.status_reason
    # The invitation went to the test address, not to the person the event names.
    assert [message.to for message in mail.outbox] == [["admin@example.com"]]
    assert "How did we do with case 00001026" in mail.outbox[0].subject


def see_the_run_in_workflow_reporting(page, screenshot):
    page.locator("#test-event-runs a").first.click()
    expect(page.locator(".field-test_event_note")).to_contain_text("sent from the admin by admin")
    page.locator(".breadcrumbs").get_by_role("link", name="Runs").click()
    page.locator("#changelist-filter").get_by_role("link", name="Test events").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list td.field-test_marker")).to_have_text(["Test"])
    screenshot("reporting-test-events")


def see_the_tasks_last_run_on_the_workflow_page(page, screenshot, workflow):
    page.goto(page.url.split("/admin/")[0] + f"/admin/workflows/workflow/{workflow.pk}/change/")
    expect(page.locator("#tasks-group td.field-last_run a")).to_have_text(["Succeeded"])
    at_each_width(page, screenshot, "workflow-page")
