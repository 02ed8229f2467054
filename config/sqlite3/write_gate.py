"""A write gate in which the writers of one SQLite database take turns, across processes.

Advisory locks (flock) on files beside the database: the gate, held for the length of a write
transaction, and the turnstile, held only by the writer waiting at the gate. A writer takes the
turnstile, then the gate, then lets the turnstile go. So a writer that has just left the gate and
comes straight back queues behind the one already waiting, instead of retaking the gate first as
it does SQLite's own lock (whose waiters sleep up to 100 ms between tries): a waiting writer is
next once the transaction in progress ends, or the one after when a writer already waits there.

Background writers (the worker's processes, yield_to_requests()) also let requests go first: a
request's writer holds a third lock, shared, while it waits, and a background writer waits until
no request does, for at most MAX_YIELD_SECONDS per transaction, so the worker is slowed while the
endpoint is busy but never stopped. Locks are only ever taken in the order waiting, turnstile,
gate, so the gate cannot deadlock; the kernel drops a process's locks when it dies, so a killed
process cannot leave the gate shut.

flock locks belong to an open file, not to a process, so connections in threads of one process
(one gate each) exclude one another too. Waits poll (at most POLL_SECONDS apart) so that they give
up after a timeout, like SQLite's busy timeout, rather than block for good behind a transaction
that never ends.
"""

import fcntl
import os
import sqlite3
import time

FIRST_POLL_SECONDS = 0.0002
POLL_SECONDS = 0.002
MAX_YIELD_SECONDS = 0.25

_background = False


def yield_to_requests() -> None:
    """Make the gates this process opens from now on yield to requests' (for worker processes)."""
    global _background
    _background = True


def in_background() -> bool:
    """Whether this process's writers yield to requests' (yield_to_requests was called)."""
    return _background


class WriteGate:
    """One connection's way through the gate of a database (its lock files are `path` + "",
    "-turn" and "-waiting", created as needed); `background`: a worker's writer, which lets
    requests' writers go first. Not thread-safe: one per connection."""

    def __init__(self, path: str, *, background: bool = False):
        self._background = background
        self._files: list[int] = []
        try:
            for suffix in ("", "-turn", "-waiting"):
                self._files.append(os.open(path + suffix, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        except OSError:
            self.close()
            raise
        self._gate, self._turnstile, self._waiting = self._files
        self._inside = False

    def enter(self, *, timeout: float) -> None:
        """Wait for this writer's turn and hold the gate until leave(). Raises sqlite3's
        OperationalError("database is locked"), as SQLite would, after `timeout` seconds."""
        start = time.monotonic()
        deadline = start + timeout
        if self._background:
            _wait_for_no_requests(self._waiting, min(deadline, start + MAX_YIELD_SECONDS))
        else:
            _lock(self._waiting, deadline, fcntl.LOCK_SH)
        try:
            _lock(self._turnstile, deadline)
            try:
                _lock(self._gate, deadline)
            finally:
                fcntl.flock(self._turnstile, fcntl.LOCK_UN)
        finally:
            if not self._background:
                fcntl.flock(self._waiting, fcntl.LOCK_UN)
        self._inside = True

    def leave(self) -> None:
        """Let the next writer in; nothing when this one is not inside."""
        if self._inside:
            self._inside = False
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock files, which lets go of whatever this writer holds."""
        self._inside = False
        while self._files:
            os.close(self._files.pop())


def _lock(fd: int, deadline: float, operation: int = fcntl.LOCK_EX) -> None:
    poll = FIRST_POLL_SECONDS
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError("database is locked")
        time.sleep(poll)
        poll = min(poll * 2, POLL_SECONDS)


def _wait_for_no_requests(waiting: int, until: float) -> None:
    """Wait until no request's writer waits (an exclusive lock on `waiting` would be granted),
    or until `until`."""
    try:
        _lock(waiting, until)
    except sqlite3.OperationalError:
        return  # waited long enough: take a turn anyway
    fcntl.flock(waiting, fcntl.LOCK_UN)
