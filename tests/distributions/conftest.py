import pytest

from workflows.services.execution import run_execute


@pytest.fixture
def execute(django_capture_on_commit_callbacks):
    """Run it as the worker does: what waits for the commit (sending) runs as after a real commit,
    or, with `worker_dies_after_commit`, never, as when the worker dies right after it."""

    def execute(run, *, worker_dies_after_commit=False):
        with django_capture_on_commit_callbacks(execute=not worker_dies_after_commit):
            run_execute(run_id=run.pk)
        run.refresh_from_db()
        return run

    return execute
