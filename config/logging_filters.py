"""Filters for the settings' LOGGING."""

import logging


class RefusalsWithoutTraceback(logging.Filter):
    """Keep `django.request`'s one-line warning about a refused request (a 4xx: permission denied,
    a bad request) and drop the traceback Django attaches to it.

    A refusal is the answer the product meant to give, and a traceback in the log reads as a crash
    to whoever watches it. Server errors (5xx) keep theirs. `status_code` is the extra that
    `django.utils.log.log_response` puts on every record it writes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = record.exc_text = None
        return True
