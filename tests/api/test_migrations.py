import importlib

import pytest
from django.conf import settings
from django.db import connection

migration = importlib.import_module("api.migrations.0002_throttle_cache_and_purge_schedule")


@pytest.mark.django_db(transaction=True)
def test_the_migration_creates_the_table_rate_limits_are_counted_in():
    table = settings.CACHES["api_throttle"]["LOCATION"]
    with connection.schema_editor() as editor:
        editor.execute(f"DROP TABLE {editor.quote_name(table)}")

    with connection.schema_editor() as editor:
        migration.create_cache_table(None, editor)

    assert table in connection.introspection.table_names()
