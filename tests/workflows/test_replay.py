import pytest

from tests.factories import make_directory_task, make_run, make_workflow
from workflows.models import Run, Workflow
from workflows.services.execution import run_execute
from workflows.services.replay import ReplayError, runs_replay

pytestmark = pytest.mark.django_db


def test_it_replays_a_skipped_run_as_a_new_linked_run(django_capture_on_commit_callbacks):
    workflow = make_workflow(enabled=False)
    make_directory_task(workflow=workflow)
    original = make_run(workflow=workflow, status=Run.Status.SKIPPED)
    Workflow.objects.filter(pk=workflow.pk).update(enabled=True)
    with django_capture_on_commit_callbacks(execute=True):
        (replay,) = runs_replay(
            runs=Run.objects.filter(pk=original.pk).select_related("workflow"), user=original.workflow.owner
        )
    replay.refresh_from_db()
    original.refresh_from_db()
    assert replay.replay_of == original
    assert replay.status == Run.Status.SUCCEEDED
    assert original.status == Run.Status.SKIPPED


def test_it_refuses_to_replay_runs_of_a_disabled_workflow():
    workflow = make_workflow(enabled=False)
    run = make_run(workflow=workflow, status=Run.Status.SKIPPED)
    with pytest.raises(ReplayError, match=f"Enable {workflow.name}"):
        runs_replay(runs=[run], user=run.workflow.owner)


def test_it_runs_the_current_definition_not_the_old_one():
    workflow = make_workflow()
    original = make_run(workflow=workflow)
    run_execute(run_id=original.pk)
    make_directory_task(workflow=workflow)
    (replay,) = runs_replay(runs=[original], user=original.workflow.owner)
    run_execute(run_id=replay.pk)
    assert replay.task_runs.count() == 1
    assert original.task_runs.count() == 0
