"""django-q2 entry points: they take ids, are idempotent, and call one service each."""

from workflows.services.dispatch import runs_dispatch_due
from workflows.services.execution import run_execute, runs_execute_due


def execute_run(run_id: int) -> None:
    run_execute(run_id=run_id)


def execute_due_runs() -> int:
    return runs_execute_due()


def dispatch_due_runs() -> int:
    return runs_dispatch_due()
