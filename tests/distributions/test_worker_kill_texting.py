"""Real `qcluster` workers texting through a stand-in of Twilio's API, killed mid-stream: no
number gets two texts.

Slow (about ten seconds), PostgreSQL only. The API takes its time over each text, so the kill
lands while some calls are in flight; the test process plays the schedule (dispatcher, reaper).
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.conf import Conf

from distributions.models import Invitation
from distributions.services.delivery import SEND_LEASE, invitations_reap_interrupted, invitations_send_due
from tests.distributions.sms import ACCOUNT_SID, AUTH_TOKEN
from tests.distributions.twilio_server import twilio_api
from tests.factories import (
    case_fields,
    make_directory,
    make_distribute_task,
    make_survey,
    make_workflow,
    outbound_message,
)
from tests.workers import kill, qclusters, wait_for
from workflows.models import Run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PEOPLE = 100
WAIT_SECONDS = 90
Status = Invitation.Status
TWILIO_SETTINGS = {
    "SMS_BACKEND": "distributions.channels.twilio.TwilioSmsBackend",
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_MESSAGING_SERVICE_SID": "",
    "SMS_FROM_NUMBER": "+15005550006",
    "SMS_QUIET_HOURS": "",
}


@pytest.fixture
def api():
    with twilio_api(delay=0.02) as server:
        yield server


@pytest.fixture
def start_cluster(tmp_path, api):
    env = {
        "RUN_LEASE_SECONDS": "5",
        "WORKER_TIMEOUT_SECONDS": "10",
        "WORKER_COUNT": "2",
        "TWILIO_API_BASE_URL": api.base_url,
        **TWILIO_SETTINGS,
    }
    with qclusters(log_dir=tmp_path, env=env) as start:
        yield start


@pytest.fixture
def queued_runs(postgres_only, client, settings, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    settings.RUN_LEASE_SECONDS = 5
    make_directory(is_default=True)
    survey = make_survey(name="Customer satisfaction")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(
        workflow=workflow,
        survey=survey,
        method="sms",
        phone="${event://ContactPhone}",
        sms_text="Hi ${m://FirstName}, how did we do? ${l://SurveyURL}",
    )
    records = [
        case_fields(ContactEmail=f"p{i}@example.com", ContactPhone=f"+1415555{100 + i:04d}") for i in range(PEOPLE)
    ]
    response = client.post(workflow.event_path, outbound_message(*records), content_type="text/xml")
    assert response.status_code == 200
    return workflow


def test_a_killed_worker_cluster_never_texts_a_number_twice(queued_runs, start_cluster, api, settings):
    first = start_cluster()
    assert wait_for(lambda: len(api.created) >= 20, seconds=60, every=0.01), "the first cluster texted no one"
    kill(first)

    start_cluster()
    finished = lambda: Run.objects.filter(status__in=Run.FINISHED).count() == PEOPLE  # noqa: E731
    assert wait_for(finished, seconds=WAIT_SECONDS, every=0.25, dispatch=True), "the runs did not all finish"
    # What the schedule does once SEND_LEASE has passed: of each claim the killed workers left
    # without an outcome, the text that may have reached Twilio is reported and never sent again,
    # and the ones after it, never handed over, are sent.
    invitations_reap_interrupted(now=timezone.now() + SEND_LEASE + timedelta(seconds=1))
    for name, value in {**TWILIO_SETTINGS, "TWILIO_API_BASE_URL": api.base_url}.items():
        setattr(settings, name, value)
    invitations_send_due()

    per_number = Counter(form["To"] for form in api.created)
    assert max(per_number.values()) == 1
    invitations = Invitation.objects.all()
    assert invitations.count() == PEOPLE
    statuses = Counter(invitations.values_list("status", flat=True))
    assert set(statuses) <= {Status.SMS_SENT, Status.SMS_FAILED}
    assert statuses[Status.SMS_FAILED] <= 2  # at most one text in flight per killed worker
    for invitation in invitations.filter(status=Status.SMS_FAILED):
        assert invitation.status_detail.startswith("Interrupted:")
    sent = set(invitations.filter(status=Status.SMS_SENT).values_list("address", flat=True))
    assert sent <= set(per_number)
    assert len(per_number) >= statuses[Status.SMS_SENT]
