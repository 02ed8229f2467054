# A deleted contact's invitations stay, erased of what named the person (services/erasure.py),
# with no contact; and the index the API pages a distribution's history by.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0003_public_ids"),
        ("distributions", "0008_public_ids"),
    ]

    operations = [
        migrations.AlterField(
            model_name="invitation",
            name="contact",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="invitations",
                to="directory.contact",
            ),
        ),
        migrations.AddIndex(
            model_name="invitation",
            index=models.Index(fields=["distribution", "id"], name="invitation_distribution_page"),
        ),
    ]
