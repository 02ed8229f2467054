"""Distribute-survey tasks link their survey by id instead of by name, so renaming a survey keeps them.

A name that no survey, or several, had is left as it was: such a task failed already, and its run
error still asks to choose the survey in the task.
"""

from django.db import migrations

KIND = "distribute_survey"


def names_to_ids(apps, schema_editor):
    Survey = apps.get_model("distributions", "Survey")
    Task = apps.get_model("workflows", "Task")
    for task in Task.objects.filter(kind=KIND):
        name = task.config.get("survey")
        if not isinstance(name, str):
            continue
        ids = list(Survey.objects.filter(name=name).values_list("pk", flat=True)[:2])
        if len(ids) == 1:
            task.config["survey"] = ids[0]
            task.save(update_fields=["config"])


def ids_to_names(apps, schema_editor):
    Survey = apps.get_model("distributions", "Survey")
    Task = apps.get_model("workflows", "Task")
    for task in Task.objects.filter(kind=KIND):
        survey_id = task.config.get("survey")
        if not isinstance(survey_id, int):
            continue
        task.config["survey"] = Survey.objects.filter(pk=survey_id).values_list("name", flat=True).first() or ""
        task.save(update_fields=["config"])


class Migration(migrations.Migration):
    dependencies = [
        ("distributions", "0006_invitation_token_digest"),
        ("workflows", "0006_condition_multi_select_operators"),
    ]

    operations = [migrations.RunPython(names_to_ids, ids_to_names)]
