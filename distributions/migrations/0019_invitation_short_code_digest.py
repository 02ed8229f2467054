# A text's short link is looked up by the digest of its code, as survey link tokens are.

import hashlib

from django.db import migrations, models

import distributions.models

BATCH = 2000


def fill_short_code_digests(apps, schema_editor):
    # By primary-key ranges: SQLite gives no isolation between a read cursor and writes to its table.
    Invitation = apps.get_model("distributions", "Invitation")
    texts = Invitation.objects.exclude(short_code="").order_by("pk").only("pk", "short_code")
    last = 0
    while batch := list(texts.filter(pk__gt=last)[:BATCH]):
        for invitation in batch:
            invitation.short_code_digest = hashlib.sha256(invitation.short_code.encode()).hexdigest()
        Invitation.objects.bulk_update(batch, ["short_code_digest"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0004_contact_sms_opted_out"),
        ("distributions", "0018_invitation_address_any_case_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="short_code_digest",
            field=distributions.models.TokenDigestField(blank=True, editable=False, max_length=64, of="short_code"),
        ),
        migrations.RunPython(fill_short_code_digests, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="invitation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("short_code_digest", ""), _negated=True),
                fields=("short_code_digest",),
                name="invitation_short_code_digest_once",
            ),
        ),
    ]
