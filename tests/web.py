"""A real gunicorn web process, started as the deployment guide says, against the test database."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from tests.workers import ROOT, database_url, kill

APPLICATION_NAME = "sfsurveys-web-under-test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(*, log_dir: Path, env: dict[str, str], options: tuple[str, ...] = ()):
    """Yields the port of `gunicorn -c config/gunicorn.py config.wsgi:application` on loopback.

    Its database connections carry APPLICATION_NAME, so a test can find and end them.
    """
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{database_url()}?application_name={APPLICATION_NAME}",
        "DATA_DIR": str(log_dir),
        "SECRET_KEY": "test-secret-key-for-a-gunicorn-under-test-0123456789",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
    with open(log_dir / "gunicorn.log", "wb") as log:
        process = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{port}", *options],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until_listening(port, process, log_dir / "gunicorn.log")
            yield port
        finally:
            kill(process)


def _wait_until_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start listening within 30 s")
