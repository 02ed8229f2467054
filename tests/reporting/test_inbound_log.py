"""The inbound log and the calls that failed to start."""

import pytest
from django.urls import reverse

from tests.factories import case_fields, make_inbound_message, make_run, make_workflow
from tests.pages import result_rows

pytestmark = pytest.mark.django_db

LOG_URL = reverse("admin:workflows_inboundmessage_changelist")
FAILED_TO_START_URL = reverse("admin:reporting_failedtostart_changelist")


def listed_ids(admin_client, url, query=None):
    response = admin_client.get(url, query or {})
    assert response.status_code == 200
    return {message.pk for message in response.context["cl"].result_list}


def test_it_shows_why_a_call_was_refused_and_with_which_http_status(admin_client):
    make_inbound_message(status="refused", http_status=403, reason="Organization 00D000000000001 is not allowed.")
    make_inbound_message(status="accepted", http_status=200)

    rows = result_rows(admin_client.get(LOG_URL).content)

    assert sorted((row["status"], row["http_status"], row["short_reason"]) for row in rows) == [
        ("Accepted", "200", "—"),
        ("Refused", "403", "Organization 00D000000000001 is not allowed."),
    ]


def test_it_shows_the_raw_body(admin_client):
    message = make_inbound_message(status="refused", http_status=400, body="<soapenv:Envelope/>")

    content = admin_client.get(reverse("admin:workflows_inboundmessage_change", args=[message.pk])).content.decode()

    assert "&lt;soapenv:Envelope/&gt;</pre>" in content


def test_it_shows_notifications_per_call(admin_client):
    make_inbound_message(notification_count=5, new_notification_count=3)

    [row] = result_rows(admin_client.get(LOG_URL).content)

    assert row["notifications"] == "3 / 5"


@pytest.mark.parametrize("status", ["accepted", "duplicate", "refused"])
def test_it_filters_the_log_by_status(admin_client, status):
    wanted = make_inbound_message(status=status, http_status=200 if status != "refused" else 404)
    make_inbound_message(status="accepted" if status != "accepted" else "refused", http_status=200)

    assert listed_ids(admin_client, LOG_URL, {"status__exact": status}) == {wanted.pk}


def test_it_filters_the_log_by_http_status(admin_client):
    wanted = make_inbound_message(status="refused", http_status=413)
    make_inbound_message(status="refused", http_status=404)

    assert listed_ids(admin_client, LOG_URL, {"http_status": "413"}) == {wanted.pk}


@pytest.mark.parametrize("http_status", ["²", "9" * 5000, "4O4", "4040"])
def test_it_explains_a_malformed_http_status(admin_client, http_status):
    make_inbound_message(status="refused", http_status=404)

    response = admin_client.get(LOG_URL, {"http_status": http_status})

    # The admin's answer to a bad lookup parameter: back to the list with ?e=1, not a 500.
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


@pytest.mark.parametrize(
    ("query", "time_zone"),
    [
        ({"received_at_to": "9999-12-31"}, "America/New_York"),  # the day after is beyond the calendar
        ({"received_at_from": "0001-01-01"}, "Asia/Tokyo"),  # its midnight is in year 0 in UTC
        ({"received_at_from": "0001-01-01", "received_at_to": "9999-12-31"}, "UTC"),
    ],
)
def test_it_filters_the_log_from_or_to_the_ends_of_the_calendar(admin_client, settings, query, time_zone):
    settings.TIME_ZONE = time_zone
    messages = {make_inbound_message().pk, make_inbound_message().pk}

    assert listed_ids(admin_client, LOG_URL, query) == messages


def test_it_filters_the_log_by_workflow(admin_client):
    wanted = make_inbound_message(workflow=make_workflow())
    make_inbound_message(workflow=make_workflow())

    assert listed_ids(admin_client, LOG_URL, {"workflow__id__exact": wanted.workflow_id}) == {wanted.pk}


def test_failed_to_start_lists_only_refused_calls(admin_client):
    refused = make_inbound_message(status="refused", http_status=404, reason="No workflow has this event URL.")
    make_inbound_message(status="accepted")
    make_inbound_message(status="duplicate")

    response = admin_client.get(FAILED_TO_START_URL)

    assert {message.pk for message in response.context["cl"].result_list} == {refused.pk}
    assert [row["short_reason"] for row in result_rows(response.content)] == ["No workflow has this event URL."]


@pytest.mark.parametrize("term", ["5005g00000ABCDE", "5005G00000ABCDEAA5"])
def test_the_notifications_page_finds_a_record_by_the_other_forms_of_its_id(admin_client, term):
    workflow = make_workflow()
    wanted = make_run(workflow=workflow, fields=case_fields(Id="5005g00000ABCDEAA5")).notification
    make_run(workflow=workflow)

    assert listed_ids(admin_client, reverse("admin:workflows_notification_changelist"), {"q": term}) == {wanted.pk}


def test_failed_to_start_offers_only_the_statuses_of_a_refusal(admin_client):
    response = admin_client.get(FAILED_TO_START_URL)

    http_status_filter = next(spec for spec in response.context["cl"].filter_specs if spec.title == "HTTP status")
    offered = [choice["display"] for choice in http_status_filter.choices(response.context["cl"])]
    assert offered[0] == "All"
    assert "200 Ack" not in offered
    assert "404 Unknown event URL" in offered
