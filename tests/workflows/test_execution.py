"""Executing runs: conditions, the add-to-directory task, errors, retries and claims.

Batches of runs are covered with a test kind in test_batch_execution.py.
"""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from directory.models import Contact, Membership, Transaction
from tests.factories import case_fields, make_condition, make_directory_task, make_run, make_workflow
from workflows.models import Run, Task, TaskRun, Workflow
from workflows.services.execution import run_execute, runs_execute_due
from workflows.tasks import registry
from workflows.tasks.registry import TaskError

pytestmark = pytest.mark.django_db


def execute(run):
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_it_saves_the_contact_with_embedded_data_in_the_list():
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    run = execute(make_run(workflow=workflow))
    assert run.status == Run.Status.SUCCEEDED
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.email) == ("Ada", "Lovelace", "ada@example.com")
    assert contact.embedded_data == {"Priority": "High"}
    assert Membership.objects.get().mailing_list.name == "Support customers"
    output = run.task_runs.get().output
    assert output["ContactId"] == str(contact.pk)
    assert output["ContactAction"] == "created"


def test_it_updates_the_same_contact_when_the_email_differs_only_by_case():
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    execute(make_run(workflow=workflow, fields=case_fields(Priority="Low")))
    run = execute(make_run(workflow=workflow, fields=case_fields(ContactEmail="ADA@Example.com", Priority="High")))
    assert Contact.objects.count() == 1
    assert Contact.objects.get().embedded_data["Priority"] == "High"
    assert run.task_runs.get().output["ContactAction"] == "updated"


def test_it_records_conditions_not_met_and_runs_no_task():
    workflow = make_workflow()
    make_condition(workflow=workflow, field="IsClosed", operator="equals", value="true")
    make_directory_task(workflow=workflow)
    run = execute(make_run(workflow=workflow, fields=case_fields(IsClosed="false")))
    assert run.status == Run.Status.CONDITIONS_NOT_MET
    assert run.condition_results[0]["actual"] == "false"
    assert run.condition_results[0]["passed"] is False
    assert not TaskRun.objects.exists()
    assert not Contact.objects.exists()


def test_it_compares_conditions_with_piped_values():
    workflow = make_workflow()
    make_condition(workflow=workflow, field="Store__c", operator="equals", value="${event://Origin}")
    make_directory_task(workflow=workflow)
    run = execute(make_run(workflow=workflow, fields=case_fields(Store__c="Web", Origin="Web")))
    assert run.status == Run.Status.SUCCEEDED
    assert run.condition_results[0]["expected"] == "Web"


def test_it_compares_conditions_by_the_field_types_the_wsdl_declares():
    workflow = make_workflow(known_fields={"CaseNumber": "string"}, fields_from_wsdl=True)
    make_condition(workflow=workflow, field="CaseNumber", operator="equals", value="1026")
    make_directory_task(workflow=workflow)
    run = execute(make_run(workflow=workflow, fields=case_fields(CaseNumber="00001026")))
    assert run.status == Run.Status.CONDITIONS_NOT_MET


def test_it_matches_a_multi_select_picklist_value_whole_with_includes():
    workflow = make_workflow()
    make_condition(workflow=workflow, field="Channels__c", operator="includes", value="Chat")
    make_directory_task(workflow=workflow)
    not_met = execute(make_run(workflow=workflow, fields=case_fields(Channels__c="Chatter;Phone")))
    met = execute(make_run(workflow=workflow, fields=case_fields(Channels__c="Phone;Chat")))
    assert (not_met.status, met.status) == (Run.Status.CONDITIONS_NOT_MET, Run.Status.SUCCEEDED)


def test_it_fails_the_task_naming_the_piped_field_when_the_email_is_missing():
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    fields = case_fields()
    del fields["ContactEmail"]
    run = execute(make_run(workflow=workflow, fields=fields))
    assert run.status == Run.Status.FAILED
    task_run = run.task_runs.get()
    assert task_run.status == TaskRun.Status.FAILED
    assert "Email is required, but ${event://ContactEmail} was empty" in task_run.error
    assert "${event://ContactEmail} resolved to empty" in task_run.notes


def test_it_fails_the_task_on_a_malformed_email():
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    run = execute(make_run(workflow=workflow, fields=case_fields(ContactEmail="ada@@example")))
    assert "is not a valid email address" in run.task_runs.get().error
    assert not Contact.objects.exists()


def test_it_stores_phone_numbers_in_e164():
    workflow = make_workflow()
    make_directory_task(workflow=workflow, phone="${event://ContactMobile}")
    execute(make_run(workflow=workflow, fields=case_fields(ContactMobile="+39 02 1234 5678")))
    assert Contact.objects.get().phone == "+390212345678"


def test_it_appends_a_transaction_to_an_existing_contact():
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    make_directory_task(
        workflow=workflow,
        position=2,
        save_mode="transaction",
        transaction_date="${event://ClosedDate}",
        data_fields=[["Store", "${event://Store__c}"]],
    )
    run = execute(make_run(workflow=workflow, fields=case_fields(ClosedDate="2026-11-02T10:30:00.000Z")))
    assert run.status == Run.Status.SUCCEEDED
    transaction = Transaction.objects.get()
    assert transaction.data == {"Store": "Milan"}
    assert transaction.transaction_date.isoformat() == "2026-11-02T10:30:00+00:00"
    assert transaction.run_id == run.pk
    assert Contact.objects.get().embedded_data == {"Priority": "High"}


def test_it_refuses_a_transaction_for_an_unknown_contact_and_says_how_to_create_it():
    workflow = make_workflow()
    make_directory_task(workflow=workflow, save_mode="transaction")
    run = execute(make_run(workflow=workflow))
    assert "Save or update embedded data" in run.task_runs.get().error
    assert not Transaction.objects.exists()


def test_it_pipes_an_earlier_task_output_into_a_later_task():
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    make_directory_task(workflow=workflow, position=2, data_fields=[["FirstContact", "${task://1/ContactId}"]])
    run = execute(make_run(workflow=workflow))
    contact = Contact.objects.get()
    assert contact.embedded_data["FirstContact"] == str(contact.pk)
    assert run.status == Run.Status.SUCCEEDED


def test_it_continues_after_a_failed_task_by_default():
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1, email="not-an-email")
    make_directory_task(workflow=workflow, position=2)
    run = execute(make_run(workflow=workflow))
    assert run.status == Run.Status.FAILED
    assert [tr.status for tr in run.task_runs.order_by("position")] == ["failed", "succeeded"]
    assert "Task 1 failed" in run.status_reason


def test_it_stops_after_a_failed_task_when_told_to():
    workflow = make_workflow(on_task_failure=Workflow.OnTaskFailure.STOP)
    make_directory_task(workflow=workflow, position=1, email="not-an-email")
    make_directory_task(workflow=workflow, position=2)
    run = execute(make_run(workflow=workflow))
    assert run.task_runs.count() == 1
    assert not Contact.objects.exists()


@pytest.fixture
def patch_directory_task(monkeypatch):
    """Swap the directory task for a run() wrapping the real one, executed for one run at a time."""

    def patch(wrapper):
        kind = registry.get("add_to_directory")

        def real_run(context):
            (result,) = kind.run_batch([context])
            if isinstance(result, TaskError):
                raise result
            return result

        monkeypatch.setitem(registry._KINDS, kind.name, replace(kind, run=wrapper(real_run), run_batch=None))

    return patch


@pytest.fixture
def flaky_kind(patch_directory_task):
    """The directory task fails temporarily `failures` times, then works."""
    state = {"failures": 1}

    def wrapper(real_run):
        def run(context):
            if state["failures"]:
                state["failures"] -= 1
                raise OperationalError("could not obtain lock")
            return real_run(context)

        return run

    patch_directory_task(wrapper)
    return state


def test_it_retries_a_temporary_failure_later_with_backoff(flaky_kind):
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    before = timezone.now()
    run = execute(make_run(workflow=workflow))
    assert run.status == Run.Status.QUEUED
    assert run.next_attempt_at >= before + timedelta(minutes=1)
    assert run.task_runs.get().status == TaskRun.Status.RETRYING
    assert "could not obtain lock" in run.status_reason


def test_it_completes_on_retry_without_redoing_finished_tasks(patch_directory_task):
    calls = []

    def wrapper(real_run):
        def run(context):
            calls.append(context.position)
            if calls == [1, 2]:
                raise OperationalError("deadlock detected")
            return real_run(context)

        return run

    patch_directory_task(wrapper)
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    make_directory_task(workflow=workflow, position=2, save_mode="transaction", data_fields=[["Store", "x"]])
    run = execute(make_run(workflow=workflow))
    assert run.status == Run.Status.QUEUED
    Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now())
    run = execute(run)
    assert run.status == Run.Status.SUCCEEDED
    assert calls == [1, 2, 2]
    assert list(run.task_runs.values_list("position", "attempt", "status")) == [
        (1, 1, "succeeded"),
        (2, 1, "retrying"),
        (2, 2, "succeeded"),
    ]
    assert Transaction.objects.count() == 1


def test_it_gives_up_after_the_retry_window(flaky_kind):
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    run = make_run(workflow=workflow)
    Run.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=25))
    run = execute(run)
    assert run.status == Run.Status.FAILED
    assert run.status_reason == (
        "Task 1 gave up after retrying for 24 hours: could not obtain lock. "
        "Nothing more will be tried: replay the run once that is fixed."
    )
    assert run.task_runs.get().status == TaskRun.Status.FAILED


def test_it_reports_an_unexpected_error_as_a_failed_task(patch_directory_task):
    def wrapper(real_run):
        def run(context):
            raise ValueError("boom")

        return run

    patch_directory_task(wrapper)
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    run = execute(make_run(workflow=workflow))
    assert run.status == Run.Status.FAILED
    assert "Unexpected error (ValueError: boom)" in run.task_runs.get().error


def test_it_evaluates_conditions_on_a_datetime_beyond_year_1_in_utc_without_stopping_the_batch():
    workflow = make_workflow()
    make_condition(workflow=workflow, field="CreatedDate", operator="greater_than", value="2020-01-01")
    make_directory_task(workflow=workflow)
    early = make_run(workflow=workflow, fields=case_fields(CreatedDate="0001-01-01T00:00:00+02:00"))
    recent = make_run(workflow=workflow, fields=case_fields(CreatedDate="2024-05-01T10:00:00.000+0000"))

    assert runs_execute_due() == 2

    early.refresh_from_db()
    assert early.status == Run.Status.CONDITIONS_NOT_MET
    assert early.condition_results[0]["note"].endswith("are not both numbers, dates or times")
    assert Run.objects.get(pk=recent.pk).status == Run.Status.SUCCEEDED


@pytest.fixture
def conditions_bug(monkeypatch):
    """Conditions that raise for an event whose Subject is "bug", as a bug in evaluating them would."""
    from workflows.services.execution import runs

    real_evaluate = runs.evaluate

    def evaluate(rows, *, event, **options):
        if event.get("Subject") == "bug":
            raise RuntimeError("a bug")
        return real_evaluate(rows, event=event, **options)

    monkeypatch.setattr(runs, "evaluate", evaluate)


def test_it_fails_a_run_whose_conditions_raise_and_executes_the_others_of_its_batch(conditions_bug):
    workflow = make_workflow()
    make_condition(workflow=workflow, field="IsClosed", operator="equals", value="true")
    make_directory_task(workflow=workflow)
    broken = make_run(workflow=workflow, fields=case_fields(Subject="bug"))
    fine = make_run(workflow=workflow, fields=case_fields(Subject="fine"))

    assert runs_execute_due() == 2

    broken.refresh_from_db()
    assert broken.status == Run.Status.FAILED
    assert broken.status_reason.startswith("Unexpected error evaluating the conditions (RuntimeError: a bug).")
    assert not broken.task_runs.exists()
    assert Run.objects.get(pk=fine.pk).status == Run.Status.SUCCEEDED


def test_it_fails_a_single_run_whose_conditions_raise(conditions_bug):
    workflow = make_workflow()
    make_condition(workflow=workflow, field="IsClosed", operator="equals", value="true")
    run = execute(make_run(workflow=workflow, fields=case_fields(Subject="bug")))

    assert run.status == Run.Status.FAILED
    assert "Unexpected error evaluating the conditions (RuntimeError: a bug)" in run.status_reason
    assert run.finished_at is not None


def test_it_does_not_execute_a_run_twice():
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    run = execute(make_run(workflow=workflow))
    run_execute(run_id=run.pk)
    assert TaskRun.objects.count() == 1
    assert run.attempts == 1


def test_it_does_not_execute_a_run_before_its_retry_time():
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    run = execute(make_run(workflow=workflow, next_attempt_at=timezone.now() + timedelta(minutes=5)))
    assert run.status == Run.Status.QUEUED
    assert not TaskRun.objects.exists()


def test_it_skips_a_run_whose_workflow_was_disabled_after_it_was_queued():
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    run = make_run(workflow=workflow)
    Workflow.objects.filter(pk=workflow.pk).update(enabled=False)
    run = execute(run)
    assert run.status == Run.Status.SKIPPED


def test_it_learns_the_fields_messages_carry():
    workflow = make_workflow()
    execute(make_run(workflow=workflow, fields=case_fields(Account_Region__c="EMEA")))
    workflow.refresh_from_db()
    assert "Account_Region__c" in workflow.known_fields


def test_it_executes_the_due_runs_of_several_people_together():
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    make_directory_task(workflow=workflow, position=2, data_fields=[["FirstContact", "${task://1/ContactId}"]])
    emails = ["ada@example.com", "grace@example.com", "not-an-email"]
    runs = [make_run(workflow=workflow, fields=case_fields(ContactEmail=email)) for email in emails]

    assert runs_execute_due() == 3

    statuses = [Run.objects.get(pk=run.pk).status for run in runs]
    assert statuses == [Run.Status.SUCCEEDED, Run.Status.SUCCEEDED, Run.Status.FAILED]
    assert "is not a valid email address" in Run.objects.get(pk=runs[2].pk).status_reason
    contacts = Contact.objects.order_by("email")
    assert [contact.email for contact in contacts] == emails[:2]
    assert [contact.embedded_data["FirstContact"] for contact in contacts] == [str(contact.pk) for contact in contacts]
    assert TaskRun.objects.filter(status=TaskRun.Status.SUCCEEDED).count() == 4


@pytest.fixture
def second_task_fails_once(patch_directory_task):
    """The directory task fails temporarily at its first attempt at position 2, then works."""
    calls = []

    def wrapper(real_run):
        def run(context):
            calls.append(context.position)
            if context.position == 2 and calls.count(2) == 1:
                raise OperationalError("deadlock detected")
            return real_run(context)

        return run

    patch_directory_task(wrapper)
    return calls


def _retry_now(run):
    Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now())
    return execute(run)


@pytest.mark.parametrize("change", ["delete the first task", "add a task before the others", "swap the tasks"])
def test_a_run_retried_after_its_tasks_were_changed_fails_saying_so_and_repeats_no_task(second_task_fails_once, change):
    workflow = make_workflow()
    first = make_directory_task(workflow=workflow, position=1)
    second = make_directory_task(workflow=workflow, position=2, save_mode="transaction", data_fields=[["Store", "x"]])
    run = execute(make_run(workflow=workflow))
    assert run.status == Run.Status.QUEUED
    if change == "delete the first task":
        first.delete()
    elif change == "add a task before the others":
        make_directory_task(workflow=workflow, position=0, mailing_list="Other list")
    else:
        Task.objects.filter(pk=first.pk).update(position=3)

    run = _retry_now(run)

    assert run.status == Run.Status.FAILED
    assert "tasks were changed" in run.status_reason
    assert "replay" in run.status_reason
    assert second_task_fails_once == [1, 2]  # the first attempt's calls only
    assert Transaction.objects.count() == 0
    assert second.pk in Task.objects.values_list("pk", flat=True)


def test_a_run_retried_after_a_task_was_added_after_it_or_edited_runs_the_current_tasks(second_task_fails_once):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    second = make_directory_task(workflow=workflow, position=2, save_mode="transaction", data_fields=[["Store", "x"]])
    run = execute(make_run(workflow=workflow))
    second.config = {**second.config, "data_fields": [["Store", "Milan"]]}
    second.save()
    make_directory_task(workflow=workflow, position=3, mailing_list="Other list")

    run = _retry_now(run)

    assert run.status == Run.Status.SUCCEEDED
    assert second_task_fails_once == [1, 2, 2, 3]
    assert list(Transaction.objects.values_list("data", flat=True)) == [{"Store": "Milan"}]


def test_a_run_retried_after_the_contact_it_saved_was_deleted_saves_and_names_nobody(second_task_fails_once):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    make_directory_task(workflow=workflow, position=2, mailing_list="Other list", data_fields=[["Store", "x"]])
    run = execute(make_run(workflow=workflow))
    assert run.status == Run.Status.QUEUED
    Contact.objects.get().delete()  # the person asked to be erased

    run = _retry_now(run)

    assert run.status == Run.Status.FAILED
    assert "was deleted" in run.status_reason
    assert "ada@example.com" not in run.status_reason
    assert second_task_fails_once == [1, 2]
    assert not Contact.objects.exists()
    assert not Membership.objects.exists()


def test_a_reaped_run_with_nothing_left_to_do_succeeds_though_its_contact_was_deleted():
    workflow = make_workflow()
    make_directory_task(workflow=workflow)
    run = execute(make_run(workflow=workflow))
    # Its worker died after the task's commit, before the run's outcome was saved: requeued.
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, finished_at=None)
    Contact.objects.get().delete()

    run = execute(run)

    assert (run.status, run.attempts) == (Run.Status.SUCCEEDED, 2)
    assert not Contact.objects.exists()
