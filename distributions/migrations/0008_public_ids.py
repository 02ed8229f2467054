# Public ids (SV_, EMD_, R_) for the REST API: added empty, filled for every existing row, then
# made unique and required.

from django.db import migrations

import directory.public_ids

MODELS = {"survey": "SV_", "distribution": "EMD_", "response": "R_"}


def fill_public_ids(apps, schema_editor):
    for model_name in MODELS:
        directory.public_ids.public_ids_backfill(apps.get_model("distributions", model_name))


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0003_public_ids"),
        ("distributions", "0007_distribute_task_survey_by_id"),
    ]

    operations = [
        *(
            migrations.AddField(
                model_name=model_name,
                name="public_id",
                field=directory.public_ids.PublicIdField(
                    editable=False, max_length=32, null=True, prefix=prefix, unique=False
                ),
            )
            for model_name, prefix in MODELS.items()
        ),
        migrations.RunPython(fill_public_ids, migrations.RunPython.noop),
        *(
            migrations.AlterField(
                model_name=model_name,
                name="public_id",
                field=directory.public_ids.PublicIdField(editable=False, max_length=32, prefix=prefix, unique=True),
            )
            for model_name, prefix in MODELS.items()
        ),
    ]
