"""Reads of workflow definitions."""

from django.contrib.auth import get_user_model

from workflows.models import Run, TaskRun, Workflow
from workflows.piping import event_fields_used


def workflow_event_fields(*, workflow: Workflow) -> list[str]:
    """The Salesforce fields the workflow reads, sorted: its conditions' fields and every field piped
    as ${event://Name} in its conditions' values and its tasks' settings (text and name/value rows).
    Metadata (_Object, _NotificationId...) is not a field."""
    fields = {condition.field for condition in workflow.conditions.all() if not condition.field.startswith("_")}
    texts = [condition.value for condition in workflow.conditions.all()]
    for task in workflow.tasks.all():
        for value in task.config.values():
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, list):  # name/value rows
                texts.extend(str(cell) for row in value if isinstance(row, list) for cell in row)
    for text in texts:
        fields |= event_fields_used(text)
    return sorted(fields)


# How far back a task's last outcome is looked for: enough for any task that runs, bounded for
# a workflow of millions of runs (its newest runs through run_workflow_recent, their attempts
# through task_run_attempt_once).
LAST_RUNS_LOOKED_AT = 50


def task_last_attempts(*, workflow: Workflow, recent: int = LAST_RUNS_LOOKED_AT) -> dict[int, TaskRun]:
    """Task id -> its latest attempt among the workflow's `recent` newest runs (tasks that did not
    run in them are absent). Two queries whatever the number of tasks."""
    run_ids = list(
        Run.objects.filter(workflow=workflow).order_by("-created_at", "-id").values_list("id", flat=True)[:recent]
    )
    latest: dict[int, TaskRun] = {}
    attempts = TaskRun.objects.filter(run_id__in=run_ids, task__isnull=False).order_by("-run_id", "-attempt")
    for attempt in attempts.only("id", "run_id", "task_id", "status", "attempt", "finished_at", "error"):
        latest.setdefault(attempt.task_id, attempt)
    return latest


def may_act_as_workflow_owner(*, user, workflow: Workflow) -> bool:
    """Whether `user` may do what acts with `workflow`'s owner's permissions (their model
    permissions apart): edit its tasks, send it a test event with values they choose, see its
    event URL's token (whoever has it starts runs). Only the owner or a superuser may; anyone else
    who may change the workflow makes it theirs first (workflow_owner_choices), which puts their
    own rights behind its tasks."""
    return user.is_superuser or workflow.owner_id == user.pk


def workflow_owner_choices(*, user, workflow: Workflow | None = None):
    """The users `user` may make the owner of `workflow` (None: a new one).

    Tasks act with the owner's permissions, so the owner is a permission boundary: a superuser may
    name anyone; anyone else only themselves, or keep the owner the workflow has."""
    User = get_user_model()
    if user.is_superuser:
        return User.objects.all()
    allowed = {user.pk} | ({workflow.owner_id} if workflow is not None and workflow.owner_id else set())
    return User.objects.filter(pk__in=allowed)
