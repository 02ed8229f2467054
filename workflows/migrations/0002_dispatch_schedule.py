from django.db import migrations

NAME = "Dispatch due workflow runs"


def create_schedule(apps, schema_editor):
    # Wakes queued runs whose job was lost, whose retry is due, or whose worker died.
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={"func": "workflows.jobs.dispatch_due_runs", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0001_initial"),
        ("django_q", "0014_schedule_cluster"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
