# The daily purge of texts past RETENTION_DAYS (distributions.services.sms_retention).

from datetime import UTC, datetime, time, timedelta

from django.db import migrations
from django.utils import timezone

PURGE = "Purge old texts"


def create_schedule(apps, schema_editor):
    # Daily at 03:30 UTC, from tomorrow on, beside the nightly purge of the workflow history.
    tomorrow = timezone.now().date() + timedelta(days=1)
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=PURGE,
        defaults={
            "func": "distributions.jobs.purge_texts",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": datetime.combine(tomorrow, time(3, 30), tzinfo=UTC),
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=PURGE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("django_q", "0014_schedule_cluster"),
        ("distributions", "0014_sms_invitations"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
