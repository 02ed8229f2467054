import io
import uuid
import zipfile

import pytest

from distributions.models import ResponseExport
from tests.api.conftest import api_client_for, error, result
from tests.factories import (
    make_contact,
    make_invitation,
    make_question,
    make_survey,
    make_survey_field,
    make_survey_response,
    make_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey():
    survey = make_survey(name="Customer satisfaction")
    question = make_question(survey=survey, kind="text", text="Anything else?")
    make_survey_field(survey=survey, name="Store")
    contact = make_contact(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    make_survey_response(
        invitation=make_invitation(survey=survey, contact=contact),
        answers={str(question.pk): "@everyone"},
        embedded_data={"Store": "Downtown"},
    )
    return survey


def base(survey) -> str:
    return f"surveys/{survey.public_id}/export-responses"


def start(api, survey, body, django_capture_on_commit_callbacks, **kwargs):
    # The job runs when the call's transaction commits (Q_CLUSTER["sync"] in the tests).
    with django_capture_on_commit_callbacks(execute=True):
        return api.post(base(survey), body, **kwargs)


def test_it_starts_an_export_polls_it_and_downloads_the_file(superuser_api, survey, django_capture_on_commit_callbacks):
    started = result(start(superuser_api, survey, {"format": "csv"}, django_capture_on_commit_callbacks))
    assert started["progressId"].startswith("ES_")
    assert started["status"] == "inProgress" and started["percentComplete"] == 0

    progress = result(superuser_api.get(f"{base(survey)}/{started['progressId']}"))
    assert progress["status"] == "complete" and progress["percentComplete"] == 100
    assert progress["errorMessage"] is None
    uuid.UUID(progress["fileId"])

    response = superuser_api.get(f"{base(survey)}/{progress['fileId']}/file")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="Customer satisfaction.zip"'
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        data = archive.read("Customer satisfaction.csv")
    assert data.startswith("\ufeffStartDate,EndDate,".encode())
    assert b"'@everyone" in data and b"Lovelace" in data


def test_it_answers_an_uncompressed_file_with_its_own_type(superuser_api, survey, django_capture_on_commit_callbacks):
    body = {"format": "ndjson", "compress": False}
    started = result(start(superuser_api, survey, body, django_capture_on_commit_callbacks))
    file_id = result(superuser_api.get(f"{base(survey)}/{started['progressId']}"))["fileId"]
    response = superuser_api.get(f"{base(survey)}/{file_id}/file")
    assert response["Content-Type"] == "application/x-ndjson"
    assert b'"@everyone"' in b"".join(response.streaming_content)


def test_a_progress_in_flight_has_no_file_yet(superuser_api, survey):
    started = result(superuser_api.post(base(survey), {"format": "json"}))  # its job has not run
    progress = result(superuser_api.get(f"{base(survey)}/{started['progressId']}"))
    assert progress == {"fileId": None, "percentComplete": 0.0, "status": "inProgress", "errorMessage": None}


def test_a_failed_export_says_why(superuser_api, survey, settings, tmp_path, django_capture_on_commit_callbacks):
    (tmp_path / "blocker").write_text("")
    settings.STORAGES = {
        **settings.STORAGES,
        "response_exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "blocker" / "exports")},
        },
    }
    started = result(start(superuser_api, survey, {"format": "csv"}, django_capture_on_commit_callbacks))
    progress = result(superuser_api.get(f"{base(survey)}/{started['progressId']}"))
    assert progress["status"] == "failed" and progress["fileId"] is None
    assert "The export stopped: the server could not write its file" in progress["errorMessage"]
    assert str(tmp_path) not in progress["errorMessage"]  # the server's paths stay in its log


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "format"),
        ({"format": "xlsx"}, "format"),
        ({"format": "csv", "questionIds": ["QID0"]}, "questionIds"),
        ({"format": "csv", "embeddedDataIds": ["store"]}, "embeddedDataIds"),
        ({"format": "csv", "startDate": "2024-03-06T00:00:00Z", "endDate": "2024-03-05T00:00:00Z"}, "endDate"),
        ({"format": "csv", "startDate": "yesterday"}, "startDate"),
    ],
)
def test_bad_options_are_a_400_naming_the_field(superuser_api, survey, body, field):
    response = superuser_api.post(base(survey), body)
    assert response.status_code == 400
    assert field in error(response)["fieldErrors"]
    assert not ResponseExport.objects.exists()


def test_unknown_ids_are_404s(superuser_api, survey):
    assert superuser_api.post("surveys/SV_nope/export-responses", {"format": "csv"}).status_code == 404
    assert error(superuser_api.get(f"{base(survey)}/ES_nope"))["errorCode"] == "NOT_FOUND"
    assert error(superuser_api.get(f"{base(survey)}/{uuid.uuid4()}/file"))["errorCode"] == "NOT_FOUND"


def test_an_export_is_reached_only_through_its_own_survey(superuser_api, survey, django_capture_on_commit_callbacks):
    started = result(start(superuser_api, survey, {"format": "csv"}, django_capture_on_commit_callbacks))
    file_id = result(superuser_api.get(f"{base(survey)}/{started['progressId']}"))["fileId"]
    other = make_survey()
    assert superuser_api.get(f"{base(other)}/{started['progressId']}").status_code == 404
    assert superuser_api.get(f"{base(other)}/{file_id}/file").status_code == 404


def test_a_user_without_the_response_permission_cannot_export(survey):
    api = api_client_for(make_user(), "distributions.view_survey", "distributions.add_responseexport")
    response = api.post(base(survey), {"format": "csv"})
    assert response.status_code == 403
    assert "distributions.view_response" in error(response)["errorMessage"]
    assert not ResponseExport.objects.exists()


def test_a_retried_start_with_its_idempotency_key_starts_one_export(superuser_api, survey):
    headers = {"Idempotency-Key": "export-1"}
    first = superuser_api.post(base(survey), {"format": "csv"}, headers=headers)
    again = superuser_api.post(base(survey), {"format": "csv"}, headers=headers)
    assert result(first) == result(again) and again["Idempotent-Replayed"] == "true"
    assert ResponseExport.objects.count() == 1
