"""The migrations form one line per app and match the models, so `migrate` runs on a fresh clone."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader


def test_it_has_one_latest_migration_per_app():
    conflicts = MigrationLoader(None, ignore_no_migrations=True).detect_conflicts()

    assert conflicts == {}


@pytest.mark.django_db
def test_it_has_a_migration_for_every_model_change():
    out = StringIO()

    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()
