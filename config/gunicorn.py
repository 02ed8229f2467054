"""The web process's gunicorn settings: `gunicorn -c config/gunicorn.py config.wsgi:application`.

Threaded workers (gthread) rather than gunicorn's default sync ones: a sync worker reading a
slow or stalled request body can do nothing else, and once `timeout` passes gunicorn kills it
and answers the caller with its own HTML 500. A gthread worker's other threads go on answering,
and the worker is never killed for one slow client; a client that gives up gets a SOAP Fault
(the endpoint logs it). A buffering proxy in front (README, Deployment) keeps slow clients away
from the threads altogether. Command-line options override these.
"""

import os
import sys
from typing import NoReturn

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from gunicorn import glogging

from config.env import env_int, env_str
from config.logging_filters import UrlSecretsMasked, without_url_secrets


def _settings_error(error: ImproperlyConfigured) -> NoReturn:
    """Stop gunicorn's master at start on a setting the product cannot work with, in one line
    naming the variable, rather than a traceback per worker that fails to boot."""
    sys.stderr.write(f"Setting error: {error}\n")
    sys.exit(1)


try:
    # The Django settings too, read once here: every variable of .env.example is checked before any
    # worker is forked (gunicorn imports the application in each worker).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django_settings.INSTALLED_APPS  # noqa: B018 - loads and checks the settings
    bind = env_str("WEB_BIND", "0.0.0.0:8000")
    # gunicorn also reads WEB_CONCURRENCY itself; named here so .env.example lists it.
    workers = env_int("WEB_CONCURRENCY", 4, minimum=1)
    worker_class = "gthread"
    # Each thread holds its own database connection: workers x threads connections in all.
    threads = env_int("WEB_THREADS", 8, minimum=1)
    # Seconds a worker may go silent before gunicorn restarts it; threads keep it talking.
    timeout = env_int("WEB_TIMEOUT_SECONDS", 30, minimum=1)
    graceful_timeout = timeout
    # Seconds an idle keep-alive connection is kept open.
    keepalive = 5
except ImproperlyConfigured as error:
    _settings_error(error)
accesslog = "-"


class AccessLogWithoutUrlSecrets(glogging.Logger):
    """gunicorn's logger, writing every access-log value (the request line, the path, the Referer a
    survey page's own form sends) and every error-log message ("Error handling request <path>")
    with the tokens of event URLs and survey links cut to their first characters
    (config.logging_filters.without_url_secrets): logs are read by more people and systems than the
    admin, and a workflow's token starts runs with its owner's permissions."""

    def setup(self, cfg):
        super().setup(cfg)
        if not any(isinstance(existing, UrlSecretsMasked) for existing in self.error_log.filters):
            self.error_log.addFilter(UrlSecretsMasked())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: without_url_secrets(value) if isinstance(value, str) else value for name, value in atoms.items()}


logger_class = AccessLogWithoutUrlSecrets
