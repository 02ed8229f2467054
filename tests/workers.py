"""Real `manage.py qcluster` processes for the tests that kill workers, against the test database."""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from workflows.services.dispatch import runs_dispatch_due

ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    """The test database, for processes started outside pytest."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for(condition, *, seconds, every=0.05, dispatch=False) -> bool:
    """Whether `condition()` came true within `seconds`, checked every `every` seconds; with
    `dispatch`, runs_dispatch_due() once a second meanwhile, as the dispatcher's schedule would."""
    deadline = time.monotonic() + seconds
    last_dispatch = 0.0
    while time.monotonic() < deadline:
        if dispatch and time.monotonic() - last_dispatch >= 1:
            runs_dispatch_due()
            last_dispatch = time.monotonic()
        if condition():
            return True
        time.sleep(every)
    return False


def kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the cluster and every worker it forked
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


@contextmanager
def qclusters(*, log_dir: Path, env: dict[str, str]):
    """Yields start(): each call launches a qcluster in its own process group; all are killed on exit."""
    started = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "DATA_DIR": str(log_dir),
        "PYTHONUNBUFFERED": "1",
        **env,
    }

    def start() -> subprocess.Popen:
        log = open(log_dir / f"qcluster-{len(started) + 1}.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append((process, log))
        return process

    try:
        yield start
    finally:
        for process, log in started:
            kill(process)
            log.close()
