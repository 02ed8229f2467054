"""Emailing a workflow's owner when its tasks fail for good, at most once per workflow per interval.

The first failure after a quiet interval is emailed at once; later ones wait as FailureNotice rows
and go out together as one digest when the interval ends (`failure_digests_send`, run by a
schedule). State lives in the rows, so a dead worker or an SMTP server that is down only delays an
email: a notice stays pending until an email carrying it has been sent.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from workflows.models import FailureNotice, Run, TaskRun, Workflow, email_list
from workflows.public_urls import public_url
from workflows.tasks.registry import kind_label

logger = logging.getLogger(__name__)

FAILURE_EMAIL_INTERVAL = timedelta(minutes=15)
SEND_JOB = "workflows.jobs.send_failure_digests"
# A digest lists this many failures in full and counts the rest, so a failure storm stays readable.
MAX_LISTED = 50


def failure_notices_record(*, run: Run) -> int:
    """Queue a notice for each failed task of `run` not noticed yet. -> notices queued.

    Never raises: a failed notification must not fail (or retry) the run it reports on.
    """
    try:
        with transaction.atomic():  # a savepoint when called inside a transaction
            failed = TaskRun.objects.filter(run=run, status=TaskRun.Status.FAILED, failure_notice__isnull=True)
            notices = [FailureNotice(workflow_id=run.workflow_id, task_run=task_run) for task_run in failed]
            # A run re-executed after its worker died may report the same task run again.
            FailureNotice.objects.bulk_create(notices, ignore_conflicts=True)
        if notices and _may_email(Workflow.objects.get(pk=run.workflow_id).failure_notified_at, timezone.now()):
            workflow_id = run.workflow_id
            transaction.on_commit(lambda: async_task(SEND_JOB, workflow_id), robust=True)
    except Exception:
        logger.exception("Could not queue the failure notice of run %s; the run's history still shows it.", run.pk)
        return 0
    return len(notices)


def _may_email(last_emailed_at: datetime | None, now: datetime) -> bool:
    return last_emailed_at is None or last_emailed_at <= now - FAILURE_EMAIL_INTERVAL


def failure_digests_send(*, workflow_id: int | None = None, now: datetime | None = None) -> int:
    """Email pending notices of each workflow (or just `workflow_id`) whose interval has passed. -> emails sent."""
    now = now or timezone.now()
    pending = FailureNotice.objects.filter(sent_at__isnull=True, created_at__lte=now)
    if workflow_id is not None:
        pending = pending.filter(workflow_id=workflow_id)
    workflow_ids = pending.order_by().values_list("workflow_id", flat=True).distinct()
    return sum(_send_digest(workflow_id=pk, now=now) for pk in list(workflow_ids))


def _send_digest(*, workflow_id: int, now: datetime) -> bool:
    workflow = Workflow.objects.select_related("owner").get(pk=workflow_id)
    previous = workflow.failure_notified_at
    if not _may_email(previous, now):
        return False  # the schedule sends the digest once the interval has passed
    # Claim the interval (compare-and-set): of two jobs sending for one workflow, only one goes on.
    if not Workflow.objects.filter(pk=workflow_id, failure_notified_at=previous).update(failure_notified_at=now):
        return False
    notices = list(
        FailureNotice.objects.filter(workflow_id=workflow_id, sent_at__isnull=True, created_at__lte=now)
        .select_related("task_run__run")
        .order_by("created_at", "pk")
    )
    if not notices:  # another job sent them meanwhile: give the interval back
        _reopen(workflow_id, claimed_at=now, previous=previous)
        return False
    recipients = failure_notice_recipients(workflow=workflow)
    try:
        if recipients:
            _message(workflow, notices, recipients).send()
        else:
            logger.warning("Workflow %s failed but has no one to email: its owner has no email address.", workflow.pk)
    except Exception:
        logger.exception("Could not email %s failure(s) of workflow %s; will retry.", len(notices), workflow.pk)
        _reopen(workflow_id, claimed_at=now, previous=previous)  # the notices stay pending
        return False
    # Conditional, so a notice is never marked by two senders.
    FailureNotice.objects.filter(pk__in=[notice.pk for notice in notices], sent_at__isnull=True).update(sent_at=now)
    return bool(recipients)


def _reopen(workflow_id: int, *, claimed_at: datetime, previous: datetime | None) -> None:
    """Undo our claim of the interval, so the schedule's next pass tries again."""
    Workflow.objects.filter(pk=workflow_id, failure_notified_at=claimed_at).update(failure_notified_at=previous)


def failure_notice_recipients(*, workflow: Workflow) -> list[str]:
    """Who is emailed when the workflow's tasks fail: its owner, then its failure recipients, each
    address once (case-insensitive). [] when the owner has no email and there are none."""
    addresses = [workflow.owner.email, *email_list(workflow.failure_recipients)]
    seen, unique = set(), []
    for address in filter(None, addresses):
        if address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    return unique


def _message(workflow: Workflow, notices: list[FailureNotice], recipients: list[str]) -> EmailMessage:
    if len(notices) == 1:
        task_run = notices[0].task_run
        subject = f'Workflow "{workflow.name}": task {task_run.position} ({kind_label(task_run.kind)}) failed'
    else:
        subject = f'Workflow "{workflow.name}": {len(notices)} task failures'
    lines = [
        f'Workflow "{workflow.name}" had {len(notices)} task failure(s) that will not be retried.',
        "",
    ]
    for notice in notices[:MAX_LISTED]:
        task_run = notice.task_run
        lines += [
            f"Task {task_run.position} ({kind_label(task_run.kind)}) failed in run {task_run.run_id} "
            f"at {timezone.localtime(task_run.finished_at):%Y-%m-%d %H:%M:%S %Z}:",
            f"  {task_run.error}",
            f"  {public_url('admin:workflows_run_change', args=[task_run.run_id])}",
            "",
        ]
    if len(notices) > MAX_LISTED:
        lines += [f"…and {len(notices) - MAX_LISTED} more: see Workflow Reporting.", ""]
    lines.append(
        "You get this as the workflow's owner or one of its failure recipients; failures are emailed at most "
        f"once every {FAILURE_EMAIL_INTERVAL.seconds // 60} minutes, later ones in a digest."
    )
    # RFC 3834 section 5: sent by a process, so automatic responders (out of office) leave it unanswered.
    headers = {"Auto-Submitted": "auto-generated"}
    return EmailMessage(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, recipients, headers=headers)
