"""A new admin's first hour, in a real browser: log in, build a workflow, send it a message with
the simulator, find and open the run, replay it, download a distribution-history CSV.

Playwright drives Debian's Chromium (see conftest.py) against pytest-django's live server; every
page visited is saved as a full-page screenshot.
"""

import csv
import io
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import expect

from directory.models import Contact
from tests.browser.layout import VIEWPORT, WIDTHS, assert_all_reachable, assert_in_window
from tests.factories import make_contact, make_distribution, make_invitation, make_survey
from workflows.models import Run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CASE_WSDL = Path(__file__).parent.parent / "fixtures" / "salesforce" / "Case.wsdl"
PASSWORD = "a-long-walkthrough-password"
HISTORY_CSV_HEADER = [
    "Response Id",
    "Last Name",
    "First Name",
    "Email Address",
    "External Data Reference",
    "Status",
    "End Date",
    "Link",
    "Link Expiration",
]


def test_a_new_admin_walks_from_a_workflow_to_its_run_and_a_survey_csv(
    live_server, page, screenshot, allow_orm_beside_playwright
):
    get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)

    log_in(page, live_server.url, screenshot)
    workflow_url, event_url = build_workflow(page, screenshot)
    run = send_message(event_url, live_server.url)
    open_run(page, workflow_url, run, screenshot)
    replay(page, run, screenshot)
    download_history_csv(page, live_server.url, screenshot)


def log_in(page, base_url, screenshot):
    page.goto(f"{base_url}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    wait_for_autofocus(page, "#id_username")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    screenshot("login")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_contain_text("Salesforce surveys")
    expect(page.locator("#user-tools")).to_contain_text("admin")
    screenshot("admin-index")


def build_workflow(page, screenshot):
    """Add a workflow, upload its WSDL, add a condition and a task. -> (change page URL, event URL)."""
    page.click("#content-main a.addlink[href$='/admin/workflows/workflow/add/']")
    wait_for_autofocus(page, "#id_name")
    page.fill("#id_name", "Case closed")
    page.fill("#id_salesforce_object", "Case")
    expect(page.locator("#id_name")).to_have_value("Case closed")
    expect(page.locator("#id_owner option:checked")).to_have_text("admin")  # the owner defaults to me
    screenshot("workflow-add")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    expect(page.locator("#event-url")).to_have_value(re.compile(r"/events/salesforce/"))
    workflow_url = page.url

    page.set_input_files("#id_wsdl", CASE_WSDL)
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("The WSDL declares")
    expect(page.locator(".field-known_fields_table")).to_contain_text("Customer_First_Name__c")
    screenshot("workflow-wsdl-uploaded")

    page.click("#conditions-group .add-row a")
    row = page.locator("#conditions-group tr.form-row.dynamic-conditions").last
    row.locator("input[name$='-field']").fill("IsClosed")
    row.locator("select[name$='-operator']").select_option(label="equals (case-sensitive)")
    row.locator("input[name$='-value']").fill("true")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    expect(page.locator("#conditions-group input[name='conditions-0-field']")).to_have_value("IsClosed")
    screenshot("workflow-condition")

    page.get_by_role("button", name="XM Directory: add to directory").click()  # saves the page, opens the task
    wait_for_autofocus(page, "#id_position")
    page.fill("#id_mailing_list", "Support customers")
    page.fill("#id_first_name", "${event://Customer_First_Name__c}")
    page.fill("#id_last_name", "${event://Customer_Last_Name__c}")
    page.fill("#id_email", "${event://ContactEmail}")
    screenshot("task-add")
    page.click("input[name=_save]")
    expect(page).to_have_url(workflow_url)  # saving a task goes back to its workflow
    task_rows = page.locator("#tasks-group tr.has_original")
    expect(task_rows).to_have_count(1)
    expect(task_rows.locator("td.field-kind_label")).to_have_text("XM Directory: add to directory")
    expect(task_rows.locator("td.field-summary")).to_contain_text("Mailing list: Support customers")
    screenshot("workflow-with-task")
    return workflow_url, page.locator("#event-url").input_value()


def wait_for_autofocus(page, first_field):
    """Wait until the page has focused its first field, so that focus cannot move mid-typing.

    The admin's add forms focus their first field from a script loaded `async`, which may run
    while Playwright types into another field and send the rest of the text to the first one.
    """
    expect(page.locator(first_field)).to_be_focused()


def send_message(event_url, base_url):
    """Play Salesforce against the live server. -> the run it created, executed."""
    # The page shows PUBLIC_BASE_URL's origin (what Salesforce is given); the live server has its own.
    live = urlsplit(base_url)
    url = urlsplit(event_url)._replace(scheme=live.scheme, netloc=live.netloc).geturl()
    call_command(
        "send_outbound_message",
        "--url",
        url,
        "--object",
        "Case",
        "--field",
        "IsClosed=true",
        "--field",
        "Customer_First_Name__c=Ada",
        "--field",
        "Customer_Last_Name__c=Lovelace",
        "--field",
        "ContactEmail=ada@example.com",
        "--field",
        "CaseNumber=00001026",
        "--give-up-after",
        "10",
        "--timeout",
        "15",
        "--quiet",
    )
    # Tests run django-q2 in sync mode: the wake-up job enqueued on commit runs inside the live
    # server's request, so the run has been executed by the time the simulator has its Ack.
    run = Run.objects.get()
    assert run.status == Run.Status.SUCCEEDED, run.status_reason
    return run


def open_run(page, workflow_url, run, screenshot):
    """Find the run from the workflow's page, narrow the list by status, open it."""
    page.goto(workflow_url)
    page.locator(".field-history_links").get_by_role("link", name="Runs").click()
    expect(page).to_have_url(re.compile(r"/admin/workflows/run/\?.*workflow"))
    page.locator("#changelist-filter").get_by_role("link", name="Succeeded").click()
    expect(page).to_have_url(re.compile(r"status"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Case closed")
    screenshot("runs-filtered")

    rows.first.locator(f"a[href*='/admin/workflows/run/{run.pk}/']").first.click()
    expect(page).to_have_url(re.compile(rf"/admin/workflows/run/{run.pk}/"))
    for name, value in (("Customer_First_Name__c", "Ada"), ("ContactEmail", "ada@example.com")):
        expect(value_of(page.locator(".field-event_fields"), name)).to_have_text(value)
    condition = page.locator(".field-conditions tbody tr td")
    expect(condition).to_have_text(
        ["IsClosed", "equals (case-sensitive)", "true", "true", "True", "compared as true/false"]
    )
    output = page.locator("table.task-runs section.task-run-output")
    contact = Contact.objects.get(email="ada@example.com")
    expect(value_of(output, "ContactId")).to_have_text(str(contact.pk))
    expect(value_of(output, "MailingListId")).to_have_text(str(contact.mailing_lists.get().pk))
    expect(value_of(output, "ContactAction")).to_have_text("created")
    see_every_column_of_the_task_table(page, screenshot)


def value_of(table, name):
    """The value cell of a name → value table's row `name`."""
    return table.locator(f"tr:has(> th:text-is('{name}')) > td")


def see_every_column_of_the_task_table(page, screenshot):
    """At each common window width, the task table's output, error and timings are in the window."""
    table = page.locator("table.task-runs")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        where = f"the run page at {width} px"
        assert_in_window(page, table.get_by_text("Output", exact=True).first, f"Output on {where}")
        for header in ("Error", "Started", "Finished", "Duration"):
            assert_in_window(page, table.get_by_role("columnheader", name=header, exact=True), f"{header} on {where}")
        assert_all_reachable(page, where)
        screenshot(f"run-detail-{width}")
    page.set_viewport_size(VIEWPORT)


def replay(page, run, screenshot):
    """Replay from the changelist's action and follow the new run back to the original."""
    page.locator(".breadcrumbs").get_by_role("link", name="Runs").click()
    page.locator(f"#result_list input.action-select[value='{run.pk}']").check()
    action = page.locator("select[name=action] option", has_text=re.compile("^Replay", re.IGNORECASE))
    page.select_option("select[name=action]", value=action.first.get_attribute("value"))
    page.click("button[name=index]")
    # An action may ask for confirmation first (Django's convention: a form posting "post=yes").
    confirmation = page.locator("#content form:has(input[name=post])")
    page.locator(".messagelist").or_(confirmation).first.wait_for()
    if confirmation.count():
        screenshot("replay-confirmation")
        confirmation.locator("[type=submit]").first.click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile("replay|queued", re.IGNORECASE))

    replayed = Run.objects.get(replay_of=run)  # executed inside the action's request, as above
    assert replayed.status == Run.Status.SUCCEEDED, replayed.status_reason
    page.reload()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    screenshot("runs-after-replay")

    page.locator(f"#result_list a[href*='/admin/workflows/run/{replayed.pk}/']").first.click()
    expect(page.locator("#content")).to_contain_text("Replay of")
    expect(page.locator(f"#content a[href*='/admin/workflows/run/{run.pk}/']").first).to_be_visible()
    screenshot("replayed-run")
    run.refresh_from_db()
    assert run.replay_of_id is None and run.status == Run.Status.SUCCEEDED  # history untouched


def download_history_csv(page, base_url, screenshot):
    survey = make_survey(name="Customer satisfaction")
    distribution = make_distribution(survey=survey, subject="How did we do?")
    contact = make_contact(first_name="Grace", last_name="Hopper", email="grace@example.com")
    make_invitation(distribution=distribution, contact=contact)

    page.goto(f"{base_url}/admin/distributions/survey/")
    page.locator("#result_list tr", has_text=survey.name).get_by_role("link", name="Distributions").click()
    expect(page).to_have_url(re.compile(rf"/admin/distributions/survey/{survey.pk}/distributions/"))
    expect(page.locator("tr.distribution-row")).to_have_count(1)
    screenshot("survey-distributions")

    with page.expect_download() as download_info:
        page.locator("tr.distribution-row").get_by_role("link", name="CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv"), download.suggested_filename
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == HISTORY_CSV_HEADER
    assert ["Hopper", "Grace", "grace@example.com"] == rows[1][1:4], rows
