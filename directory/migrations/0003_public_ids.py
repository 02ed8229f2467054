# Public ids (POOL_, CG_, CID_, CTR_) for the REST API: added empty, filled for every existing row, then
# made unique and required.

from django.db import migrations

import directory.public_ids

MODELS = {"directory": "POOL_", "mailinglist": "CG_", "contact": "CID_", "transaction": "CTR_"}


def fill_public_ids(apps, schema_editor):
    for model_name in MODELS:
        directory.public_ids.public_ids_backfill(apps.get_model("directory", model_name))


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0002_contact_phone_extension_help"),
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
