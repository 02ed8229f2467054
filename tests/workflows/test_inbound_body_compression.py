"""Stored SOAP bodies use lz4 on PostgreSQL (migration workflows 0010): pglz, the default, costs
about three times the CPU on each large message the endpoint stores."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_stored_bodies_are_compressed_with_lz4(postgres_only):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'workflows_inboundmessage'::regclass AND attname = 'body'"
        )
        assert cursor.fetchone() == ("l",)
