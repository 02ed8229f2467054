"""The survey's "Export responses" button, form, progress JSON and download in the admin."""

import io
import re
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from distributions.models import ResponseExport
from tests.factories import make_invitation, make_question, make_survey, make_survey_response, make_user

pytestmark = pytest.mark.django_db

EXPORTER = (
    "view_survey",
    "view_response",
    "add_responseexport",
    "view_responseexport",
)


def staff(*codenames: str):
    user = make_user()
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="distributions", codename__in=codenames)
    )
    return user


@pytest.fixture
def survey():
    survey = make_survey(name="Customer satisfaction")
    question = make_question(survey=survey, kind="text", text="Anything else?")
    make_survey_response(invitation=make_invitation(survey=survey), answers={str(question.pk): "Faster replies"})
    return survey


def export_url(survey):
    return reverse("admin:distributions_survey_export", args=[survey.pk])


def progress_json(client, export):
    url = reverse("admin:distributions_survey_export_progress_json", args=[export.survey_id, export.public_id])
    response = client.get(url)
    assert response.status_code == 200
    return response.json()


def test_the_change_page_has_an_export_button(client, survey):
    client.force_login(staff(*EXPORTER, "change_survey"))
    page = client.get(reverse("admin:distributions_survey_change", args=[survey.pk])).content.decode()
    assert f'href="{export_url(survey)}" class="export-responses-link">Export responses</a>' in page


def test_the_button_is_hidden_from_who_may_not_export(client, survey):
    client.force_login(staff("view_survey", "change_survey"))
    page = client.get(reverse("admin:distributions_survey_change", args=[survey.pk])).content.decode()
    assert "Export responses" not in page


def test_the_form_starts_an_export_whose_progress_page_polls_and_links_the_file(
    client, survey, django_capture_on_commit_callbacks
):
    client.force_login(staff(*EXPORTER))
    form = client.get(export_url(survey)).content.decode()
    for name in ("format", "compress", "use_labels", "start_date", "end_date"):
        assert f'name="{name}"' in form

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(export_url(survey), {"format": "csv", "compress": "on", "use_labels": "on"})
    export = ResponseExport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:distributions_survey_export_progress", args=[survey.pk, export.public_id]
    )
    assert export.options["useLabels"] is True and export.options["compress"] is True

    # Before the job ran: in progress, no link.
    page = client.get(response["Location"]).content.decode()
    assert re.search(r'<progress id="export-progress-bar" max="100" value="0">', page)
    assert "distributions/export_progress.js" in page
    assert progress_json(client, export) == {
        "status": "inProgress",
        "percentComplete": 0,
        "error": "",
        "filename": "",
        "downloadUrl": None,
    }

    for callback in callbacks:  # the commit: the job runs (Q_CLUSTER["sync"] in the tests)
        callback()
    state = progress_json(client, export)
    assert state["status"] == "complete" and state["percentComplete"] == 100
    assert state["filename"] == "Customer satisfaction.zip"
    download = client.get(state["downloadUrl"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="Customer satisfaction.zip"'
    with zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))) as archive:
        assert b"Faster replies" in archive.read("Customer satisfaction.csv")
    page = client.get(response["Location"]).content.decode()
    assert f'href="{state["downloadUrl"]}">Download Customer satisfaction.zip</a>' in page


def test_the_form_reads_times_in_the_sites_zone_and_says_so(client, survey, settings):
    settings.TIME_ZONE = "Europe/Rome"
    client.force_login(staff(*EXPORTER))

    page = client.get(export_url(survey)).content.decode()
    client.post(export_url(survey), {"format": "csv", "start_date": "2024-03-05T00:00", "end_date": "2024-03-06T00:00"})

    assert "at or after this time, in Europe/Rome. The file&#x27;s dates are in UTC." in page
    assert "before this time, in Europe/Rome." in page
    options = ResponseExport.objects.get().options
    assert (options["startDate"], options["endDate"]) == ("2024-03-05T00:00:00+01:00", "2024-03-06T00:00:00+01:00")


def test_dates_in_the_wrong_order_are_a_form_error(client, survey):
    client.force_login(staff(*EXPORTER))
    response = client.post(
        export_url(survey), {"format": "csv", "start_date": "2024-03-06T10:00", "end_date": "2024-03-05T10:00"}
    )
    assert response.status_code == 200
    assert "startDate must come before endDate." in response.content.decode()
    assert not ResponseExport.objects.exists()


@pytest.mark.parametrize("missing", EXPORTER)
def test_staff_without_a_permission_cannot_start_an_export(client, survey, missing):
    client.force_login(staff(*(codename for codename in EXPORTER if codename != missing)))
    response = client.post(export_url(survey), {"format": "csv"})
    assert response.status_code == 403
    assert not ResponseExport.objects.exists()


def test_staff_without_the_response_permission_may_follow_but_not_download(
    client, survey, django_capture_on_commit_callbacks
):
    client.force_login(staff(*EXPORTER))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(export_url(survey), {"format": "csv"})
    export = ResponseExport.objects.get()
    client.force_login(staff("view_survey", "view_responseexport"))
    assert progress_json(client, export)["downloadUrl"] is None
    download = reverse("admin:distributions_survey_export_download", args=[survey.pk, export.public_id])
    assert client.get(download).status_code == 403
    client.force_login(staff("view_survey"))
    url = reverse("admin:distributions_survey_export_progress_json", args=[survey.pk, export.public_id])
    assert client.get(url).status_code == 403
