"""Erasing a deleted contact from the task runs that wrote it.

A task that saved a contact recorded the values it resolved (the contact's name, email and
embedded data, as piped from the event) in TaskRun.resolved_input, and outputs the contact's id as
ContactId. Deleting the contact empties those inputs; the attempt's status, error and outputs stay,
so Workflow Reporting still tells what happened.
"""

from django.db.models import CharField, ExpressionWrapper
from django.db.models.fields.json import KeyTextTransform

from workflows.models import TaskRun

ERASED_NOTE = "Inputs erased: the contact was deleted."


def contact_task_runs_erase(*, contact_id: int) -> int:
    """Empty the resolved input of every task run whose ContactId output is `contact_id`.
    -> the number of task runs erased. Served by the task_run_contact index."""
    contact_ref = ExpressionWrapper(KeyTextTransform("ContactId", "output"), output_field=CharField())
    return (
        TaskRun.objects.annotate(contact_ref=contact_ref)
        .filter(contact_ref=str(contact_id))
        .update(resolved_input={}, notes=[ERASED_NOTE])
    )


def contact_deleting(sender, instance, **kwargs) -> None:
    """pre_delete receiver of directory.Contact (connected in WorkflowsConfig.ready())."""
    contact_task_runs_erase(contact_id=instance.pk)
