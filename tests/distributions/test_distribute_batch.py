"""The distribute-survey task executed for many runs at once: the same outcomes as one by one, in
a bounded number of statements, the emails over one SMTP session."""

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from directory.models import Contact, Directory, Membership
from distributions.models import DeliveryEvent, FrequencyRule, Invitation
from distributions.services import delivery, sending
from distributions.services.delivery import SEND_LEASE, invitations_reap_interrupted, invitations_send_due
from tests.distributions.smtp_server import smtp_server
from tests.factories import (
    case_fields,
    make_distributing_workflow,
    make_run,
)
from workflows.models import Run, TaskRun
from workflows.services.execution import runs_execute_due

pytestmark = pytest.mark.django_db

Status = Invitation.Status


@pytest.fixture
def workflow():
    return make_distributing_workflow()


@pytest.fixture
def drain(django_capture_on_commit_callbacks):
    """Execute every due run as a worker does, in batches of `batch_size`; emails go out on commit."""

    def drain(batch_size=50):
        with django_capture_on_commit_callbacks(execute=True):
            return runs_execute_due(batch_size=batch_size)

    return drain


def queue(workflow, count, **fields):
    return [
        make_run(
            workflow=workflow,
            fields=case_fields(**{"ContactEmail": f"person{number}@example.com", "CaseNumber": f"{number:08d}"})
            | fields,
        )
        for number in range(count)
    ]


def test_a_batch_sends_each_invitation_once_over_one_smtp_session(workflow, drain, settings):
    queue(workflow, 20)
    with smtp_server(settings) as server:
        assert drain() == 20
    assert sorted(d.rcpt_tos[0] for d in server.deliveries) == sorted(f"person{n}@example.com" for n in range(20))
    assert server.sessions == 1
    assert set(Invitation.objects.values_list("status", flat=True)) == {Status.EMAIL_SENT}
    assert set(Run.objects.values_list("status", flat=True)) == {Run.Status.SUCCEEDED}
    assert DeliveryEvent.objects.filter(kind="email_sent").count() == 20
    assert Membership.objects.filter(mailing_list__name="Support customers").count() == 20
    subjects = {d.message["Subject"] for d in server.deliveries}
    assert subjects == {f"How did we do with case {n:08d}?" for n in range(20)}


def test_a_batch_reads_and_writes_in_a_bounded_number_of_statements(workflow, drain):
    queue(workflow, 40)
    with CaptureQueriesContext(connection) as queries:
        drain(batch_size=40)
    assert Invitation.objects.filter(status=Status.EMAIL_SENT).count() == 40
    # The batch's work is about 47 statements, savepoints included (one by one, each run takes about
    # forty), then each email sent is recorded on its own: one statement on PostgreSQL, four elsewhere.
    per_email = 1 if connection.vendor == "postgresql" else 4
    assert len(queries) < 60 + 40 * per_email, "\n".join(query["sql"][:120] for query in queries)


def test_the_same_message_twice_in_one_batch_is_sent_once(workflow, drain):
    queue(workflow, 2, ContactEmail="ada@example.com", CaseNumber="00001026")
    drain()
    first, second = Invitation.objects.order_by("pk")
    assert first.status == Status.EMAIL_SENT
    assert second.status == Status.EMAIL_SKIPPED
    assert second.status_detail.startswith(f"Duplicate of invitation {first.pk} sent at ")
    assert Contact.objects.count() == 1


def test_a_frequency_rule_counts_the_invitations_sent_earlier_in_the_batch(workflow, drain):
    queue(workflow, 1)  # the default directory comes with the first contact saved
    drain()
    FrequencyRule.objects.create(directory=Directory.objects.get(), max_messages=2, period_days=1)
    for number in range(3):
        make_run(workflow=workflow, fields=case_fields(CaseNumber=f"{100 + number:08d}"))
    drain()
    to_ada = Invitation.objects.filter(address="ada@example.com").order_by("pk")
    statuses = list(to_ada.values_list("status", flat=True))
    assert statuses == [Status.EMAIL_SENT, Status.EMAIL_SENT, Status.EMAIL_SKIPPED]
    skipped = Invitation.objects.get(status=Status.EMAIL_SKIPPED)
    assert "2 messages went to this contact since" in skipped.status_detail


def test_an_opted_out_contact_in_a_batch_is_skipped_and_the_others_are_sent(workflow, drain):
    queue(workflow, 1)
    drain()
    Contact.objects.filter(email="person0@example.com").update(unsubscribed=True)
    queue(workflow, 3)
    workflow.tasks.update(config={**workflow.tasks.get().config, "subject": "Once more: case ${event://CaseNumber}"})
    drain()
    latest = Invitation.objects.filter(subject__startswith="Once more").order_by("address")
    assert [(i.address, i.status) for i in latest] == [
        ("person0@example.com", Status.OPTED_OUT),
        ("person1@example.com", Status.EMAIL_SENT),
        ("person2@example.com", Status.EMAIL_SENT),
    ]


def test_a_recipient_who_fails_is_reported_and_the_rest_of_the_batch_is_sent(workflow, drain):
    queue(workflow, 3)
    make_run(workflow=workflow, fields=case_fields(ContactEmail="not an address"))
    drain()
    failed = TaskRun.objects.get(status=TaskRun.Status.FAILED)
    assert failed.error.startswith("Email 'not an address' (from ${event://ContactEmail}) is not a valid email address")
    assert failed.run.status == Run.Status.FAILED
    assert Invitation.objects.filter(status=Status.EMAIL_SENT).count() == 3
    assert Contact.objects.count() == 3


def test_a_sender_refused_after_the_contacts_were_saved_fails_only_its_own_run(workflow, drain):
    """The From address is piped per run: the batch cannot finish, so each run is executed alone."""
    task = workflow.tasks.get()
    task.config = {**task.config, "from_email": "${event://Sender__c}"}
    task.save()
    queue(workflow, 2, Sender__c="care@example.com")
    make_run(workflow=workflow, fields=case_fields(ContactEmail="eve@example.com", Sender__c="care@elsewhere.org"))
    drain()
    failed = TaskRun.objects.get(status=TaskRun.Status.FAILED)
    assert failed.error.startswith("From address care@elsewhere.org: its domain elsewhere.org is not a sender")
    assert not Contact.objects.filter(email="eve@example.com").exists()
    assert sorted(Invitation.objects.values_list("address", "status")) == [
        ("person0@example.com", Status.EMAIL_SENT),
        ("person1@example.com", Status.EMAIL_SENT),
    ]
    assert TaskRun.objects.filter(status=TaskRun.Status.SUCCEEDED).count() == 2


def worker_dies_at_message(number):
    """The worker process dies while handing over its `number`-th message (counting from 1): from
    then on, nothing it would do reaches the server."""
    hand_off = delivery.email_hand_off
    calls = []

    def dying(**kwargs):
        calls.append(kwargs)
        if len(calls) >= number:
            raise RuntimeError("worker killed")
        return hand_off(**kwargs)

    return mock.patch.object(delivery, "email_hand_off", side_effect=dying)


def test_a_worker_that_died_mid_batch_leaves_one_email_in_doubt_and_the_rest_are_sent_once(workflow, drain):
    queue(workflow, 5)
    with worker_dies_at_message(3):
        drain()
    assert len(mail.outbox) == 2
    claimed = Invitation.objects.order_by("pk")
    assert [i.status for i in claimed] == [Status.EMAIL_SENT] * 2 + [Status.PENDING] * 3
    assert len({i.claim for i in claimed}) == 1  # claimed together, by the batch's task

    Invitation.objects.filter(status=Status.PENDING).update(sent_at=timezone.now() - SEND_LEASE - timedelta(seconds=1))
    assert invitations_reap_interrupted() == 1
    assert invitations_send_due() == 2

    sent_to = [message.to[0] for message in mail.outbox]
    assert sorted(sent_to) == sorted(set(sent_to))  # nobody got two
    in_doubt, *resent = Invitation.objects.order_by("pk")[2:]
    assert (in_doubt.status, in_doubt.address in sent_to) == (Status.EMAIL_FAILED, False)
    assert in_doubt.status_detail.startswith("Interrupted: the worker stopped after claiming this email")
    assert [(i.status, i.address in sent_to) for i in resent] == [(Status.EMAIL_SENT, True)] * 2
    released = DeliveryEvent.objects.get(invitation=resent[0], kind="email_released")
    assert released.description.startswith("Not sent: the worker stopped before its turn")


def test_after_a_database_server_restart_every_unrecorded_email_of_an_older_claim_is_in_doubt(
    postgres_only, workflow, drain
):
    """Email Sent commits asynchronously: a server crash may lose the last outcomes, so none of the
    claim's unrecorded emails can be known unsent, and none is sent again."""
    queue(workflow, 5)
    with worker_dies_at_message(3):
        drain()
    server_started = delivery.database_server_started_at()
    assert server_started is not None and server_started < timezone.now()
    Invitation.objects.filter(status=Status.PENDING).update(
        sent_at=server_started - timedelta(seconds=1), updated_at=server_started - timedelta(seconds=1)
    )
    assert invitations_reap_interrupted(now=timezone.now() + SEND_LEASE) == 3
    assert invitations_send_due() == 0
    assert len(mail.outbox) == 2
    in_doubt = Invitation.objects.order_by("pk")[2:]
    assert [i.status for i in in_doubt] == [Status.EMAIL_FAILED] * 3
    assert all(i.status_detail.startswith("Interrupted:") for i in in_doubt)
    assert not DeliveryEvent.objects.filter(kind="email_released").exists()


@pytest.mark.django_db(transaction=True)
def test_email_sent_is_committed_without_waiting_for_the_disk(postgres_only, workflow, settings):
    """The one outcome recorded per email sent turns synchronous_commit off for its own
    transaction, and for nothing after it on the connection."""
    queue(delayed(workflow), 2)
    runs_execute_due()
    make_all_due()
    with smtp_server(settings), CaptureQueriesContext(connection) as queries:
        assert invitations_send_due() == 2
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            after = cursor.fetchone()[0]
    asynchronous = [
        query["sql"] for query in queries if "set_config('synchronous_commit', 'off', true)" in query["sql"]
    ]
    assert len(asynchronous) == 2 and all("email_sent" in sql for sql in asynchronous)
    assert after == "on"
    assert set(Invitation.objects.values_list("status", flat=True)) == {Status.EMAIL_SENT}


@pytest.mark.django_db(transaction=True)
def test_the_email_sent_record_is_planned_once_per_connection(postgres_only, workflow, settings):
    queue(delayed(workflow), 3)
    runs_execute_due()
    make_all_due()
    with smtp_server(settings):
        assert invitations_send_due() == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    assert [(statement.split()[:2], executions) for statement, executions in prepared] == [
        (["WITH", "commit_setting"], 3)
    ]
    assert connection.connection.prepare_threshold is None


@pytest.mark.django_db(transaction=True)
def test_a_worker_sends_a_batch_from_its_second_thread_and_claims_the_next_once_all_have_outcomes(
    postgres_only, workflow, settings
):
    """While a batch's emails go out, the next batch executes; its claim waits for their outcomes,
    so a worker that dies leaves at most one claim in doubt, as without the second thread."""
    queue(workflow, 6)
    claim, deliver = sending.invitations_claim, sending.invitations_deliver
    unrecorded_at_claims, sending_threads = [], set()

    def claiming(**kwargs):
        unrecorded_at_claims.append(Invitation.objects.filter(status=Status.PENDING, sent_at__isnull=False).count())
        return claim(**kwargs)

    def delivering(**kwargs):
        sending_threads.add(threading.current_thread())
        time.sleep(0.3)  # a slow mail server: the next batch reaches its claim before these are sent
        return deliver(**kwargs)

    with (
        smtp_server(settings) as server,
        mock.patch.object(sending, "invitations_claim", side_effect=claiming),
        mock.patch.object(sending, "invitations_deliver", side_effect=delivering),
    ):
        assert runs_execute_due(batch_size=2) == 6
        assert len(server.deliveries) == 6  # all sent by the time it returns
    assert unrecorded_at_claims == [0, 0, 0]
    assert sending_threads and threading.current_thread() not in sending_threads
    assert set(Invitation.objects.values_list("status", flat=True)) == {Status.EMAIL_SENT}
    assert len({claim for claim in Invitation.objects.values_list("claim", flat=True)}) == 3


def test_claims_are_reaped_one_by_one(workflow, drain):
    """Two claims stuck at once: each has its own email in doubt, whatever their times."""
    queue(workflow, 2)
    with worker_dies_at_message(1):
        drain(batch_size=1)
    assert mail.outbox == [] and len(set(Invitation.objects.values_list("claim", flat=True))) == 2
    Invitation.objects.update(sent_at=timezone.now() - SEND_LEASE - timedelta(seconds=1))
    assert invitations_reap_interrupted() == 2
    assert set(Invitation.objects.values_list("status", flat=True)) == {Status.EMAIL_FAILED}


def delayed(workflow):
    task = workflow.tasks.get()
    task.config = {**task.config, "send_delay": 1, "send_delay_unit": "hours"}
    task.save()
    return workflow


def make_all_due():
    Invitation.objects.update(send_after=timezone.now() - timedelta(seconds=1))


def test_the_schedule_claims_due_invitations_together_and_sends_them_over_one_session(workflow, drain, settings):
    queue(delayed(workflow), 30)
    drain()
    make_all_due()
    with smtp_server(settings) as server:
        with CaptureQueriesContext(connection) as queries:
            assert invitations_send_due() == 30
    assert len(server.deliveries) == 30 and server.sessions == 1
    assert len(set(Invitation.objects.values_list("claim", flat=True))) == 1
    assert set(Invitation.objects.values_list("status", flat=True)) == {Status.EMAIL_SENT}
    per_email = 1 if connection.vendor == "postgresql" else 4
    assert len(queries) < 25 + 30 * per_email, "\n".join(query["sql"][:120] for query in queries)


def test_the_schedule_sends_the_same_message_to_one_address_once(workflow, drain):
    """Both were scheduled, so neither was a duplicate when the task ran; sending, the second is."""
    queue(delayed(workflow), 2, ContactEmail="ada@example.com", CaseNumber="00001026")
    drain()
    assert set(Invitation.objects.values_list("status", flat=True)) == {Status.PENDING}
    make_all_due()
    assert invitations_send_due() == 1
    first, second = Invitation.objects.order_by("pk")
    assert (first.status, second.status) == (Status.EMAIL_SENT, Status.EMAIL_SKIPPED)
    assert second.status_detail.startswith(f"Duplicate of invitation {first.pk} sent at ")
    assert len(mail.outbox) == 1


def test_a_claim_leaves_out_an_invitation_that_changed_meanwhile(workflow, drain):
    queue(delayed(workflow), 3)
    drain()
    invitations = list(Invitation.objects.order_by("pk"))
    Invitation.objects.filter(pk=invitations[1].pk).update(status=Status.OPTED_OUT)  # on the survey page
    claimed = delivery.invitations_claim(invitations=invitations, now=timezone.now())
    assert [i.pk for i in claimed] == [invitations[0].pk, invitations[2].pk]
    assert Invitation.objects.get(pk=invitations[1].pk).sent_at is None
