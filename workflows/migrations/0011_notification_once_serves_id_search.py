"""The unique index of a notification's (organization, notification id) puts the notification id
first, so it also serves Workflow Reporting's search by notification id, and the index kept for
that search alone goes: one index fewer for the endpoint to update per notification stored.

The constraint is dropped and added again in the migration's one transaction, so no duplicate can
be stored in between; ON CONFLICT (organization_key, notification_id) finds the new index, which
holds the same columns."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("workflows", "0010_inbound_body_lz4")]

    operations = [
        migrations.RemoveConstraint(model_name="notification", name="notification_once"),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.UniqueConstraint(
                fields=("notification_id", "organization_key"), name="notification_once"
            ),
        ),
        migrations.RemoveIndex(model_name="notification", name="notification_id_search"),
    ]
