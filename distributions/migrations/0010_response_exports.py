# Response exports (ES_ public ids, private files), the (survey, id) index their chunks are read by,
# and the daily purge of exports past their retention.

import directory.public_ids
import django.db.models.deletion
from django.conf import settings
from datetime import UTC, datetime, time, timedelta

from django.db import migrations, models
from django.utils import timezone


PURGE = "Purge response exports past their retention"


def create_schedule(apps, schema_editor):
    # Daily at 04:00 UTC, from tomorrow on (after the other nightly purges).
    tomorrow = timezone.now().date() + timedelta(days=1)
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=PURGE,
        defaults={
            "func": "distributions.jobs.purge_response_exports",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": datetime.combine(tomorrow, time(4, 0), tzinfo=UTC),
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=PURGE).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("django_q", "0014_schedule_cluster"),
        ('distributions', '0009_invitation_contact_erasable'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ResponseExport',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_id', directory.public_ids.PublicIdField(editable=False, max_length=32, prefix='ES_', unique=True)),
                ('options', models.JSONField(default=dict)),
                ('status', models.CharField(choices=[('inProgress', 'In progress'), ('complete', 'Complete'), ('failed', 'Failed')], default='inProgress', max_length=12)),
                ('percent_complete', models.PositiveSmallIntegerField(default=0)),
                ('file_id', models.CharField(blank=True, editable=False, max_length=64)),
                ('file_name', models.CharField(blank=True, editable=False, help_text='Its name in the storage.', max_length=300)),
                ('filename', models.CharField(blank=True, help_text='The name the download is offered under.', max_length=300)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddIndex(
            model_name='response',
            index=models.Index(fields=['survey', 'id'], name='response_survey_chunk'),
        ),
        migrations.AddField(
            model_name='responseexport',
            name='requested_by',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='response_exports', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='responseexport',
            name='survey',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='exports', to='distributions.survey'),
        ),
        migrations.AddIndex(
            model_name='responseexport',
            index=models.Index(fields=['survey', '-created_at'], name='response_export_survey_recent'),
        ),
        migrations.RunPython(create_schedule, delete_schedule),
    ]
