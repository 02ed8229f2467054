"""One invitation, one email: retried runs, dead workers, delays, and what the mail server answers."""

import socket
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import OperationalError
from django.utils import timezone

from directory.models import Contact
from distributions.jobs import send_due_invitations
from distributions.models import Invitation, Survey
from distributions.services import delivery, sending
from distributions.services.delivery import (
    SEND_LEASE,
    invitation_claim,
    invitation_claim_due,
    invitations_reap_interrupted,
)
from distributions.services.invitation_channels import SendEvent
from tests.distributions.smtp_server import smtp_server
from tests.factories import (
    case_fields,
    make_distribute_task,
    make_distributing_workflow,
    make_run,
    make_sender_domain,
    make_survey,
    make_workflow,
)
from tests.threads import run_together
from workflows.models import Run, TaskRun
from workflows.services.execution import run_execute

Status = Invitation.Status


@pytest.fixture
def workflow(db):
    return make_distributing_workflow()


@pytest.fixture
def server(settings):
    with smtp_server(settings) as handler:
        yield handler


def requeue(run):
    """What the dispatcher does with a run whose worker died, or whose retry is due."""
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, claimed_at=None, next_attempt_at=timezone.now())


def make_due(**filters):
    Invitation.objects.filter(**filters).update(send_after=timezone.now() - timedelta(seconds=1))


def test_a_run_executed_again_sends_no_second_email(workflow, execute):
    run = execute(make_run(workflow=workflow))
    requeue(run)
    execute(run)
    send_due_invitations()
    assert len(mail.outbox) == 1
    assert Invitation.objects.count() == 1


def test_a_task_that_failed_before_committing_sent_nothing_and_its_retry_sends_once(workflow, execute):
    with mock.patch.object(sending, "invitations_claim", side_effect=OperationalError("deadlock detected")):
        run = execute(make_run(workflow=workflow))
    assert TaskRun.objects.get().status == TaskRun.Status.RETRYING
    assert not Invitation.objects.exists() and not mail.outbox
    requeue(run)
    assert execute(run).status == Run.Status.SUCCEEDED
    assert len(mail.outbox) == 1


def test_a_worker_that_died_after_the_claim_is_reported_and_never_resent(workflow, execute):
    execute(make_run(workflow=workflow), worker_dies_after_commit=True)
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at is not None) == (Status.PENDING, True)
    send_due_invitations()
    assert not mail.outbox
    Invitation.objects.update(sent_at=timezone.now() - SEND_LEASE - timedelta(seconds=1))
    assert invitations_reap_interrupted() == 1
    invitation.refresh_from_db()
    assert invitation.status == Status.EMAIL_FAILED
    assert invitation.status_detail.startswith("Interrupted: the worker stopped after claiming this email")
    assert "It may have been sent (Message-ID <invitation-" in invitation.status_detail
    send_due_invitations()
    assert not mail.outbox


def test_a_worker_that_died_after_the_server_accepted_is_reported_and_never_resent(workflow, execute):
    with mock.patch.object(delivery, "_record", side_effect=RuntimeError("worker killed")):
        execute(make_run(workflow=workflow))
    assert len(mail.outbox) == 1
    Invitation.objects.update(sent_at=timezone.now() - SEND_LEASE - timedelta(seconds=1))
    send_due_invitations()
    assert len(mail.outbox) == 1
    assert Invitation.objects.get().status == Status.EMAIL_FAILED


def test_a_delayed_send_leaves_the_invitation_pending_and_sends_nothing_yet(workflow, execute):
    workflow.tasks.update(config={**workflow.tasks.get().config, "send_delay": 2, "send_delay_unit": "hours"})
    before = timezone.now()
    run = execute(make_run(workflow=workflow))
    invitation = Invitation.objects.get()
    assert run.status == Run.Status.SUCCEEDED
    assert (invitation.status, invitation.sent_at) == (Status.PENDING, None)
    assert timedelta(hours=2) <= invitation.send_after - before < timedelta(hours=2, seconds=30)
    assert run.task_runs.get().output["Outcome"] == f"Scheduled for {invitation.send_after:%Y-%m-%d %H:%M} UTC"
    assert send_due_invitations() == 0
    assert not mail.outbox


def test_the_schedule_sends_a_delayed_invitation_once_when_due(workflow, execute):
    workflow.tasks.update(config={**workflow.tasks.get().config, "send_delay": 30, "send_delay_unit": "minutes"})
    execute(make_run(workflow=workflow))
    make_due()
    assert send_due_invitations() == 1
    assert send_due_invitations() == 0
    assert len(mail.outbox) == 1
    assert Invitation.objects.get().status == Status.EMAIL_SENT


def test_the_schedule_checks_an_opt_out_made_during_the_delay(workflow, execute):
    workflow.tasks.update(config={**workflow.tasks.get().config, "send_delay": 1, "send_delay_unit": "days"})
    execute(make_run(workflow=workflow))
    Contact.objects.update(unsubscribed=True)
    make_due()
    send_due_invitations()
    assert Invitation.objects.get().status == Status.OPTED_OUT
    assert not mail.outbox


@pytest.mark.parametrize("status", [Survey.Status.CLOSED, Survey.Status.PAUSED])
def test_a_delayed_invitation_whose_survey_is_no_longer_active_is_skipped_saying_why(workflow, execute, status):
    workflow.tasks.update(config={**workflow.tasks.get().config, "send_delay": 1, "send_delay_unit": "hours"})
    execute(make_run(workflow=workflow))
    Survey.objects.update(status=status)
    make_due()

    assert send_due_invitations() == 0

    invitation = Invitation.objects.get()
    assert not mail.outbox
    assert (invitation.status, invitation.sent_at) == (Status.EMAIL_SKIPPED, None)
    assert f"was {status.label.lower()} when this invitation fell due" in invitation.status_detail
    assert "Activate the survey" in invitation.status_detail
    Survey.objects.update(status=Survey.Status.ACTIVE)  # activated again: the skipped one stays unsent
    assert send_due_invitations() == 0 and not mail.outbox


def test_a_delayed_invitation_goes_to_the_address_its_contact_has_when_it_is_sent(workflow, execute):
    workflow.tasks.update(config={**workflow.tasks.get().config, "send_delay": 1, "send_delay_unit": "days"})
    execute(make_run(workflow=workflow))
    Contact.objects.update(email="ada.lovelace@example.com")  # a typo corrected in the meantime
    make_due()

    assert send_due_invitations() == 1

    [message] = mail.outbox
    invitation = Invitation.objects.get()
    assert message.to == ["ada.lovelace@example.com"]
    assert invitation.address == "ada.lovelace@example.com"
    readdressed = invitation.events.get(kind=SendEvent.READDRESSED)
    assert "ada@example.com to ada.lovelace@example.com" in readdressed.description


def test_a_delayed_invitation_whose_contact_has_no_address_any_more_is_skipped(workflow, execute):
    workflow.tasks.update(config={**workflow.tasks.get().config, "send_delay": 1, "send_delay_unit": "days"})
    execute(make_run(workflow=workflow))
    Contact.objects.update(email="")
    make_due()

    assert send_due_invitations() == 0

    invitation = Invitation.objects.get()
    assert not mail.outbox
    assert (invitation.status, invitation.address) == (Status.EMAIL_SKIPPED, "ada@example.com")


def test_the_job_given_ids_sends_only_those(workflow, execute):
    workflow.tasks.update(config={**workflow.tasks.get().config, "send_delay": 5, "send_delay_unit": "minutes"})
    execute(make_run(workflow=workflow))
    execute(make_run(workflow=workflow, fields=case_fields(ContactEmail="grace@example.com")))
    make_due()
    first, second = Invitation.objects.order_by("pk")
    assert send_due_invitations([second.pk]) == 1
    assert [message.to for message in mail.outbox] == [["grace@example.com"]]


def test_an_invitation_is_claimed_once(workflow, execute):
    workflow.tasks.update(config={**workflow.tasks.get().config, "send_delay": 5, "send_delay_unit": "minutes"})
    execute(make_run(workflow=workflow))
    make_due()
    invitation_id = Invitation.objects.get().pk
    assert invitation_claim_due(invitation_id=invitation_id) is not None
    assert invitation_claim_due(invitation_id=invitation_id) is None
    # The conditional update alone, as when two workers both passed their checks.
    stale = Invitation.objects.get(pk=invitation_id)
    Invitation.objects.filter(pk=invitation_id).update(sent_at=None)
    assert invitation_claim(invitation=stale, now=timezone.now()) is True
    assert invitation_claim(invitation=Invitation.objects.get(pk=invitation_id), now=timezone.now()) is False


# --- what the mail server answers (a real SMTP server on loopback) ---------------------------------


def test_it_retries_later_when_the_server_refuses_for_now(workflow, execute, server):
    server.rcpt_reply = "450 4.2.1 Mailbox busy, try later"
    execute(make_run(workflow=workflow))
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at) == (Status.PENDING, None)
    assert timedelta(seconds=50) < invitation.send_after - timezone.now() <= timedelta(minutes=1)
    event = invitation.events.get()
    assert event.kind == SendEvent.DEFERRED
    assert "450" in event.description and "Retrying at" in event.description
    server.rcpt_reply = None
    assert send_due_invitations() == 0  # not due yet
    make_due()
    assert send_due_invitations() == 1
    assert len(server.deliveries) == 1
    assert Invitation.objects.get().status == Status.EMAIL_SENT


def test_it_retries_later_when_the_server_cannot_be_reached(workflow, execute, server, settings):
    settings.EMAIL_PORT = free_port()
    execute(make_run(workflow=workflow))
    invitation = Invitation.objects.get()
    assert invitation.status == Status.PENDING
    assert "could not connect to the mail server" in invitation.events.get().description


def test_the_workers_log_says_in_one_line_that_an_invitation_waits_for_the_mail_server(
    workflow, execute, server, settings, caplog
):
    settings.EMAIL_PORT = free_port()
    with caplog.at_level("WARNING", logger="distributions.services.delivery"):
        execute(make_run(workflow=workflow))
    invitation = Invitation.objects.get()
    [record] = [r for r in caplog.records if r.name == "distributions.services.delivery"]
    assert record.levelname == "WARNING" and record.exc_info is None
    message = record.getMessage()
    assert message.startswith(f"Invitation {invitation.pk} (email) not sent, retrying at ")
    assert "could not connect to the mail server: ConnectionRefusedError" in message


def test_the_workers_log_names_a_refused_invitation_without_its_address(workflow, execute, server, caplog):
    server.rcpt_reply = "550 5.1.1 <ada@example.com> No such user"
    with caplog.at_level("WARNING", logger="distributions.services.delivery"):
        execute(make_run(workflow=workflow))
    invitation = Invitation.objects.get()
    assert "ada@example.com" in invitation.status_detail  # the delivery history keeps it
    [record] = [r for r in caplog.records if r.name == "distributions.services.delivery"]
    message = record.getMessage()
    assert message.startswith(f"Invitation {invitation.pk} (email) failed: the mail server refused the recipient")
    assert "550" in message and "<address>" in message
    assert "ada@example.com" not in message


def test_it_fails_when_the_server_refuses_the_recipient_for_good(workflow, execute, server):
    server.rcpt_reply = "550 5.1.1 No such user"
    execute(make_run(workflow=workflow))
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.sent_at) == (Status.EMAIL_FAILED, None)
    assert invitation.status_detail.startswith("the mail server refused the recipient: SMTPRecipientsRefused")
    assert "550" in invitation.status_detail
    make_due()
    send_due_invitations()
    assert not server.deliveries


def test_it_never_resends_when_the_connection_broke_after_the_server_accepted(workflow, execute, server):
    server.drop_after_accepting = True
    execute(make_run(workflow=workflow))
    invitation = Invitation.objects.get()
    assert invitation.status == Status.EMAIL_FAILED
    assert "may have been sent" in invitation.status_detail
    server.drop_after_accepting = False
    make_due()
    send_due_invitations()
    assert len(server.deliveries) == 1


def test_it_gives_up_after_the_retry_window(workflow, execute, server, settings):
    server.rcpt_reply = "421 4.3.2 Service shutting down"
    execute(make_run(workflow=workflow))
    Invitation.objects.get().events.update(occurred_at=timezone.now() - timedelta(hours=25))
    make_due()
    send_due_invitations()
    invitation = Invitation.objects.get()
    assert invitation.status == Status.EMAIL_FAILED
    assert invitation.status_detail.startswith("Gave up after retrying for 24 hours: the mail server refused")


def test_backoff_doubles_with_each_temporary_failure(workflow, execute, server):
    server.rcpt_reply = "450 4.2.1 Mailbox busy"
    execute(make_run(workflow=workflow))
    for _ in range(2):
        make_due()
        send_due_invitations()
    invitation = Invitation.objects.get()
    assert invitation.events.filter(kind=SendEvent.DEFERRED).count() == 3
    assert timedelta(minutes=3) < invitation.send_after - timezone.now() <= timedelta(minutes=4)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- two senders at once (real concurrency needs PostgreSQL) ---------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_due_invitation_send_it_once(postgres_only, settings):
    make_sender_domain("example.com")
    survey = make_survey(name="Customer satisfaction")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, send_delay=1, send_delay_unit="minutes")
    run_execute(run_id=make_run(workflow=workflow).pk)
    make_due()
    with smtp_server(settings) as handler:
        run_together(4, lambda _: send_due_invitations())
        assert len(handler.deliveries) == 1
    assert Invitation.objects.get().status == Status.EMAIL_SENT
