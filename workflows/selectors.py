"""Reads of workflow definitions."""

from workflows.models import Workflow
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
