"""The migrations a release runs: one line of history per app, and none missing for the models."""

from collections import defaultdict
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader


def test_every_app_has_one_latest_migration():
    """Two migrations of one app that follow the same one stop `migrate` on every installation."""
    leaves = defaultdict(list)
    for app, name in MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes():
        leaves[app].append(name)
    assert {app: names for app, names in leaves.items() if len(names) > 1} == {}


@pytest.mark.django_db
def test_the_models_need_no_migration_that_is_not_written():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
