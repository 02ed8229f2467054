"""Filters for the settings' LOGGING, and what they share with the web process's access log."""

import logging
import re

from django.db import InterfaceError, OperationalError

# Paths whose last part is a credential: a workflow's event URL token starts runs acting with its
# owner's permissions, a survey link's token (and its short code) opens and answers a recipient's
# survey. Web servers and Django log request paths (the access log, a refused call's warning), so
# logs would hand them to whoever reads the logs. The admin's /admin/r/ ("view on site") is not one.
_URL_SECRET = re.compile(r"(/events/salesforce/|(?<!/admin)/s/|(?<!/admin)/r/)([^/?#\s\"']+)")
SHOWN = 6  # characters kept, as the admin masks an event URL (Workflow.without_token)


def without_url_secrets(text: str) -> str:
    """`text` with the token of every event URL, survey link and short link in it cut to its first
    characters, e.g. "/events/salesforce/Ab3dEf…/": enough to tell calls apart, not to make one."""
    return _URL_SECRET.sub(lambda match: match[1] + _masked(match[2]), text)


def _masked(secret: str) -> str:
    return secret if len(secret) <= SHOWN else f"{secret[:SHOWN]}…"


class UrlSecretsMasked(logging.Filter):
    """Cut the tokens of event URLs and survey links out of every record a handler writes
    (`without_url_secrets`): Django logs the path of each refused request (a 400, 403 or 405 at a
    workflow's event URL, a CSRF refusal at a survey page) with its token in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it when the handler formats it
            return True
        masked = without_url_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class RefusalsWithoutTraceback(logging.Filter):
    """Keep `django.request`'s one-line warning about a refused request (a 4xx: permission denied,
    a bad request) and drop the traceback Django attaches to it.

    A refusal is the answer the product meant to give, and a traceback in the log reads as a crash
    to whoever watches it. Server errors (5xx) keep theirs. `status_code` is the extra that
    `django.utils.log.log_response` puts on every record it writes.

    A request the database could not serve is not a crash either: the answer is a 503
    (config.views.server_error) and the record one line (DatabaseOutageInOneLine).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = record.exc_text = None
        return True


class DatabaseOutageInOneLine(logging.Filter):
    """Write a record whose exception says the database is unavailable (database_unavailable) as
    one line, the database's words appended, without its traceback: while PostgreSQL is away
    every request and every worker's poll (django-q2's "Failed to pull task from broker") would
    otherwise write dozens of traceback lines, burying what happened."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if database_unavailable(error):
            record.msg, record.args = f"{record.getMessage()} (the database is unavailable: {one_line(error)})", ()
            record.exc_info = record.exc_text = None
        return True


def database_unavailable(error: BaseException | None) -> bool:
    """Whether `error` says the database could not serve a request for now (a connection refused
    or lost, a timeout, a deadlock): worth answering 503 and trying again, no fault of the code."""
    return isinstance(error, (OperationalError, InterfaceError))


def one_line(error: BaseException) -> str:
    """The first line of an error's text, e.g. "connection failed: connection to server at ... refused"."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
