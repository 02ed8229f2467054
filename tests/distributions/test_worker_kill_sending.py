"""Real `qcluster` workers sending to a real SMTP server, killed mid-stream: no recipient gets two.

Slow (about ten seconds), PostgreSQL only. The server takes its time over each message, so the
kill lands while some are on the wire; the test process plays the schedule (dispatcher, reaper).
"""

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.conf import Conf

from distributions.models import Invitation
from distributions.services.delivery import SEND_LEASE, invitations_reap_interrupted, invitations_send_due
from tests.distributions.smtp_server import LoopbackController, RecordingHandler
from tests.factories import (
    case_fields,
    make_directory,
    make_distributing_workflow,
    outbound_message,
)
from tests.workers import kill, qclusters, wait_for
from workflows.models import Run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PEOPLE = 100
WAIT_SECONDS = 90
Status = Invitation.Status


class SlowHandler(RecordingHandler):
    """Accepts each message, then waits before saying so: a worker killed meanwhile never hears it."""

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(0.02)
        return reply


@pytest.fixture
def smtp():
    handler = SlowHandler()
    controller = LoopbackController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def start_cluster(tmp_path, smtp):
    _, port = smtp
    env = {
        "RUN_LEASE_SECONDS": "5",
        "WORKER_TIMEOUT_SECONDS": "10",
        "WORKER_COUNT": "2",
        "EMAIL_BACKEND": "distributions.channels.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_USE_TLS": "false",
        "DEFAULT_FROM_EMAIL": "surveys@example.com",
    }
    with qclusters(log_dir=tmp_path, env=env) as start:
        yield start


@pytest.fixture
def queued_runs(postgres_only, client, settings, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    settings.RUN_LEASE_SECONDS = 5
    make_directory(is_default=True)
    workflow = make_distributing_workflow()
    records = [case_fields(ContactEmail=f"p{i}@example.com") for i in range(PEOPLE)]
    response = client.post(workflow.event_path, outbound_message(*records), content_type="text/xml")
    assert response.status_code == 200
    return workflow


def test_a_killed_worker_cluster_never_sends_an_invitation_twice(queued_runs, start_cluster, smtp, settings):
    handler, port = smtp
    first = start_cluster()
    assert wait_for(lambda: len(handler.deliveries) >= 20, seconds=60, every=0.01), "the first cluster sent nothing"
    kill(first)

    start_cluster()
    finished = lambda: Run.objects.filter(status__in=Run.FINISHED).count() == PEOPLE  # noqa: E731
    assert wait_for(finished, seconds=WAIT_SECONDS, every=0.25, dispatch=True), "the runs did not all finish"
    # What the schedule does once SEND_LEASE has passed: of each claim the killed workers left
    # without an outcome, the email that may have been on the wire is reported and never sent
    # again, and the ones after it, never handed over, are sent.
    invitations_reap_interrupted(now=timezone.now() + SEND_LEASE + timedelta(seconds=1))
    settings.EMAIL_BACKEND = "distributions.channels.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    invitations_send_due()

    per_recipient = Counter(address for delivery in handler.deliveries for address in delivery.rcpt_tos)
    assert max(per_recipient.values()) == 1
    invitations = Invitation.objects.all()
    assert invitations.count() == PEOPLE
    statuses = Counter(invitations.values_list("status", flat=True))
    assert set(statuses) <= {Status.EMAIL_SENT, Status.EMAIL_FAILED}
    assert statuses[Status.EMAIL_FAILED] <= 2  # at most one message on the wire per killed worker
    for invitation in invitations.filter(status=Status.EMAIL_FAILED):
        assert invitation.status_detail.startswith("Interrupted:")
    sent = set(invitations.filter(status=Status.EMAIL_SENT).values_list("address", flat=True))
    assert sent <= set(per_recipient)
