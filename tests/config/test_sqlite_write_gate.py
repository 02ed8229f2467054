"""The SQLite default's write gate (config/sqlite3): writers take turns, so an ack does not wait
through a busy worker's transactions, and the gate can neither deadlock nor stay shut."""

import fcntl
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler

from config.sqlite3 import ENGINE
from config.sqlite3.write_gate import MAX_YIELD_SECONDS, WriteGate
from tests.workers import ROOT

# Long enough that a waiting writer seeing more than two of them means it was passed over, not that
# a loaded machine kept its thread off the CPU for a transaction or two.
WORKER_TRANSACTION_SECONDS = 0.1


def _connection(path):
    """A connection to the SQLite file `path` as the settings configure the SQLite default."""
    options = {"transaction_mode": "IMMEDIATE", "timeout": 5, "init_command": "PRAGMA journal_mode=WAL;"}
    handler = ConnectionHandler({"default": {"ENGINE": ENGINE, "NAME": str(path), "OPTIONS": options}})
    return handler["default"]


@contextmanager
def _write_transaction(connection):
    """What transaction.atomic does on the outermost block, for a connection outside connections[]."""
    connection.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        with connection.cursor() as cursor:
            yield cursor
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.set_autocommit(True)


@pytest.fixture(autouse=True)
def own_connections(django_db_blocker):
    """These tests open their own connections to SQLite files, not the test database."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "db.sqlite3"
    connection = _connection(path)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE written (id INTEGER PRIMARY KEY, writer TEXT NOT NULL)")
    connection.close()
    return path


@contextmanager
def _busy_worker(path):
    """A writer that runs write transactions back to back, as a worker draining runs does.
    Yields its count of committed transactions (a list of one int)."""
    commits = [0]
    started = threading.Event()
    stop = threading.Event()
    errors = []

    def work():
        connection = _connection(path)
        try:
            while not stop.is_set():
                with _write_transaction(connection) as cursor:
                    cursor.execute("INSERT INTO written (writer) VALUES ('worker')")
                    time.sleep(WORKER_TRANSACTION_SECONDS)  # the transaction's work
                commits[0] += 1
                started.set()
        except BaseException as error:  # noqa: BLE001 - handed back to the test thread
            errors.append(error)
            started.set()
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert started.wait(timeout=10)
        yield commits
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors


def test_a_writer_waiting_for_a_busy_worker_goes_next(database):
    # SQLite's own lock alone lets the worker take it back after every commit while the writer
    # sleeps in the busy handler: the writer would wait through dozens of transactions, or fail.
    connection = _connection(database)
    waited_through = []
    with _busy_worker(database) as commits:
        for _ in range(10):
            before = commits[0]
            with _write_transaction(connection) as cursor:
                waited_through.append(commits[0] - before)
                cursor.execute("INSERT INTO written (writer) VALUES ('request')")
            time.sleep(0.005)
    with connection.cursor() as cursor:
        cursor.execute("SELECT writer, count(*) FROM written GROUP BY writer")
        written = dict(cursor.fetchall())
    connection.close()
    # The transaction in progress, and at most one more that had begun waiting first.
    assert max(waited_through) <= 2, waited_through
    assert written == {"request": 10, "worker": commits[0]}  # nothing lost on either side


def test_a_writer_rolled_back_or_closed_lets_the_next_one_in(database):
    first, second = _connection(database), _connection(database)
    with pytest.raises(RuntimeError), _write_transaction(first) as cursor:
        cursor.execute("INSERT INTO written (writer) VALUES ('rolled back')")
        raise RuntimeError
    with _write_transaction(second) as cursor:
        cursor.execute("INSERT INTO written (writer) VALUES ('second')")
    first.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    first.close()  # inside its transaction: closing ends it, and drops the gate with it
    with _write_transaction(second) as cursor:
        cursor.execute("SELECT writer FROM written")
        assert cursor.fetchall() == [("second",)]
    second.close()


def test_a_writer_gives_up_as_sqlite_would_when_the_gate_stays_shut(database, tmp_path):
    holder = WriteGate(f"{database}-writegate")
    holder.enter(timeout=1)
    connection = _connection(database)
    connection.settings_dict["OPTIONS"]["timeout"] = 0.2
    try:
        with pytest.raises(OperationalError, match="database is locked"), _write_transaction(connection):
            pass
    finally:
        holder.leave()
        holder.close()
    with _write_transaction(connection) as cursor:  # and gets in once it opens
        cursor.execute("INSERT INTO written (writer) VALUES ('later')")
    connection.close()


def test_a_killed_writer_does_not_leave_the_gate_shut(tmp_path):
    path = str(tmp_path / "db.sqlite3-writegate")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom config.sqlite3.write_gate import WriteGate\n"
            f"WriteGate({path!r}).enter(timeout=5)\nprint('inside', flush=True)\ntime.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "inside"
        gate = WriteGate(path)
        with pytest.raises(Exception, match="database is locked"):
            gate.enter(timeout=0.1)
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
    gate.enter(timeout=1)
    gate.leave()
    gate.close()


def _enter_in_thread(gate):
    inside = threading.Event()
    thread = threading.Thread(target=lambda: (gate.enter(timeout=5), inside.set()))
    thread.start()
    return thread, inside


def test_a_worker_lets_a_waiting_request_go_first_for_a_while(tmp_path):
    path = str(tmp_path / "db.sqlite3-writegate")
    worker = WriteGate(path, background=True)
    with open(f"{path}-waiting", "a") as waiting:
        fcntl.flock(waiting, fcntl.LOCK_SH)  # as a request's writer does while it waits
        thread, inside = _enter_in_thread(worker)
        # The gate is open, but a request is waiting for it.
        assert not inside.wait(timeout=MAX_YIELD_SECONDS / 3)
        fcntl.flock(waiting, fcntl.LOCK_UN)
        assert inside.wait(timeout=5)
        thread.join(timeout=5)
        worker.leave()

        fcntl.flock(waiting, fcntl.LOCK_SH)  # requests that never stop coming
        thread, inside = _enter_in_thread(worker)
        assert inside.wait(timeout=5)  # the worker is slowed, never stopped
        thread.join(timeout=5)
    worker.leave()
    worker.close()
