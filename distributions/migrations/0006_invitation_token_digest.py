# Survey links are looked up by the digest of their token, as workflow event URLs are.

import hashlib

from django.db import migrations

import distributions.models

BATCH = 2000


def fill_token_digests(apps, schema_editor):
    # By primary-key ranges: SQLite gives no isolation between a read cursor and writes to its table.
    Invitation = apps.get_model("distributions", "Invitation")
    last = 0
    while batch := list(Invitation.objects.filter(pk__gt=last).order_by("pk").only("pk", "token")[:BATCH]):
        for invitation in batch:
            invitation.token_digest = hashlib.sha256(invitation.token.encode()).hexdigest()
        Invitation.objects.bulk_update(batch, ["token_digest"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("distributions", "0005_invitation_claim"),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="token_digest",
            field=distributions.models.TokenDigestField(editable=False, max_length=64, null=True, of="token"),
        ),
        migrations.RunPython(fill_token_digests, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="invitation",
            name="token_digest",
            field=distributions.models.TokenDigestField(editable=False, max_length=64, of="token", unique=True),
        ),
    ]
