"""The stored SOAP bodies compressed with lz4 on PostgreSQL (its default, pglz, costs about three
times the CPU on every large message the endpoint stores). A server built without lz4 keeps pglz."""

from django.db import migrations

TABLE_COLUMNS = (("workflows_inboundmessage", "body"),)


def compression(method):
    def set_compression(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, column in TABLE_COLUMNS:
            schema_editor.execute(
                f"""
                DO $$ BEGIN
                    ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method};
                EXCEPTION WHEN feature_not_supported THEN NULL;  -- no lz4 in this build: pglz stays
                END $$
                """
            )

    return set_compression


class Migration(migrations.Migration):
    dependencies = [("workflows", "0009_test_events")]

    operations = [migrations.RunPython(compression("lz4"), compression("pglz"))]
