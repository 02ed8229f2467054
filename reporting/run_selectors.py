"""Reads for Workflow Reporting: searching runs, and what a run's detail page links to.

Every search is an equality on an indexed column, so it costs the same at 1,000 and 1,000,000 runs:
- a notification id or a Salesforce record id: notification_once (the unique index, notification id
  first) / notification_record, then the runs of those notifications (the run.notification_id
  foreign-key index);
- a contact's email: directory's contact_email_ci (lower(email)) gives the contacts, workflows'
  task_run_contact (output ->> 'ContactId') the task runs that acted on them, hence their runs.
  Matching the email inside the stored event fields would scan every notification's JSON.
"""

from dataclasses import dataclass, field

from django.db.models import CharField, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower

from directory.models import Contact
from distributions.models import Distribution
from distributions.selectors import survey_links_masked
from workflows.models import Notification, Run, TaskRun
from workflows.salesforce.values import salesforce_id_forms


def task_runs_without_survey_links(task_runs) -> list[TaskRun]:
    """The task runs (in memory, never saved) with their survey links cut (survey_links_masked)."""
    task_runs = list(task_runs)
    for task_run in task_runs:
        task_run.resolved_input = survey_links_masked(task_run.resolved_input)
        task_run.output = survey_links_masked(task_run.output)
        task_run.notes = survey_links_masked(task_run.notes)
        task_run.error = survey_links_masked(task_run.error)
    return task_runs


def run_distribution_ids(*, task_runs) -> set[int]:
    """The distributions the run's tasks made (their DistributionId outputs)."""
    return {
        int(task_run.output["DistributionId"])
        for task_run in task_runs
        if str(task_run.output.get("DistributionId", "")).isdigit()
    }


# An address shared by more contacts than this (one per directory) is not a person to search for.
MAX_CONTACTS_PER_EMAIL = 100


def runs_with_first_error(runs: QuerySet) -> QuerySet:
    """Annotate `first_error`: the first failed task run's error (one unique-index probe per row)."""
    errors = (
        TaskRun.objects.filter(run=OuterRef("pk")).exclude(error="").order_by("position", "attempt").values("error")[:1]
    )
    return runs.annotate(first_error=Subquery(errors))


def runs_search(*, runs: QuerySet, term: str) -> QuerySet:
    term = term.strip()
    if not term:
        return runs
    if "@" in term:
        return runs.filter(pk__in=_task_runs_of_contacts(_contacts_with_email(term)).values("run_id"))
    # Salesforce sends 18-character ids; people also copy the 15-character one from a record's URL.
    forms = salesforce_id_forms(term)
    notifications = Notification.objects.filter(Q(record_id__in=forms) | Q(notification_id__in=forms))
    return runs.filter(notification__in=notifications.values("pk"))


def _contacts_with_email(email: str) -> list[int]:
    contacts = Contact.objects.annotate(email_lower=Lower("email")).filter(email_lower=Lower(Value(email)))
    return list(contacts.values_list("pk", flat=True)[:MAX_CONTACTS_PER_EMAIL])


def _task_runs_of_contacts(contact_ids: list[int]) -> QuerySet:
    # The task_run_contact index's expression, compared as plain text: a JSON key lookup would
    # compare JSON values instead, an expression the index does not hold.
    contact_ref = ExpressionWrapper(KeyTextTransform("ContactId", "output"), output_field=CharField())
    return (
        TaskRun.objects.annotate(contact_ref=contact_ref)
        .filter(contact_ref__in=[str(pk) for pk in contact_ids])
        .order_by()
    )


@dataclass
class RunLinks:
    """What a run's detail page links to."""

    contacts: list[Contact] = field(default_factory=list)
    # Ids its tasks output as ContactId whose contact was deleted since (and erased from the run).
    deleted_contact_ids: list[int] = field(default_factory=list)
    distributions: list[Distribution] = field(default_factory=list)
    replays: list[Run] = field(default_factory=list)


def run_links(*, run: Run) -> RunLinks:
    contact_ids = {
        int(output["ContactId"])
        for output in run.task_runs.values_list("output", flat=True)
        if str(output.get("ContactId", "")).isdigit()
    }
    contacts = list(Contact.objects.filter(pk__in=contact_ids).order_by("pk"))
    return RunLinks(
        contacts=contacts,
        deleted_contact_ids=sorted(contact_ids - {contact.pk for contact in contacts}),
        distributions=list(
            Distribution.objects.filter(run=run)
            .select_related("survey")
            .prefetch_related("invitations__contact")
            .order_by("task_position", "pk")
        ),
        replays=list(run.replays.order_by("pk")),
    )


def run_event_fields(*, run: Run) -> dict:
    """The run's event as its tasks read it: the notification's fields, then the metadata piped as
    ${event://_Object}, ${event://_NotificationId} and ${event://_OrganizationId}."""
    notification = run.notification
    metadata = {
        "_Object": notification.sobject_type,
        "_NotificationId": notification.notification_id,
        "_OrganizationId": notification.inbound_message.organization_id or notification.organization_key,
    }
    return {**notification.fields, **metadata}


# A run's conditions are evaluated (again) at each attempt: before the first, none were yet.
CONDITIONS_EVALUATED = (Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.CONDITIONS_NOT_MET)


def run_conditions_evaluated(*, run: Run) -> bool:
    """Whether run.condition_results says how the conditions went (False: not evaluated yet)."""
    return run.status in CONDITIONS_EVALUATED or (run.status == Run.Status.QUEUED and run.attempts > 0)
