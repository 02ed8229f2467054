"""The response export's file: columns and header rows as the reference platform writes them,
formats, ZIP, labels, date and column selection, formula neutralisation, progress and failure."""

import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from distributions.models import Distribution, Response, ResponseExport, SurveyField
from distributions.services import response_export as service
from distributions.services.response_export import ExportError, response_export_run, response_export_start
from tests.factories import (
    make_contact,
    make_directory,
    make_invitation,
    make_question,
    make_survey,
    make_survey_field,
    make_user,
)

pytestmark = pytest.mark.django_db

STARTED = datetime(2024, 3, 5, 9, 41, 7, 500000, tzinfo=UTC)
FINISHED = STARTED + timedelta(seconds=95, microseconds=600000)
FIXED_IDS = [
    "StartDate",
    "EndDate",
    "Status",
    "Progress",
    "Duration (in seconds)",
    "Finished",
    "RecordedDate",
    "ResponseId",
    "RecipientLastName",
    "RecipientFirstName",
    "RecipientEmail",
    "ExternalReference",
    "DistributionChannel",
    "UserLanguage",
]


@pytest.fixture
def export_storage(response_export_storage):
    return response_export_storage


def respond(survey, *, answers, contact=None, started=STARTED, finished=FINISHED, embedded=None, channel="email"):
    """A response with its dates set (started_at and updated_at are set by the database otherwise)."""
    distribution = Distribution.objects.create(survey=survey, channel=channel)
    invitation = make_invitation(distribution=distribution, contact=contact or make_contact())
    response = Response.objects.create(
        invitation=invitation, survey=survey, answers=answers, embedded_data=embedded or {}
    )
    Response.objects.filter(pk=response.pk).update(
        started_at=started, finished_at=finished, updated_at=finished or started + timedelta(seconds=30)
    )
    return Response.objects.get(pk=response.pk)


@pytest.fixture
def world():
    survey = make_survey(name="Customer satisfaction")
    choice = make_question(survey=survey, kind="multiple_choice", text="How was it?", choices="Good\nBad")
    rating = make_question(survey=survey, kind="rating", text="How likely are you to recommend us?")
    comment = make_question(survey=survey, kind="text", text="=Anything else?")
    make_survey_field(survey=survey, name="Store")
    make_survey_field(survey=survey, name="Region")
    directory = make_directory()
    ada = make_contact(
        directory=directory,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        external_data_reference="003A",
    )
    finished = respond(
        survey,
        contact=ada,
        answers={str(choice.pk): {"number": 1, "text": "Good"}, str(rating.pk): 9, str(comment.pk): "=SUM(A1:A9)"},
        embedded={"Store": "+Downtown", "Region": "North"},
    )
    partial = respond(
        survey,
        contact=make_contact(directory=directory, first_name="Bob", last_name="O'Brien, Jr.", email="bob@example.com"),
        answers={str(choice.pk): {"number": 2, "text": "Bad"}},
        finished=None,
        started=STARTED + timedelta(days=2),
        channel="sms",
    )
    return {
        "survey": survey,
        "questions": (choice, rating, comment),
        "finished": finished,
        "partial": partial,
        "user": make_user(),
    }


def export(world, *, use_copy=None, **options):
    """Start an export, run its job, and return (the export, the file's bytes)."""
    options.setdefault("format", "csv")
    options.setdefault("compress", False)
    started = response_export_start(survey=world["survey"], user=world["user"], **options)
    status = response_export_run(export_id=started.pk, use_copy=use_copy)
    finished = ResponseExport.objects.get(pk=started.pk)
    assert status == finished.status == ResponseExport.Status.COMPLETE, finished.error
    with service.response_export_open(finished) as file:
        return finished, file.read()


def rows_of(data: bytes, delimiter=","):
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=delimiter))


def test_it_writes_the_reference_columns_and_three_header_rows(world):
    choice, rating, comment = world["questions"]
    _export, data = export(world)
    rows = rows_of(data)
    qids = [f"QID{choice.pk}", f"QID{rating.pk}", f"QID{comment.pk}"]
    assert rows[0] == [*FIXED_IDS, *qids, "Region", "Store"]
    assert rows[1][:8] == [
        "Start Date",
        "End Date",
        "Response Type",
        "Progress",
        "Duration (in seconds)",
        "Finished",
        "Recorded Date",
        "Response ID",
    ]
    assert rows[1][14:] == ["How was it?", "How likely are you to recommend us?", "'=Anything else?", "Region", "Store"]
    assert json.loads(rows[2][0]) == {"ImportId": "startDate", "timeZone": "UTC"}
    assert json.loads(rows[2][7]) == {"ImportId": "_recordId"}
    assert [json.loads(cell)["ImportId"] for cell in rows[2][14:]] == [*qids, "Region", "Store"]
    assert len(rows) == 5


def test_it_writes_one_row_per_response_in_id_order(world):
    _export, data = export(world)
    finished, partial = rows_of(data)[3:]
    assert finished == [
        "2024-03-05 09:41:07",
        "2024-03-05 09:42:43",
        "0",
        "100",
        "95",
        "1",
        "2024-03-05 09:42:43",
        world["finished"].public_id,
        "Lovelace",
        "Ada",
        "ada@example.com",
        "003A",
        "email",
        "EN",
        "1",
        "9",
        "'=SUM(A1:A9)",
        "North",
        "'+Downtown",
    ]
    # Unfinished: one of three questions answered, ended when last saved, not finished.
    assert partial[:6] == ["2024-03-07 09:41:07", "2024-03-07 09:41:37", "0", "33", "30", "0"]
    assert partial[8:14] == ["O'Brien, Jr.", "Bob", "bob@example.com", "", "smsinvite", "EN"]
    assert partial[14:] == ["2", "", "", "", ""]


def test_labels_show_choice_texts_and_the_response_type(world):
    _export, data = export(world, use_labels=True)
    finished, partial = rows_of(data)[3:]
    assert finished[2] == "IP Address" and finished[5] == "True" and finished[14] == "Good"
    assert partial[5] == "False" and partial[14] == "Bad"


def test_formula_cells_are_neutralised(world):
    for start in ("=", "+", "-", "@", "\t", "\r"):
        response = world["finished"]
        response.embedded_data = {"Store": f"{start}HYPERLINK()", "Region": "North"}
        response.save(update_fields=["embedded_data"])
        _export, data = export(world)
        assert rows_of(data)[3][-1] == f"'{start}HYPERLINK()"


def test_tsv_is_tab_separated_with_the_same_rows(world):
    _export, csv_data = export(world)
    _export, tsv_data = export(world, format="tsv")
    assert rows_of(tsv_data, delimiter="\t") == rows_of(csv_data)
    assert b"\t" in tsv_data.split(b"\n")[0]


def test_the_zip_holds_one_file_named_after_the_survey(world):
    finished, data = export(world, compress=True)
    assert finished.filename == "Customer satisfaction.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["Customer satisfaction.csv"]
        inner = archive.read("Customer satisfaction.csv")
    _export, plain = export(world)
    assert inner == plain


def test_json_holds_values_by_import_id_and_labels(world):
    choice, rating, comment = world["questions"]
    finished, data = export(world, format="json")
    assert finished.filename == "Customer satisfaction.json"
    responses = json.loads(data)["responses"]
    assert [item["responseId"] for item in responses] == [world["finished"].public_id, world["partial"].public_id]
    values = responses[0]["values"]
    assert values["startDate"] == "2024-03-05T09:41:07Z"
    assert values["duration"] == 95 and values["finished"] == 1 and values["progress"] == 100
    assert values[f"QID{choice.pk}"] == 1 and values[f"QID{rating.pk}"] == 9
    assert values[f"QID{comment.pk}"] == "=SUM(A1:A9)"  # JSON is data, not a spreadsheet
    assert values["Store"] == "+Downtown" and values["recipientEmail"] == "ada@example.com"
    assert responses[0]["labels"][f"QID{choice.pk}"] == "Good"
    assert f"QID{rating.pk}" not in responses[1]["values"]


def test_ndjson_is_one_response_per_line(world):
    _export, data = export(world, format="ndjson")
    lines = data.decode().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1])["values"]["distributionChannel"] == "smsinvite"
    _export, json_data = export(world, format="json")
    assert [json.loads(line) for line in lines] == json.loads(json_data)["responses"]


def test_dates_bound_the_recorded_date(world):
    # The finished response was recorded on March 5th, the partial one last saved on March 7th.
    _export, data = export(world, start_date=datetime(2024, 3, 6, tzinfo=UTC))
    assert [row[7] for row in rows_of(data)[3:]] == [world["partial"].public_id]
    _export, data = export(world, end_date=datetime(2024, 3, 6, tzinfo=UTC))
    assert [row[7] for row in rows_of(data)[3:]] == [world["finished"].public_id]
    _export, data = export(world, end_date=FINISHED)  # the end is excluded
    assert rows_of(data)[3:] == []


def test_question_and_embedded_data_ids_select_columns(world):
    choice, rating, comment = world["questions"]
    _export, data = export(world, question_ids=[f"QID{comment.pk}"], embedded_data_ids=["Store"])
    rows = rows_of(data)
    assert rows[0] == [*FIXED_IDS, f"QID{comment.pk}", "Store"]
    assert rows[3][14:] == ["'=SUM(A1:A9)", "'+Downtown"]
    # Progress still counts every question of the survey.
    assert rows[4][3] == "33"


def test_embedded_data_columns_keep_the_history_csvs_order_whatever_the_collation(world, postgres_only):
    survey = world["survey"]
    for name in ("=Total", "score", "Score", "Zone", "ärea"):
        make_survey_field(survey=survey, name=name)
    with connection.cursor() as cursor:  # a database whose text sorts as people read it (undone with the test)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks: ALTER needs none
        table = SurveyField._meta.db_table
        cursor.execute(f'ALTER TABLE {table} ALTER COLUMN name TYPE varchar(200) COLLATE "und-x-icu"')

    _, data = export(world)

    names = rows_of(data)[2][len(FIXED_IDS) + 3 :]  # the ImportId row names them unneutralised
    # By code point, as the history CSV orders them (reporting.selectors.history_scope).
    assert [json.loads(cell)["ImportId"] for cell in names] == [
        "=Total",
        "Region",
        "Score",
        "Store",
        "Zone",
        "score",
        "ärea",
    ]


def test_unknown_options_are_refused_naming_the_option(world):
    with pytest.raises(ExportError) as error:
        response_export_start(survey=world["survey"], user=world["user"], format="xlsx")
    assert error.value.field == "format"
    with pytest.raises(ExportError) as error:
        response_export_start(survey=world["survey"], user=world["user"], format="csv", question_ids=["QID0"])
    assert error.value.field == "questionIds" and "QID0" in error.value.message
    with pytest.raises(ExportError) as error:
        response_export_start(survey=world["survey"], user=world["user"], format="csv", embedded_data_ids=["store"])
    assert error.value.field == "embeddedDataIds"
    with pytest.raises(ExportError) as error:
        response_export_start(
            survey=world["survey"], user=world["user"], format="csv", start_date=FINISHED, end_date=STARTED
        )
    assert error.value.field == "endDate"
    assert not ResponseExport.objects.exists()


def test_an_erased_contact_keeps_no_personal_fields(world):
    world["finished"].invitation.contact.delete()
    _export, data = export(world)
    row = rows_of(data)[3]
    assert row[8:12] == ["", "", "", ""]
    assert row[-2:] == ["", ""]  # the embedded data copied from the contact
    assert "Lovelace" not in data.decode("utf-8-sig") and "ada@example.com" not in data.decode("utf-8-sig")


@pytest.mark.parametrize("format", ["csv", "json"])
def test_the_recipient_email_is_the_address_the_invitation_went_to(world, format):
    # The contact corrected their email after answering: the response came from the old one.
    went_to = world["finished"].invitation.address
    world["finished"].invitation.contact.__class__.objects.filter(pk=world["finished"].invitation.contact_id).update(
        email="corrected@example.com"
    )

    _export, data = export(world, format=format)

    if format == "csv":
        finished, partial = rows_of(data)[3:]
        assert (finished[10], partial[10]) == (went_to, "bob@example.com")  # a text's: the contact's email
    else:
        finished, partial = json.loads(data)["responses"]
        assert (finished["values"]["recipientEmail"], partial["values"]["recipientEmail"]) == (
            went_to,
            "bob@example.com",
        )
    assert b"corrected@example.com" not in data


def test_an_erased_contacts_unfinished_response_keeps_its_dates(world):
    # Recorded when last answered (2024-03-07 09:41:37): erasing the contact months later is no answer.
    world["partial"].invitation.contact.delete()

    _export, data = export(world)
    _dated, dated_data = export(world, start_date=STARTED + timedelta(days=2), end_date=STARTED + timedelta(days=3))

    partial = rows_of(data)[4]
    assert partial[:7] == [
        "2024-03-07 09:41:07",
        "2024-03-07 09:41:37",
        "0",
        "33",
        "30",
        "0",
        "2024-03-07 09:41:37",
    ]
    assert [row[7] for row in rows_of(dated_data)[3:]] == [world["partial"].public_id]


def test_deleting_a_contact_deletes_the_exports_that_name_it(world, export_storage, django_capture_on_commit_callbacks):
    finished, _data = export(world)
    assert any(export_storage.rglob("*.csv"))
    with django_capture_on_commit_callbacks(execute=True):
        world["finished"].invitation.contact.delete()
    assert not ResponseExport.objects.filter(pk=finished.pk).exists()
    assert not any(export_storage.rglob("*.csv"))


def progress_writes(monkeypatch) -> list[int]:
    """The percentComplete values the export writes from now on, in order."""
    writes = []
    real_filter = ResponseExport.objects.filter

    def spy(*args, **kwargs):
        queryset = real_filter(*args, **kwargs)
        original = queryset.update

        def update(**values):
            if "percent_complete" in values:
                writes.append(values["percent_complete"])
            return original(**values)

        queryset.update = update
        return queryset

    monkeypatch.setattr(ResponseExport.objects, "filter", spy)
    return writes


def test_progress_moves_chunk_by_chunk(world, monkeypatch):
    for _ in range(3):
        respond(world["survey"], answers={})
    monkeypatch.setattr(service, "CHUNK_ROWS", 2)
    monkeypatch.setattr(service, "PROGRESS_INTERVAL_SECONDS", 0)
    seen = progress_writes(monkeypatch)
    finished, data = export(world)
    assert seen == [40, 80, 99, 100]  # 5 responses in chunks of 2, then complete
    assert finished.percent_complete == 100
    assert len(rows_of(data)) == 3 + 5


def test_progress_is_written_at_most_once_per_interval(world, monkeypatch):
    for _ in range(3):
        respond(world["survey"], answers={})
    monkeypatch.setattr(service, "CHUNK_ROWS", 2)
    monkeypatch.setattr(service, "PROGRESS_INTERVAL_SECONDS", 3600)
    writes = progress_writes(monkeypatch)
    finished, data = export(world)
    assert writes == [40, 100]  # the first chunk's progress, then complete; nothing in between
    assert len(rows_of(data)) == 3 + 5


def test_a_failure_fails_the_export_with_a_message(world, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the export folder should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "response_exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "exports")},
        },
    }
    started = response_export_start(survey=world["survey"], user=world["user"], format="csv")
    assert response_export_run(export_id=started.pk) == ResponseExport.Status.FAILED
    failed = ResponseExport.objects.get(pk=started.pk)
    assert failed.status == ResponseExport.Status.FAILED
    assert "The export stopped" in failed.error and "Start a new export" in failed.error
    assert failed.file_name == "" and failed.file_id == ""
    with pytest.raises(FileNotFoundError):
        service.response_export_open(failed)


def test_a_job_delivered_twice_leaves_the_complete_export_alone(world):
    finished, _data = export(world)
    assert response_export_run(export_id=finished.pk) == ResponseExport.Status.COMPLETE
    assert ResponseExport.objects.get(pk=finished.pk).file_id == finished.file_id


def test_starting_queues_the_job_after_commit(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        started = response_export_start(survey=world["survey"], user=world["user"], format="csv")
        assert ResponseExport.objects.get(pk=started.pk).status == ResponseExport.Status.IN_PROGRESS
    assert len(callbacks) == 1
    # Q_CLUSTER["sync"] in the tests: the job ran when the transaction committed.
    done = ResponseExport.objects.get(pk=started.pk)
    assert done.status == ResponseExport.Status.COMPLETE and done.public_id.startswith("ES_")


def test_purge_deletes_old_exports_and_their_files(world, export_storage, django_capture_on_commit_callbacks):
    finished, _data = export(world)
    stalled = response_export_start(survey=world["survey"], user=world["user"], format="csv")
    ResponseExport.objects.filter(pk=stalled.pk).update(created_at=finished.created_at - timedelta(days=2))
    later = finished.completed_at + service.EXPORT_RETENTION - timedelta(minutes=1)
    assert service.response_exports_purge(now=later) == 0
    assert ResponseExport.objects.get(pk=stalled.pk).status == ResponseExport.Status.FAILED
    assert any(export_storage.rglob("*.csv"))
    with django_capture_on_commit_callbacks(execute=True):
        assert service.response_exports_purge(now=later + timedelta(days=8)) == 2
    assert not ResponseExport.objects.exists()
    assert not any(export_storage.rglob("*.csv"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
@pytest.mark.parametrize(
    "options", [{}, {"use_labels": True}, {"format": "tsv"}, {"format": "tsv", "use_labels": True}]
)
def test_copy_writes_the_same_bytes_as_the_csv_module(world, options):
    make_question(survey=world["survey"], kind="multiple_choice", text="Unanswered", choices="A\nB")
    respond(
        world["survey"],
        answers={str(world["questions"][2].pk): 'multi\nline, "quoted"\ttabbed ünïcode'},
        embedded={"Store": "", "Region": "-1"},
        contact=make_contact(first_name="@lias", last_name="\tTab", email="t@example.com"),
    )
    _export, copied = export(world, use_copy=True, **options)
    _export, written = export(world, use_copy=False, **options)
    assert copied == written
    assert len(copied.splitlines()) > 5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_copy_writes_the_same_durations_as_the_csv_module(world):
    # Durations across days (PostgreSQL counts them in days and time), to the last microsecond.
    for seconds, microseconds in ((0, 0), (86_400, 999_999), (3 * 86_400 + 59, 1), (400 * 86_400, 500_000)):
        respond(world["survey"], answers={}, finished=STARTED + timedelta(seconds=seconds, microseconds=microseconds))
    _export, copied = export(world, use_copy=True)
    _export, written = export(world, use_copy=False)
    assert copied == written
    assert [row[4] for row in rows_of(copied)[-4:]] == ["0", "86400", "259259", "34560000"]
    assert rows_of(copied)[-1][1] == "2025-04-09 09:41:08"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_progress_is_saved_while_the_copy_streams(world, monkeypatch, export_storage):
    """Committed as it goes, from a connection of its own: another session sees it."""
    for _ in range(3):
        respond(world["survey"], answers={})
    monkeypatch.setattr(service, "CHUNK_ROWS", 2)
    monkeypatch.setattr(service, "PROGRESS_INTERVAL_SECONDS", 0)
    seen = []
    real_save = service._Progress._save

    def save(progress, percent):
        real_save(progress, percent)
        seen.append(ResponseExport.objects.get(pk=progress.export_id).percent_complete)

    monkeypatch.setattr(service._Progress, "_save", save)
    finished, data = export(world, use_copy=True)
    assert seen == [40, 80, 99]
    assert finished.percent_complete == 100 and len(rows_of(data)) == 3 + 5
