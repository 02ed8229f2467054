"""Executing due runs in batches: one run_batch call per task of a workflow, outcomes saved together.

A single run is a batch of one: the same run_batch, the same path.
"""

import logging
import time
from datetime import timedelta

import pytest
from django import forms
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from directory.models import Directory
from tests.factories import ORGANIZATION_ID, case_fields, make_condition, make_run, make_task_run, make_workflow
from tests.threads import run_together
from workflows.models import FailureNotice, InboundMessage, Run, Task, TaskRun, Workflow
from workflows.services.execution import runs_execute_due
from workflows.tasks import registry
from workflows.tasks.registry import TaskError, TaskKind, TemporaryTaskError

pytestmark = pytest.mark.django_db

KIND = "test_batch"


class BatchKind:
    """A task kind that outputs its piped `value`, or fails when it reads "fail: ..." or "later: ...".

    Each success writes a directory named after its run and task: the name is unique, so a task
    executed twice for one run, or a write left behind by a rolled-back batch, raises.
    """

    def __init__(self):
        self.batches: list[list[int]] = []  # run ids of each run_batch call
        self.explode = None  # raised by run_batch of several runs after its items are done
        self.before_batch = None
        self.writes = True
        self.delay = 0.0

    def item(self, context) -> dict:
        value = context.pipe("value")
        if value.startswith("fail:"):
            raise TaskError(value.removeprefix("fail:").strip())
        if value.startswith("later:"):
            raise TemporaryTaskError(value.removeprefix("later:").strip())
        if self.writes:
            Directory.objects.create(name=marker(context.run_id, context.position))
        return {"Value": value}

    @property
    def alone(self) -> list[int]:
        """The runs executed as a batch of one."""
        return [batch[0] for batch in self.batches if len(batch) == 1]

    def run_batch(self, contexts) -> list:
        self.batches.append([context.run_id for context in contexts])
        if self.before_batch:
            self.before_batch()
        time.sleep(self.delay)
        results = []
        for context in contexts:
            try:
                results.append(self.item(context))
            except TaskError as error:
                results.append(error)
        if callable(self.explode) and len(contexts) > 1:
            return self.explode(results)
        if self.explode is not None and len(contexts) > 1:
            raise self.explode
        return results


def marker(run_id, position):
    return f"run {run_id} task {position}"


@pytest.fixture
def kind(monkeypatch, settings):
    """BatchKind registered as KIND for the test only; batches of 50 runs whatever the database."""
    settings.RUN_BATCH_SIZE = 50
    kind = BatchKind()
    task_kind = TaskKind(name=KIND, label="Test batch", config_form=forms.Form, run_batch=kind.run_batch)
    monkeypatch.setitem(registry._KINDS, KIND, task_kind)
    return kind


def make_task(*, workflow, value="${event://CaseNumber}", position=1):
    return Task.objects.create(workflow=workflow, position=position, kind=KIND, config={"value": value})


def make_runs(workflow, count, **fields):
    return [make_run(workflow=workflow, fields=case_fields(CaseNumber=f"{i:05}", **fields)) for i in range(count)]


def ids(runs):
    return [run.pk for run in runs]


def statuses(runs):
    return [Run.objects.get(pk=run.pk).status for run in runs]


def test_it_executes_a_task_of_many_runs_with_one_run_batch_call(kind):
    workflow = make_workflow()
    make_task(workflow=workflow)
    runs = make_runs(workflow, 5)

    assert runs_execute_due() == 5

    assert kind.batches == [ids(runs)]
    assert kind.alone == []
    assert statuses(runs) == [Run.Status.SUCCEEDED] * 5
    task_runs = TaskRun.objects.filter(run__in=runs).order_by("run_id")
    assert [(tr.status, tr.attempt, tr.kind) for tr in task_runs] == [(TaskRun.Status.SUCCEEDED, 1, KIND)] * 5
    assert [tr.output for tr in task_runs] == [{"Value": f"{i:05}"} for i in range(5)]
    assert [tr.resolved_input for tr in task_runs] == [{"value": f"{i:05}"} for i in range(5)]
    assert all(tr.started_at <= tr.finished_at for tr in task_runs)
    run = Run.objects.get(pk=runs[0].pk)
    assert (run.attempts, run.status_reason) == (1, "")
    assert run.finished_at is not None


def test_it_executes_a_lone_run_as_a_batch_of_one(kind):
    workflow = make_workflow()
    make_task(workflow=workflow)
    (run,) = make_runs(workflow, 1)

    runs_execute_due()

    assert kind.batches == [[run.pk]]
    assert statuses([run]) == [Run.Status.SUCCEEDED]


def test_it_fails_the_runs_whose_items_failed_and_saves_the_others(kind):
    workflow = make_workflow()
    make_task(workflow=workflow, value="${event://Outcome}")
    good = make_run(workflow=workflow, fields=case_fields(Outcome="fine"))
    bad = make_run(workflow=workflow, fields=case_fields(Outcome="fail: Choose a mailing list."))

    runs_execute_due()

    bad.refresh_from_db()
    assert bad.status == Run.Status.FAILED
    assert bad.status_reason == "Task 1 failed: Choose a mailing list."
    task_run = bad.task_runs.get()
    assert (task_run.status, task_run.error) == (TaskRun.Status.FAILED, "Choose a mailing list.")
    assert FailureNotice.objects.get().task_run == task_run
    assert statuses([good]) == [Run.Status.SUCCEEDED]
    assert list(Directory.objects.values_list("name", flat=True)) == [marker(good.pk, 1)]


@pytest.mark.parametrize(
    ("on_task_failure", "bad_run_task_statuses"),
    [
        (Workflow.OnTaskFailure.STOP, [TaskRun.Status.FAILED]),
        (Workflow.OnTaskFailure.CONTINUE, [TaskRun.Status.FAILED, TaskRun.Status.SUCCEEDED]),
    ],
)
def test_it_stops_or_continues_after_a_failed_item_as_the_workflow_says(kind, on_task_failure, bad_run_task_statuses):
    workflow = make_workflow(on_task_failure=on_task_failure)
    make_task(workflow=workflow, position=1, value="${event://Outcome}")
    make_task(workflow=workflow, position=2, value="second")
    good = make_run(workflow=workflow, fields=case_fields(Outcome="fine"))
    bad = make_run(workflow=workflow, fields=case_fields(Outcome="fail: Nope."))

    runs_execute_due()

    assert list(bad.task_runs.order_by("position").values_list("status", flat=True)) == bad_run_task_statuses
    assert list(good.task_runs.values_list("status", flat=True)) == [TaskRun.Status.SUCCEEDED] * 2
    assert statuses([good, bad]) == [Run.Status.SUCCEEDED, Run.Status.FAILED]
    assert Run.objects.get(pk=bad.pk).status_reason == "Task 1 failed: Nope."
    if on_task_failure == Workflow.OnTaskFailure.STOP:
        assert kind.batches == [[good.pk, bad.pk], [good.pk]]
    else:
        assert kind.batches == [[good.pk, bad.pk], [good.pk, bad.pk]]


def test_it_schedules_a_retry_for_an_item_that_failed_temporarily(kind):
    workflow = make_workflow()
    make_task(workflow=workflow, position=1, value="${event://Outcome}")
    make_task(workflow=workflow, position=2, value="second")
    good = make_run(workflow=workflow, fields=case_fields(Outcome="fine"))
    flaky = make_run(workflow=workflow, fields=case_fields(Outcome="later: The provider is down."))
    before = timezone.now()

    runs_execute_due()

    flaky.refresh_from_db()
    assert flaky.status == Run.Status.QUEUED
    assert flaky.claimed_at is None
    assert flaky.next_attempt_at >= before + timedelta(minutes=1)
    assert "Task 1 failed temporarily (The provider is down.)" in flaky.status_reason
    task_run = flaky.task_runs.get()
    assert (task_run.status, task_run.error) == (TaskRun.Status.RETRYING, "The provider is down.")
    assert statuses([good]) == [Run.Status.SUCCEEDED]
    assert kind.alone == [good.pk]  # task 2 ran for the good run only
    assert not FailureNotice.objects.exists()


def test_it_gives_up_on_an_item_that_failed_temporarily_after_the_retry_window(kind):
    workflow = make_workflow()
    make_task(workflow=workflow, value="${event://Outcome}")
    good = make_run(workflow=workflow, fields=case_fields(Outcome="fine"))
    flaky = make_run(workflow=workflow, fields=case_fields(Outcome="later: The provider is down."))
    Run.objects.filter(pk=flaky.pk).update(created_at=timezone.now() - timedelta(hours=25))

    runs_execute_due()

    flaky.refresh_from_db()
    assert flaky.status == Run.Status.FAILED
    assert "gave up after retrying for 24 hours: The provider is down." in flaky.status_reason
    assert flaky.task_runs.get().status == TaskRun.Status.FAILED
    assert FailureNotice.objects.get().task_run.run_id == flaky.pk
    assert statuses([good]) == [Run.Status.SUCCEEDED]


@pytest.mark.parametrize(
    "explode",
    [
        RuntimeError("bug in run_batch"),
        IntegrityError("duplicate key value violates unique constraint"),
        lambda results: results[:-1],  # one result short
        lambda results: [*results[:-1], "not a result"],
    ],
    ids=["error", "integrity-error", "too-few-results", "wrong-result-type"],
)
def test_it_rolls_back_a_batch_that_raised_and_executes_each_run_alone(kind, explode, caplog):
    kind.explode = explode
    workflow = make_workflow()
    make_task(workflow=workflow)
    runs = make_runs(workflow, 3)

    with caplog.at_level(logging.WARNING, logger="workflows.services.execution"):
        runs_execute_due()

    assert kind.batches == [ids(runs), *[[run.pk] for run in runs]]
    assert statuses(runs) == [Run.Status.SUCCEEDED] * 3
    # One attempt each, and the batch's own writes are gone (their names would have clashed).
    assert sorted(TaskRun.objects.values_list("run_id", "attempt", "status")) == [
        (run.pk, 1, TaskRun.Status.SUCCEEDED) for run in runs
    ]
    assert sorted(Directory.objects.values_list("name", flat=True)) == sorted(marker(run.pk, 1) for run in runs)
    assert "executing each run alone" in caplog.text


def test_it_pipes_outputs_into_later_tasks_of_the_batch(kind):
    workflow = make_workflow()
    make_task(workflow=workflow, position=1)
    make_task(workflow=workflow, position=2, value="${task://1/Value} again")
    runs = make_runs(workflow, 3)

    runs_execute_due()

    assert kind.batches == [ids(runs), ids(runs)]
    outputs = TaskRun.objects.filter(position=2).order_by("run_id").values_list("output", flat=True)
    assert list(outputs) == [{"Value": f"{i:05} again"} for i in range(3)]


def test_it_reads_the_inbound_messages_organization_id_but_not_their_bodies(kind):
    workflow = make_workflow()
    make_task(workflow=workflow, value="${event://CaseNumber} ${event://_OrganizationId}")
    runs = make_runs(workflow, 3)
    InboundMessage.objects.filter(notifications__runs__in=runs).update(body="<soapenv:Envelope>" + "x" * 10_000)

    with CaptureQueriesContext(connection) as queries:
        runs_execute_due()

    outputs = TaskRun.objects.order_by("run_id").values_list("output", flat=True)
    assert list(outputs) == [{"Value": f"{i:05} {ORGANIZATION_ID}"} for i in range(3)]
    body = f"{connection.ops.quote_name(InboundMessage._meta.db_table)}.{connection.ops.quote_name('body')}"
    assert not [query["sql"] for query in queries.captured_queries if body in query["sql"]]


def test_it_executes_a_batch_mixing_workflows(kind):
    first, second = make_workflow(), make_workflow()
    make_task(workflow=first, value="first ${event://CaseNumber}")
    make_task(workflow=second, value="second ${event://CaseNumber}")
    make_condition(workflow=second, field="IsClosed", operator="equals", value="true")
    disabled = make_workflow(enabled=False)
    make_task(workflow=disabled)
    first_runs = make_runs(first, 2)
    second_runs = make_runs(second, 2)
    open_case = make_run(workflow=second, fields=case_fields(IsClosed="false"))
    skipped = make_run(workflow=disabled)

    assert runs_execute_due() == 6

    assert sorted(kind.batches) == sorted([ids(first_runs), ids(second_runs)])
    assert kind.alone == []
    assert statuses([*first_runs, *second_runs]) == [Run.Status.SUCCEEDED] * 4
    outputs = [TaskRun.objects.get(run=run).output["Value"] for run in [*first_runs, *second_runs]]
    assert outputs == ["first 00000", "first 00001", "second 00000", "second 00001"]
    open_case.refresh_from_db()
    assert open_case.status == Run.Status.CONDITIONS_NOT_MET
    assert [(r["actual"], r["passed"]) for r in open_case.condition_results] == [("false", False)]
    assert Run.objects.get(pk=second_runs[0].pk).condition_results[0]["passed"] is True
    skipped.refresh_from_db()
    assert (skipped.status, skipped.status_reason) == (Run.Status.SKIPPED, Run.WORKFLOW_DISABLED)
    assert not TaskRun.objects.filter(run__in=[open_case, skipped]).exists()


def test_it_learns_the_fields_of_all_the_runs_of_a_batch(kind):
    workflow = make_workflow()
    make_run(workflow=workflow, fields=case_fields(Region__c="EMEA"))
    make_run(workflow=workflow, fields=case_fields(Tier__c="Gold"))

    runs_execute_due()

    workflow.refresh_from_db()
    assert {"Region__c", "Tier__c", "CaseNumber"} <= set(workflow.known_fields)


def test_it_executes_a_retried_run_with_its_batch_without_redoing_its_succeeded_tasks(kind):
    workflow = make_workflow()
    make_task(workflow=workflow, position=1)
    make_task(workflow=workflow, position=2, value="${task://1/Value} again")
    fresh = make_runs(workflow, 2)
    # Reaped after its worker died having done task 1: queued again, already attempted once.
    retried = make_run(workflow=workflow, fields=case_fields(CaseNumber="R"), attempts=1)
    make_task_run(run=retried, position=1, kind=KIND, output={"Value": "from before"})

    runs_execute_due()

    assert kind.batches == [ids(fresh), [*ids(fresh), retried.pk]]  # its task 2 only
    retried.refresh_from_db()
    assert (retried.status, retried.attempts) == (Run.Status.SUCCEEDED, 2)
    assert list(retried.task_runs.values_list("position", "attempt")) == [(1, 1), (2, 1)]
    assert retried.task_runs.get(position=2).output == {"Value": "from before again"}
    assert statuses(fresh) == [Run.Status.SUCCEEDED] * 2


def test_it_saves_the_batch_when_a_retried_run_of_it_is_rescheduled(kind):
    workflow = make_workflow()
    make_task(workflow=workflow, value="${event://Outcome}")
    due_earlier = timezone.now() - timedelta(minutes=5)
    retried = make_run(
        workflow=workflow, fields=case_fields(Outcome="later: Still down."), attempts=1, next_attempt_at=due_earlier
    )
    fresh = [make_run(workflow=workflow, fields=case_fields(Outcome="fine")) for _ in range(2)]

    runs_execute_due()

    assert kind.batches == [[retried.pk, *ids(fresh)]]
    assert statuses([retried, *fresh]) == [Run.Status.QUEUED, Run.Status.SUCCEEDED, Run.Status.SUCCEEDED]


def test_it_leaves_a_run_taken_over_during_the_batch_to_the_worker_that_took_it(kind, caplog):
    workflow = make_workflow()
    make_task(workflow=workflow, value="${event://Outcome}")
    kept = make_run(workflow=workflow, fields=case_fields(Outcome="fine"))
    taken = make_run(workflow=workflow, fields=case_fields(Outcome="fail: Nope."))
    later = timezone.now() + timedelta(minutes=15)
    # Meanwhile the reaper requeued one run and another worker claimed it again.
    kind.before_batch = lambda: Run.objects.filter(pk=taken.pk).update(claimed_at=later, attempts=2)

    with caplog.at_level(logging.WARNING, logger="workflows.services.execution"):
        runs_execute_due()

    taken.refresh_from_db()
    assert (taken.status, taken.claimed_at, taken.finished_at) == (Run.Status.RUNNING, later, None)
    assert not FailureNotice.objects.exists()  # that worker reports its own failures
    assert statuses([kept]) == [Run.Status.SUCCEEDED]
    assert "1 of 2 runs were taken over by another worker" in caplog.text


def test_it_claims_batches_of_the_configured_size(kind, settings):
    settings.RUN_BATCH_SIZE = 2
    workflow = make_workflow()
    make_task(workflow=workflow)
    runs = make_runs(workflow, 5)

    assert runs_execute_due() == 5

    assert kind.batches == [ids(runs[:2]), ids(runs[2:4]), [runs[4].pk]]


def test_it_claims_no_more_than_its_share_of_runs(kind):
    workflow = make_workflow()
    make_task(workflow=workflow)
    runs = make_runs(workflow, 5)

    assert runs_execute_due(max_runs=3, batch_size=2) == 3

    assert statuses(runs) == [Run.Status.SUCCEEDED] * 3 + [Run.Status.QUEUED] * 2


def test_it_claims_due_runs_only_oldest_first(kind):
    workflow = make_workflow()
    make_task(workflow=workflow)
    now = timezone.now()
    newer = make_run(workflow=workflow, next_attempt_at=now - timedelta(minutes=1))
    older = make_run(workflow=workflow, next_attempt_at=now - timedelta(minutes=2))
    not_due = make_run(workflow=workflow, next_attempt_at=now + timedelta(minutes=5))

    assert runs_execute_due() == 2

    assert kind.batches == [[older.pk, newer.pk]]
    assert statuses([not_due]) == [Run.Status.QUEUED]


def statements_for(runs_count):
    workflow = make_workflow()
    make_condition(workflow=workflow, field="IsClosed", operator="equals", value="true")
    make_task(workflow=workflow, position=1)
    make_task(workflow=workflow, position=2, value="${task://1/Value} again")
    runs = make_runs(workflow, runs_count)
    with CaptureQueriesContext(connection) as queries:
        assert runs_execute_due() == runs_count
    assert statuses(runs) == [Run.Status.SUCCEEDED] * runs_count
    return len(queries)


def test_it_executes_a_batch_with_a_number_of_statements_that_does_not_grow_with_its_runs(kind):
    kind.writes = False

    assert statements_for(30) == statements_for(5)


def test_it_executes_thirty_runs_in_a_handful_of_statements(kind, django_assert_max_num_queries):
    kind.writes = False
    workflow = make_workflow()
    make_task(workflow=workflow, position=1)
    make_task(workflow=workflow, position=2, value="${task://1/Value} again")
    runs = make_runs(workflow, 30)

    # Claim 3, prefetch 2, learn the fields 2, one insert per task, the outcomes 1, "anything left?" 1,
    # and the savepoints of the transactions among them; run by run, it takes hundreds.
    with django_assert_max_num_queries(25):
        runs_execute_due()

    assert statuses(runs) == [Run.Status.SUCCEEDED] * 30


@pytest.mark.django_db(transaction=True)
def test_it_claims_each_run_once_when_two_workers_drain_in_batches(postgres_only, kind):
    kind.delay = 0.05  # each batch holds its claim a moment, so the workers really interleave
    workflow = make_workflow()
    make_task(workflow=workflow)
    runs = make_runs(workflow, 200)
    executed = run_together(2, lambda i: runs_execute_due(batch_size=20))

    assert sum(executed) == 200 and min(executed) > 0, executed
    assert sorted(run_id for batch in kind.batches for run_id in batch) == ids(runs)
    assert kind.alone == []
    assert set(Run.objects.values_list("status", "attempts")) == {(Run.Status.SUCCEEDED, 1)}
    assert TaskRun.objects.count() == 200
    assert Directory.objects.count() == 200
