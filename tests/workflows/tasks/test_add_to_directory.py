"""The add-to-directory task with Salesforce values of every shape: transaction dates and phones.

Executed as a worker does (run_execute, runs_execute_due); the other behaviours of the task are
in tests/workflows/test_execution.py.
"""

from datetime import UTC, datetime

import pytest
from django.http import QueryDict
from django.utils import timezone

from directory.models import Contact, DedupeRule, Transaction
from directory.services import directory_get_default
from tests.factories import case_fields, make_directory_task, make_run, make_workflow
from workflows.models import Run
from workflows.services.execution import run_execute, runs_execute_due
from workflows.tasks.add_to_directory import AddToDirectoryForm

pytestmark = pytest.mark.django_db


def execute(run):
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def transaction_run(transaction_date="${event://CloseDate}", **fields):
    """A run saving the contact, then adding a transaction dated `transaction_date`."""
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    make_directory_task(
        workflow=workflow,
        position=2,
        save_mode="transaction",
        transaction_date=transaction_date,
        data_fields=[["Store", "${event://Store__c}"]],
    )
    return execute(make_run(workflow=workflow, fields=case_fields(**fields)))


# Transaction dates


def test_it_dates_a_transaction_on_a_salesforce_date(settings):
    settings.TIME_ZONE = "UTC"  # a date is dated at midnight in the admin time zone, whatever the environment sets
    run = transaction_run(CloseDate="2011-06-30")
    assert run.status == Run.Status.SUCCEEDED
    assert Transaction.objects.get().transaction_date == datetime(2011, 6, 30, tzinfo=UTC)


def test_it_dates_a_transaction_today_with_date_today(settings):
    settings.TIME_ZONE = "UTC"  # a date is dated at midnight in the admin time zone, whatever the environment sets
    before = timezone.now()
    run = transaction_run("${date://today}")
    after = timezone.now()
    assert run.status == Run.Status.SUCCEEDED
    dated = Transaction.objects.get().transaction_date
    assert dated in {datetime.combine(moment.date(), datetime.min.time(), UTC) for moment in (before, after)}


def test_it_reads_a_datetime_without_an_offset_as_utc():
    transaction_run(CloseDate="2024-05-01T10:00:00")
    assert Transaction.objects.get().transaction_date == datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "sent", ["2024-05-01T10:00:00.000Z", "2024-05-01T10:00:00.000+0000", "2024-05-01T12:00:00+02:00"]
)
def test_it_dates_a_transaction_at_the_instant_salesforce_sent(sent):
    transaction_run(CloseDate=sent)
    assert Transaction.objects.get().transaction_date == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_it_dates_a_transaction_on_a_date_at_midnight_in_the_admin_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    transaction_run(CloseDate="2011-06-30")
    dated = Transaction.objects.get().transaction_date
    assert timezone.localtime(dated).replace(tzinfo=None) == datetime(2011, 6, 30)


def test_it_dates_a_transaction_at_the_run_time_without_a_date():
    before = timezone.now()
    transaction_run("")
    assert before <= Transaction.objects.get().transaction_date <= timezone.now()


def test_it_fails_the_task_on_a_transaction_date_that_is_not_a_date():
    run = transaction_run(CloseDate="last week")
    task_run = run.task_runs.get(position=2)
    assert task_run.error == (
        "Transaction date (from ${event://CloseDate}) is not a date: 'last week' is neither a date such as "
        "2011-06-30 nor a date and time such as 2024-05-01T10:00:00.000Z (an offset such as +02:00 or +0000 may "
        "replace Z). Pipe a Date or Date/Time field such as ${event://ClosedDate}."
    )
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    ("sent", "time_zone"),
    [
        ("0001-01-01", "Europe/Paris"),  # midnight in Paris is in year 0 in UTC
        ("9999-12-31T23:00:00Z", "Asia/Tokyo"),  # storable, but in year 10000 on the contact's page in Tokyo
        ("0001-01-01T00:00:00+02:00", "UTC"),  # in year 0 in UTC
        ("1699-12-31", "UTC"),
        ("4001-01-01T00:00:00Z", "UTC"),
    ],
)
def test_it_fails_the_task_on_a_transaction_date_outside_the_dates_salesforce_holds(settings, sent, time_zone):
    settings.TIME_ZONE = time_zone
    run = transaction_run(CloseDate=sent)
    task_run = run.task_runs.get(position=2)
    assert task_run.error.startswith("Transaction date (from ${event://CloseDate}) is not a date: ")
    assert "Pipe a Date or Date/Time field" in task_run.error
    assert not Transaction.objects.exists()


def test_it_dates_a_transaction_on_the_last_day_salesforce_holds_in_any_time_zone(settings):
    settings.TIME_ZONE = "Pacific/Kiritimati"  # UTC+14
    run = transaction_run(CloseDate="4000-12-31")
    assert run.status == Run.Status.SUCCEEDED
    assert timezone.localtime(Transaction.objects.get().transaction_date).date().isoformat() == "4000-12-31"


# Phones


def phone_run(phone, **fields):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, phone="${event://ContactPhone}")
    return execute(make_run(workflow=workflow, fields=case_fields(ContactPhone=phone, **fields)))


@pytest.mark.parametrize("phone", ["n/a", "(111) 222-3333", "020 7946 0958"])
def test_it_saves_the_contact_without_a_phone_that_does_not_parse(phone):
    run = phone_run(phone)
    assert run.status == Run.Status.SUCCEEDED
    contact = Contact.objects.get()
    assert (contact.email, contact.phone) == ("ada@example.com", "")


def test_it_notes_the_phone_it_left_out_with_the_piped_field():
    run = phone_run("n/a")
    [note] = run.task_runs.get().notes
    assert note.startswith("Phone (from ${event://ContactPhone}) left out, the contact was saved without it: 'n/a'")


def test_it_keeps_a_phone_extension():
    run = phone_run("+1 415 555 0100 ext. 12")
    assert Contact.objects.get().phone == "+14155550100;ext=12"
    assert run.task_runs.get().notes == []


def test_it_reads_a_national_number_in_the_default_phone_region(settings):
    settings.DEFAULT_PHONE_REGION = "GB"
    phone_run("020 7946 0958")
    assert Contact.objects.get().phone == "+442079460958"


def test_it_does_not_merge_people_whose_phone_does_not_parse_in_a_directory_deduped_by_phone():
    DedupeRule.objects.create(directory=directory_get_default(), key="phone")
    phone_run("n/a")
    phone_run("n/a", ContactEmail="grace@example.com")
    assert sorted(Contact.objects.values_list("email", flat=True)) == ["ada@example.com", "grace@example.com"]


def test_it_notes_a_phone_left_out_in_a_batch_of_runs():
    workflow = make_workflow()
    make_directory_task(workflow=workflow, phone="${event://ContactPhone}")
    runs = [
        make_run(workflow=workflow, fields=case_fields(ContactPhone="n/a")),
        make_run(workflow=workflow, fields=case_fields(ContactEmail="grace@example.com", ContactPhone="+14155550100")),
    ]
    assert runs_execute_due() == 2
    notes = [Run.objects.get(pk=run.pk).task_runs.get().notes for run in runs]
    assert [len(run_notes) for run_notes in notes] == [1, 0]
    assert dict(Contact.objects.values_list("email", "phone")) == {
        "ada@example.com": "",
        "grace@example.com": "+14155550100",
    }


def test_it_leaves_out_a_phone_longer_than_a_contact_holds():
    run = phone_run("+1 415 555 0100 ext. 12345678901234567890")
    assert Contact.objects.get().phone == ""
    assert "longer than the 32 characters" in run.task_runs.get().notes[0]


# The task form


def form(**config):
    data = QueryDict(mutable=True)
    data.update(
        {
            "save_mode": "transaction",
            "mailing_list": "Support customers",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            **config,
        }
    )
    return AddToDirectoryForm(data=data)


def test_it_refuses_a_written_transaction_date_that_is_not_a_date():
    bound = form(transaction_date="30/06/2011")
    assert not bound.is_valid()
    assert bound.errors["transaction_date"] == [
        "'30/06/2011' is neither a date such as 2011-06-30 nor a date and time such as 2024-05-01T10:00:00.000Z "
        "(an offset such as +02:00 or +0000 may replace Z)."
    ]


@pytest.mark.parametrize(
    ("transaction_date", "error"),
    [
        ("0001-01-01T00:00:00+02:00", "'0001-01-01T00:00:00+02:00' is out of range: in UTC it falls before year 1"),
        ("9999-12-31", "9999-12-31 is outside the dates Salesforce holds (1700-01-01 to 4000-12-31)."),
        ("2011-02-30", "'2011-02-30' is not a valid date: day is out of range for month."),
    ],
)
def test_it_refuses_a_written_transaction_date_saying_why_it_is_not_one(transaction_date, error):
    bound = form(transaction_date=transaction_date)
    assert not bound.is_valid()
    assert bound.errors["transaction_date"][0].startswith(error)


@pytest.mark.parametrize("transaction_date", ["2011-06-30", "2024-05-01T10:00:00+0000", "${event://CloseDate}"])
def test_it_accepts_a_written_or_piped_transaction_date(transaction_date):
    assert form(transaction_date=transaction_date).is_valid()


def test_it_refuses_a_written_phone_that_is_not_a_phone_number():
    bound = form(phone="n/a")
    assert not bound.is_valid()
    assert "'n/a' is not a valid phone number" in bound.errors["phone"][0]


def test_it_accepts_a_piped_phone_whatever_it_will_hold():
    assert form(phone="${event://ContactPhone}").is_valid()


# Values longer than the directory holds


@pytest.mark.parametrize(
    ("field", "label", "limit"),
    [
        ("last_name", "Last name", 200),
        ("first_name", "First name", 200),
        ("external_data_reference", "External data reference", 255),
        ("language", "Language", 16),
    ],
)
def test_it_fails_the_task_naming_a_piped_field_longer_than_a_contact_holds(field, label, limit):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, **{field: "${event://Description}"})

    run = execute(make_run(workflow=workflow, fields=case_fields(Description="x" * (limit + 1))))

    assert run.status == Run.Status.FAILED
    assert run.task_runs.get().error == (
        f"{label} (from ${{event://Description}}) is {limit + 1:,} characters long; a contact's {label.lower()} "
        f"holds at most {limit}: pipe a shorter field, or set the value in the task."
    )
    assert not Contact.objects.exists()


def test_it_saves_a_piped_value_as_long_as_a_contact_holds():
    workflow = make_workflow()
    make_directory_task(workflow=workflow, last_name="${event://Description}")

    run = execute(make_run(workflow=workflow, fields=case_fields(Description="x" * 200)))

    assert run.status == Run.Status.SUCCEEDED
    assert Contact.objects.get().last_name == "x" * 200
