"""Admin pages holding long values (survey links, HTML bodies, raw payloads) at common window
widths: every column and value is in the window or behind a visible scroll bar, never cut off.

Each page is saved as a screenshot at each width.
"""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from directory.models import Transaction
from distributions.models import OutboxMessage
from tests.browser.layout import VIEWPORT, WIDTHS, assert_all_reachable, assert_in_window
from tests.factories import (
    case_fields,
    make_contact,
    make_delivery_event,
    make_directory_task,
    make_invitation,
    make_question,
    make_run,
    make_survey_response,
    make_task_run,
    make_workflow,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-wide-pages-password"
SURVEY_LINK = "http://127.0.0.1:8000/s/k7Yb2uQ0c1Xr9ZpTn4LmA6WdE3FsH8JgVqRtYi5O/"
HTML_BODY = (
    "<p>Hello Ada,</p>\n<p>your case 00001026 (Printer jammed) is closed. Two minutes of your time would help "
    f'us a lot: <a href="{SURVEY_LINK}">take the survey</a>.</p>'
)
LONG_URL = "https://support.example.com/cases/00001026/attachments/" + "8f3a" * 40


@pytest.fixture
def logged_in(live_server, page, allow_orm_beside_playwright):
    get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_be_visible()
    return live_server.url


def distributed_run():
    """A run whose survey task sent an invitation and whose directory task failed, as a worker records them."""
    workflow = make_workflow(name="Case closed")
    run = make_run(workflow=workflow, status="failed", fields=case_fields(Attachment__c=LONG_URL))
    resolved = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "external_data_reference": "0035g00000XYZabcAAA",
        "data_fields.Attachment": LONG_URL,
        "subject": "How did we do with case 00001026?",
        "html_body": HTML_BODY,
    }
    outputs = {
        "ContactId": "1",
        "DistributionId": "1",
        "InvitationId": "1",
        "SurveyLink": SURVEY_LINK,
        "Outcome": "Sending now",
    }
    make_task_run(
        run=run, kind="distribute_survey", resolved_input=resolved, output=outputs, notes=["ContactId was empty."]
    )
    make_task_run(
        run=run,
        position=2,
        kind="add_to_directory",
        status="failed",
        resolved_input=resolved,
        error="Transaction date '2026-13-45' is not a date: use a date field such as ${event://ClosedDate}.",
    )
    return run


def test_the_run_page_shows_every_column_of_a_distribute_task(logged_in, page, screenshot):
    run = distributed_run()
    page.goto(logged_in + reverse("admin:workflows_run_change", args=[run.pk]))
    table = page.locator("table.task-runs")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        where = f"the run page at {width} px"
        assert_in_window(page, table.get_by_text("Output", exact=True).first, f"Output on {where}")
        assert_in_window(page, table.get_by_text(SURVEY_LINK).first, f"the survey link on {where}")
        for header in ("Error", "Notes", "Started", "Finished", "Duration"):
            assert_in_window(page, table.get_by_role("columnheader", name=header, exact=True), f"{header} on {where}")
        assert_all_reachable(page, where)
        screenshot(f"run-{width}")
    page.set_viewport_size(VIEWPORT)


def test_pages_with_long_values_keep_them_reachable(logged_in, page, screenshot):
    run = distributed_run()
    task = make_directory_task(workflow=run.workflow, data_fields=[["Attachment", LONG_URL]])
    contact = make_contact(first_name="Ada", email="ada@example.com", embedded_data={"Attachment": LONG_URL})
    Transaction.objects.create(contact=contact, transaction_date=timezone.now(), data={"Attachment": LONG_URL})
    invitation = make_invitation(contact=contact, html_body=HTML_BODY, text_body=f"Take the survey: {SURVEY_LINK}")
    make_delivery_event(
        invitation=invitation, kind="bounced", description=f"550 5.1.1 {LONG_URL}", data={"raw": LONG_URL}
    )
    question = make_question(survey=invitation.distribution.survey, text="What could we do better?")
    response = make_survey_response(invitation=invitation, answers={str(question.pk): LONG_URL})
    message = OutboxMessage.objects.create(
        from_email="surveys@example.com", to="ada@example.com", subject="How did we do?", text_body=LONG_URL
    )
    pages = {
        "task": reverse("admin:workflows_task_change", args=[task.pk]),
        "notification": reverse("admin:workflows_notification_change", args=[run.notification_id]),
        "contact": reverse("admin:directory_contact_change", args=[contact.pk]),
        "transaction": reverse("admin:directory_transaction_change", args=[contact.transactions.get().pk]),
        "invitation": reverse("admin:distributions_invitation_change", args=[invitation.pk]),
        "response": reverse("admin:distributions_response_change", args=[response.pk]),
        "outbox-message": reverse("admin:distributions_outboxmessage_change", args=[message.pk]),
    }
    for name, path in pages.items():
        page.goto(logged_in + path)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            assert_all_reachable(page, f"the {name} page at {width} px")
            screenshot(f"{name}-{width}")
    page.set_viewport_size(VIEWPORT)
