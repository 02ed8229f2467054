"""Erasing a deleted contact from the task runs that acted on it.

A task that saved a contact recorded the values it resolved (the contact's name, email, phone and
embedded data, as piped from the event) in TaskRun.resolved_input and its notes, and outputs the
contact's id as ContactId, beside other outputs that may copy the person's details (the phone a
text went to, an outcome quoting the address an opt-out or a duplicate names). Deleting the
contact empties the inputs and notes of every attempt at that task of that run (an earlier failed
attempt resolved the same values), and keeps of the outputs only those its kind declares free of
the person (TaskKind.outputs_kept_on_erasure, ContactId always): the attempts' status and error
stay, and so do the ids, so Workflow Reporting still tells what happened and to which rows.

The run's event (the notification's fields) is Salesforce's record, which the contact was copied
from, not a copy of the contact: it stays until history retention purges it, as a replay needs it.
"""

from django.db.models import CharField, ExpressionWrapper
from django.db.models.fields.json import KeyTextTransform

from workflows.models import TaskRun
from workflows.tasks import registry

ERASED_NOTE = "Inputs and the contact's details among the outputs erased: the contact was deleted."
CONTACT_OUTPUT = "ContactId"


def _contact_ref():
    # The task_run_contact index's expression, compared as plain text.
    return ExpressionWrapper(KeyTextTransform(CONTACT_OUTPUT, "output"), output_field=CharField())


def output_erased(*, kind: str, output: dict) -> dict:
    """`output` of a task run of `kind` without what may name the person: the outputs the kind
    declares kept, and ContactId. A kind no longer installed keeps ContactId only."""
    task_kind = registry.find(kind)
    kept = {CONTACT_OUTPUT, *(task_kind.outputs_kept_on_erasure if task_kind else ())}
    return {name: value for name, value in output.items() if name in kept}


def contact_task_runs_erase(*, contact_id: int) -> int:
    """Erase contact `contact_id` from the task runs that output it as ContactId and from the
    other attempts at those tasks of those runs. -> the number of task runs erased. Served by the
    task_run_contact index, then by the run's task runs (task_run_attempt_once)."""
    contact_ref = str(contact_id)
    acting = TaskRun.objects.annotate(contact_ref=_contact_ref()).filter(contact_ref=contact_ref)
    tasks = set(acting.values_list("run_id", "position"))
    if not tasks:
        return 0
    attempts = TaskRun.objects.filter(run_id__in=acting.values("run_id")).only("run_id", "position", "kind", "output")
    erased = []
    for task_run in attempts:
        if (task_run.run_id, task_run.position) not in tasks:
            continue  # another task of the run, which acted on someone else or no one
        acted_on = str(task_run.output.get(CONTACT_OUTPUT, ""))
        if acted_on and acted_on != contact_ref:
            continue  # an attempt that saved another contact is that contact's
        task_run.resolved_input = {}
        task_run.notes = [ERASED_NOTE]
        task_run.output = output_erased(kind=task_run.kind, output=task_run.output)
        erased.append(task_run)
    TaskRun.objects.bulk_update(erased, ["resolved_input", "notes", "output"], batch_size=500)
    return len(erased)


def contact_deleting(sender, instance, **kwargs) -> None:
    """pre_delete receiver of directory.Contact (connected in WorkflowsConfig.ready())."""
    contact_task_runs_erase(contact_id=instance.pk)
