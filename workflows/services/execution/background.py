"""Work a task hands over at commit, done by the worker's second thread while the next batch executes.

A batch of distribute tasks ends by sending its emails, one SMTP exchange and one outcome record
after another: time spent waiting on the mail server and the database, not computing. A worker
draining due runs (`runs_execute_due`) does that sending in a second thread, in the order the
batches committed, while its first thread claims and executes the next batch.

Only one batch's work is outstanding at a time: a task calls `after_commit_work_wait()` before
the statement whose commit starts new work (the claim of its emails), so the claim commits only
once the previous batch's emails all have their outcomes. What a worker that dies leaves in
doubt is therefore what it was without the second thread (see distributions/services/delivery.py).

The second thread has its own database connection, so it only runs where other connections see
what the first thread committed at once and its writes never wait on the first thread's open
transaction: on PostgreSQL, outside any transaction. Elsewhere (SQLite, whose one writer the
first thread holds while it waits; a test's transaction) the work runs at commit, as
`transaction.on_commit` does.
"""

import logging
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, connections, transaction

logger = logging.getLogger(__name__)

SWITCH_INTERVAL_SECONDS = 0.0005

_local = threading.local()


class _SecondThread:
    """One thread doing handed-over work in order; `wait()` returns once all of it is done."""

    def __init__(self):
        self._work: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._outstanding = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="after-commit-work", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            self._outstanding += 1
            self._idle.clear()
        self._work.put(work)

    def wait(self) -> None:
        self._idle.wait()

    def stop(self) -> None:
        self._work.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            while (work := self._work.get()) is not None:
                try:
                    work()
                except Exception:  # as transaction.on_commit(robust=True): logged, the worker goes on
                    logger.exception("Work handed over at commit failed")
                finally:
                    with self._lock:
                        self._outstanding -= 1
                        if not self._outstanding:
                            self._idle.set()
        finally:
            connections.close_all()  # this thread's own connections


@contextmanager
def after_commit_work_in_second_thread() -> Iterator[None]:
    """Within it, work handed over with `after_commit_work` runs in a second thread (where it can,
    see the module's docstring); all of it is done when the block exits."""
    if connection.vendor != "postgresql" or connection.in_atomic_block or getattr(_local, "second", None):
        yield
        return
    _short_switch_interval_enter()
    _local.second = _SecondThread()
    try:
        yield
    finally:
        second, _local.second = _local.second, None
        second.stop()
        _short_switch_interval_exit()


# The second thread mostly waits on sockets; woken by a reply, it needs the interpreter lock, which
# the first thread, computing, gives up every switch interval only (5 ms by default): each SMTP
# command and outcome record would wait that long. The interval is process-wide: it is shortened
# while any thread of the process has a second thread, and put back when the last one ends.
_switch_lock = threading.Lock()
_switch_users = 0
_switch_interval_before = sys.getswitchinterval()


def _short_switch_interval_enter() -> None:
    global _switch_users, _switch_interval_before
    with _switch_lock:
        if _switch_users == 0:
            _switch_interval_before = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        _switch_users += 1


def _short_switch_interval_exit() -> None:
    global _switch_users
    with _switch_lock:
        _switch_users -= 1
        if _switch_users == 0:
            sys.setswitchinterval(_switch_interval_before)


def after_commit_work(work: Callable[[], None]) -> None:
    """Do `work` once the current transaction commits (never if it rolls back): in the second
    thread when one runs, else at commit. `work` must not rely on the caller's connection or transaction."""
    second = getattr(_local, "second", None)
    if second is None:
        transaction.on_commit(work, robust=True)
    else:
        transaction.on_commit(lambda: second.submit(work), robust=True)


def after_commit_work_wait() -> None:
    """Wait until the work handed over so far is done (at once without a second thread)."""
    second = getattr(_local, "second", None)
    if second is not None:
        second.wait()
