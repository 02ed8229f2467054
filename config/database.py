"""Waiting for the database when a long-running process starts."""

import logging
import time

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5


def database_wait(*, retry_seconds: float = RETRY_SECONDS) -> None:
    """Return once the default database answers, trying again every `retry_seconds` and logging
    one warning line per failed try (the database's own words): a worker started while PostgreSQL
    is down or restarting (a machine booting, a failover) waits for it instead of exiting with a
    traceback. The connection is closed again, so processes forked afterwards open their own."""
    while True:
        try:
            connection.ensure_connection()
        except (OperationalError, InterfaceError) as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            logger.warning("The database cannot be reached (%s): trying again in %g s", first_line, retry_seconds)
            connection.close()
            time.sleep(retry_seconds)
        else:
            connection.close()
            return
