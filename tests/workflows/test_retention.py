"""Purging workflow history older than RETENTION_DAYS, in batches, keeping what is still in use."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from directory.models import Transaction
from distributions.models import Distribution
from tests.factories import make_contact, make_distribution, make_run, make_workflow
from workflows.models import FailureNotice, InboundMessage, Notification, Run, TaskRun
from workflows.models import TestEvent as SentTestEvent
from workflows.services.retention import history_purge

pytestmark = pytest.mark.django_db

OLD = timedelta(days=31)


def history(*, age=timedelta(0), status=Run.Status.SUCCEEDED, workflow=None, **run_fields):
    """A run with one task run, its notification and inbound message, all `age` old."""
    run = make_run(workflow=workflow or make_workflow(), status=status, **run_fields)
    at = timezone.now() - age
    TaskRun.objects.create(
        run=run, position=1, kind="add_to_directory", status="succeeded", started_at=at, finished_at=at
    )
    Run.objects.filter(pk=run.pk).update(created_at=at)
    Notification.objects.filter(pk=run.notification_id).update(received_at=at)
    InboundMessage.objects.filter(notifications__runs=run).update(received_at=at)
    return run


def test_it_purges_old_finished_runs_with_their_task_runs_notifications_and_messages():
    run = history(age=OLD, status=Run.Status.FAILED)
    FailureNotice.objects.create(workflow=run.workflow, task_run=run.task_runs.get())
    counts = history_purge()
    assert counts == {
        "workflows.Run": 1,
        "workflows.TaskRun": 1,
        "workflows.FailureNotice": 1,
        "workflows.Notification": 1,
        "workflows.InboundMessage": 1,
    }
    assert not Run.objects.exists() and not Notification.objects.exists() and not InboundMessage.objects.exists()


def test_it_keeps_recent_history():
    history(age=timedelta(days=29))
    assert history_purge() == {}
    assert (Run.objects.count(), TaskRun.objects.count(), Notification.objects.count()) == (1, 1, 1)


def test_it_follows_the_retention_setting(settings):
    settings.RETENTION_DAYS = 7
    history(age=timedelta(days=8))
    assert history_purge()["workflows.Run"] == 1


@pytest.mark.parametrize("status", [Run.Status.QUEUED, Run.Status.RUNNING])
def test_it_keeps_unfinished_runs_and_their_notifications(status):
    run = history(age=OLD, status=status)
    assert history_purge() == {}
    assert Run.objects.get() == run
    assert Notification.objects.exists() and InboundMessage.objects.exists()


def test_it_keeps_a_notification_replayed_recently_and_unlinks_the_replay():
    original = history(age=OLD)
    replay = make_run(workflow=original.workflow, fields=None, replay_of=original)
    Run.objects.filter(pk=replay.pk).update(notification=original.notification)
    counts = history_purge()
    assert counts["workflows.Run"] == 1 and "workflows.Notification" not in counts
    replay.refresh_from_db()
    assert replay.replay_of is None
    assert replay.notification_id == original.notification_id


def test_it_purges_refused_calls():
    InboundMessage.objects.create(status="refused", http_status=403, reason="Organization not allowed")
    InboundMessage.objects.update(received_at=timezone.now() - OLD)
    assert history_purge() == {"workflows.InboundMessage": 1}


def test_it_keeps_the_distribution_of_a_purged_run_without_its_run():
    run = history(age=OLD)
    distribution = make_distribution(run=run, task_position=1)
    history_purge()
    distribution.refresh_from_db()
    assert distribution.run is None
    assert Distribution.objects.count() == 1


def test_it_keeps_directory_transactions_whose_run_id_then_dangles():
    run = history(age=OLD)
    Transaction.objects.create(contact=make_contact(), run_id=run.pk, data={}, transaction_date=timezone.now())
    history_purge()
    assert Transaction.objects.get().run_id == run.pk


def test_it_deletes_in_batches():
    workflow = make_workflow()
    for _ in range(5):
        history(age=OLD, workflow=workflow)
    recent = history(workflow=workflow)
    with CaptureQueriesContext(connection) as queries:
        counts = history_purge(batch_size=2)
    run_deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "workflows_run"')]
    assert len(run_deletes) == 3
    assert counts["workflows.Run"] == counts["workflows.Notification"] == counts["workflows.InboundMessage"] == 5
    assert list(Run.objects.all()) == [recent]


def test_it_stops_when_its_time_is_used():
    history(age=OLD)
    assert history_purge(max_seconds=0) == {}
    assert Run.objects.count() == 1


def test_it_purges_an_old_test_event_once_its_runs_are_gone():
    workflow = make_workflow()
    old_test = SentTestEvent.objects.create(workflow=workflow, notification_id="04l000000000001AAA")
    history(age=OLD, workflow=workflow, test_event=old_test)
    unfinished_test = SentTestEvent.objects.create(workflow=workflow, notification_id="04l000000000002AAA")
    history(age=OLD, workflow=workflow, test_event=unfinished_test, status=Run.Status.QUEUED)
    SentTestEvent.objects.update(created_at=timezone.now() - OLD)

    counts = history_purge()

    assert counts["workflows.TestEvent"] == 1 and counts["workflows.Run"] == 1
    assert list(SentTestEvent.objects.all()) == [unfinished_test]
