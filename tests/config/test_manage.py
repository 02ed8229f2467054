"""`python manage.py <command>` started with a setting it cannot work with or a database it cannot
reach: one line saying what is wrong and exit status 1, not a traceback to read from the bottom."""

import os
import socket
import subprocess
import sys

import pytest

from tests.workers import ROOT


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(*arguments: str, **environment: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "k" * 60, **environment}
    return subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("command", [("migrate",), ("create_api_token", "admin"), ("export_workflows",)])
def test_a_database_that_cannot_be_reached_is_one_line_naming_it(command, tmp_path):
    done = manage(*command, DATABASE_URL=f"postgres://postgres@127.0.0.1:{_closed_port()}/x", DATA_DIR=str(tmp_path))

    assert done.returncode == 1
    assert done.stderr.startswith("The database cannot be reached: connection failed:"), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("notaurl", "Setting error: DATABASE_URL is not a database URL"),
        ("mysql://user@db.internal/sfsurveys", "Setting error: DATABASE_URL names a mysql database: this product"),
    ],
)
def test_a_database_url_it_cannot_use_is_one_line_naming_it(url, message, tmp_path):
    done = manage("migrate", DATABASE_URL=url, DATA_DIR=str(tmp_path))

    assert done.returncode == 1
    assert done.stderr.startswith(message), done.stderr
    assert "Traceback" not in done.stderr


def test_a_setting_it_cannot_work_with_is_one_line_naming_it(tmp_path):
    done = manage("migrate", DATA_DIR=str(tmp_path), WORKER_COUNT="none")

    assert done.returncode == 1
    assert done.stderr.startswith("Setting error: WORKER_COUNT must be a whole number, not 'none'"), done.stderr
    assert "Traceback" not in done.stderr


def test_traceback_still_shows_the_traceback(tmp_path):
    done = manage("migrate", "--traceback", DATA_DIR=str(tmp_path), WORKER_COUNT="none")

    assert done.returncode == 1
    assert "Traceback" in done.stderr


SCRIPT = """
import logging
import django
from django.db import OperationalError

django.setup()
try:
    raise OperationalError("connection failed: connection to server refused\\n\\tIs the server running?")
except OperationalError:
    logging.getLogger("django-q").error("Failed to pull task from broker", exc_info=True)
try:
    raise ValueError("a bug")
except ValueError:
    logging.getLogger("workflows").error("Something unexpected", exc_info=True)
"""


def test_a_process_logs_a_database_outage_in_one_line_and_a_bug_with_its_traceback(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True)

    lines = done.stderr.splitlines()
    assert lines[0].endswith(
        "ERROR django-q: Failed to pull task from broker "
        "(the database is unavailable: connection failed: connection to server refused)"
    ), done.stderr
    assert lines[1].endswith("ERROR workflows: Something unexpected"), done.stderr
    assert lines[2] == "Traceback (most recent call last):" and lines[-1] == "ValueError: a bug"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEB_THREADS", "lots", "Setting error: WEB_THREADS must be a whole number, not 'lots'"),
        ("WORKER_COUNT", "x", "Setting error: WORKER_COUNT must be a whole number, not 'x'"),
    ],
)
def test_the_web_process_stops_at_start_on_a_setting_it_cannot_work_with_in_one_line(name, value, message, tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path), "WEB_BIND": "127.0.0.1:0", name: value}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 1
    assert done.stderr.strip() == message
