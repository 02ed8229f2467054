"""Django's SQLite backend with a fair write gate (ENGINE "config.sqlite3" in config/settings.py).

SQLite lets one connection write at a time. A connection that finds the write lock taken sleeps
in SQLite's busy handler and tries again, up to 100 ms between tries, while a writer that has
just committed takes the lock back at once: a worker running short write transactions back to
back can keep the event endpoint waiting through dozens of them (seconds), although each lasts
milliseconds. Every transaction here first passes a gate (write_gate.py) in which writers take
turns, so a waiting writer is next once the transaction in progress ends.
"""

from django.db.backends.sqlite3 import base

from config.sqlite3.write_gate import WriteGate, in_background


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._write_gate = None

    def _gate(self) -> WriteGate | None:
        """This connection's gate, opened on first use; None for an in-memory database."""
        if self._write_gate is None and not self.is_in_memory_db():
            self._write_gate = WriteGate(f"{self.settings_dict['NAME']}-writegate", background=in_background())
        return self._write_gate

    def _start_transaction_under_autocommit(self):
        # Transactions begin with the write lock (BEGIN IMMEDIATE), so the gate is taken first.
        gate = self._gate()
        if gate is None:
            return super()._start_transaction_under_autocommit()
        with self.wrap_database_errors:  # a wait that timed out is Django's OperationalError
            gate.enter(timeout=self.settings_dict["OPTIONS"].get("timeout", 5))
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            gate.leave()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._leave_gate()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._leave_gate()

    def _close(self):
        try:
            return super()._close()
        finally:
            if self._write_gate is not None:
                self._write_gate.close()
                self._write_gate = None

    def _leave_gate(self):
        if self._write_gate is not None:
            self._write_gate.leave()
