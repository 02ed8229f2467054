"""django-q2 entry points: they take ids, are idempotent, and call one service each."""

from workflows.services.dispatch import runs_dispatch_due
from workflows.services.execution import runs_execute_due
from workflows.services.failure_notices import failure_digests_send
from workflows.services.retention import history_purge
from workflows.services.test_events import test_event_deliver


def execute_due_runs() -> int:
    return runs_execute_due()


def dispatch_due_runs() -> int:
    return runs_dispatch_due()


def send_failure_digests(workflow_id: int | None = None) -> int:
    """Email due failure notices (of one workflow right after its failure; of all, every few minutes)."""
    return failure_digests_send(workflow_id=workflow_id)


def purge_history() -> dict[str, int]:
    return history_purge()


def deliver_test_event(test_event_id: int) -> None:
    test_event_deliver(test_event_id=test_event_id)
