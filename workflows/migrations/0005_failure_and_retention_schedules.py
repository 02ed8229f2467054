from datetime import UTC, datetime, time, timedelta

from django.db import migrations
from django.utils import timezone

SCHEDULES = {
    # Emails failure digests once a workflow's 15-minute interval has passed, and retries emails
    # that failed (SMTP down). The first failure after a quiet interval is sent at once, not by this.
    "Send workflow failure digests": {"func": "workflows.jobs.send_failure_digests", "schedule_type": "I", "minutes": 2},
    # Purges workflow history older than RETENTION_DAYS, in short batches.
    "Purge old workflow history": {"func": "workflows.jobs.purge_history", "schedule_type": "D"},
}
PURGE = "Purge old workflow history"


def _next_night():
    # The purge runs daily at 03:00 UTC (a quiet hour for most installations), from tomorrow on.
    tomorrow = timezone.now().date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(3), tzinfo=UTC)


def create_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, fields in SCHEDULES.items():
        night = {"next_run": _next_night()} if name == PURGE else {}
        Schedule.objects.update_or_create(name=name, defaults={**fields, **night, "repeats": -1})


def delete_schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0004_failure_notices"),
        ("django_q", "0014_schedule_cluster"),
    ]

    operations = [migrations.RunPython(create_schedules, delete_schedules)]
