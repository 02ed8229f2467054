# The table the per-token rate limits are counted in (CACHES["api_throttle"]), and the nightly
# purge of answers kept for Idempotency-Keys.

from datetime import UTC, datetime, time, timedelta

from django.core.management import call_command
from django.db import migrations
from django.utils import timezone

PURGE = "Purge expired API idempotency keys"


def create_cache_table(apps, schema_editor):
    # Every database cache of settings.CACHES, api_throttle's among them (tables that exist are kept).
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name('api_throttle_cache')}")


def create_schedule(apps, schema_editor):
    # Daily at 03:30 UTC, from tomorrow on (after the workflow history purge at 03:00).
    tomorrow = timezone.now().date() + timedelta(days=1)
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=PURGE,
        defaults={
            "func": "api.jobs.purge_idempotency_keys",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": datetime.combine(tomorrow, time(3, 30), tzinfo=UTC),
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=PURGE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_tokens_and_idempotency_keys"),
        ("django_q", "0014_schedule_cluster"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, drop_cache_table),
        migrations.RunPython(create_schedule, delete_schedule),
    ]
