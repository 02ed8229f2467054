"""Emailing permanent task failures: at once after a quiet interval, then at most one digest per 15 minutes."""

import smtplib
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.db import OperationalError
from django.utils import timezone

from tests.factories import make_directory_task, make_run, make_user, make_workflow
from workflows.models import FailureNotice, Run, Workflow
from workflows.services.execution import run_execute
from workflows.services.failure_notices import failure_digests_send
from workflows.services.transfer import workflows_export
from workflows.tasks import registry

pytestmark = pytest.mark.django_db


class SmtpDownBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.fixture
def fail(django_capture_on_commit_callbacks):
    """Execute a new run of `workflow` whose only task fails for good, as a worker would."""

    def fail(workflow):
        run = make_run(workflow=workflow, fields=None)
        with django_capture_on_commit_callbacks(execute=True):
            run_execute(run_id=run.pk)
        run.refresh_from_db()
        return run

    return fail


@pytest.fixture
def failing_workflow(settings):
    settings.PUBLIC_BASE_URL = "https://surveys.example.com"
    workflow = make_workflow(
        name="Closed cases",
        owner=make_user(email="owner@example.com"),
        failure_recipients="ops@example.com, lead@example.com\nowner@EXAMPLE.com",
    )
    make_directory_task(workflow=workflow, email="not-an-email")
    return workflow


def test_it_emails_the_owner_and_extra_recipients_when_a_task_fails_for_good(fail, failing_workflow):
    run = fail(failing_workflow)
    assert run.status == Run.Status.FAILED
    [email] = mail.outbox
    assert email.to == ["owner@example.com", "ops@example.com", "lead@example.com"]
    assert email.subject == 'Workflow "Closed cases": task 1 (XM Directory: add to directory) failed'
    assert "Task 1 (XM Directory: add to directory) failed in run" in email.body
    assert "'not-an-email'" in email.body and "is not a valid email address" in email.body
    assert f"https://surveys.example.com/admin/workflows/run/{run.pk}/change/" in email.body
    assert FailureNotice.objects.get().sent_at is not None


def test_the_notice_is_marked_auto_generated_so_out_of_office_replies_leave_it_alone(fail, failing_workflow):
    fail(failing_workflow)

    [email] = mail.outbox
    assert email.message()["Auto-Submitted"] == "auto-generated"


def test_it_emails_a_task_that_gave_up_after_24_hours(monkeypatch, django_capture_on_commit_callbacks):
    def always_locked(context):
        raise OperationalError("could not obtain lock")

    kind = registry.get("add_to_directory")
    monkeypatch.setitem(registry._KINDS, kind.name, replace(kind, run=always_locked, run_batch=None))
    workflow = make_workflow(owner=make_user(email="owner@example.com"))
    make_directory_task(workflow=workflow)
    run = make_run(workflow=workflow)
    Run.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=25))
    with django_capture_on_commit_callbacks(execute=True):
        run_execute(run_id=run.pk)
    [email] = mail.outbox
    assert "could not obtain lock" in email.body


def test_it_sends_nothing_more_within_15_minutes_then_one_digest_of_the_later_failures(fail, failing_workflow):
    fail(failing_workflow)
    second, third = fail(failing_workflow), fail(failing_workflow)
    assert len(mail.outbox) == 1
    assert failure_digests_send(now=timezone.now() + timedelta(minutes=14)) == 0
    assert len(mail.outbox) == 1

    assert failure_digests_send(now=timezone.now() + timedelta(minutes=16)) == 1
    digest = mail.outbox[1]
    assert digest.subject == 'Workflow "Closed cases": 2 task failures'
    assert f"/admin/workflows/run/{second.pk}/change/" in digest.body
    assert f"/admin/workflows/run/{third.pk}/change/" in digest.body
    assert not FailureNotice.objects.filter(sent_at=None).exists()


def test_it_emails_each_notice_once(fail, failing_workflow):
    fail(failing_workflow)
    fail(failing_workflow)
    later = timezone.now() + timedelta(minutes=16)
    assert failure_digests_send(now=later) == 1
    assert failure_digests_send(now=later + timedelta(minutes=30)) == 0
    assert len(mail.outbox) == 2


def test_it_emails_at_once_again_after_a_quiet_interval(fail, failing_workflow):
    fail(failing_workflow)
    Workflow.objects.filter(pk=failing_workflow.pk).update(failure_notified_at=timezone.now() - timedelta(minutes=16))
    fail(failing_workflow)
    assert len(mail.outbox) == 2


def test_it_does_not_fail_the_run_when_smtp_is_down_and_retries_the_notice(fail, failing_workflow, settings):
    settings.EMAIL_BACKEND = "tests.workflows.test_failure_notices.SmtpDownBackend"
    run = fail(failing_workflow)
    assert run.status == Run.Status.FAILED
    assert FailureNotice.objects.get().sent_at is None
    failing_workflow.refresh_from_db()
    assert failing_workflow.failure_notified_at is None  # the interval was given back

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert failure_digests_send() == 1
    [email] = mail.outbox
    assert f"/admin/workflows/run/{run.pk}/change/" in email.body
    assert FailureNotice.objects.get().sent_at is not None


def test_it_does_not_fail_the_run_when_the_notice_cannot_be_stored(fail, failing_workflow, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(FailureNotice.objects, "bulk_create", broken)
    run = fail(failing_workflow)
    assert run.status == Run.Status.FAILED
    assert not mail.outbox


def test_it_refuses_a_failure_recipient_that_is_not_an_email_address():
    workflow = make_workflow(failure_recipients="ops@example.com\nops@")
    with pytest.raises(ValidationError, match="ops@"):
        workflow.full_clean()


def test_it_exports_the_failure_recipients():
    make_workflow(failure_recipients="ops@example.com")
    assert workflows_export()["workflows"][0]["failure_recipients"] == "ops@example.com"
