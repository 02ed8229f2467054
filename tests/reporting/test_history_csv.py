import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse

from directory.models import Contact
from distributions.models import Invitation
from reporting import history
from reporting.history import history_csv
from reporting.selectors import history_scope
from tests.factories import (
    make_contact,
    make_directory,
    make_distribution,
    make_invitation,
    make_survey,
    make_survey_field,
    make_survey_response,
    make_user,
)

pytestmark = pytest.mark.django_db

HEADER = [
    "Response Id",
    "Last Name",
    "First Name",
    "Email Address",
    "External Data Reference",
    "Status",
    "End Date",
    "Link",
    "Link Expiration",
]
FINISHED = datetime(2024, 3, 5, 9, 41, 7, 123456, tzinfo=UTC)
EXPIRES = datetime(2024, 4, 4, 23, 59, 59, tzinfo=UTC)


@pytest.fixture(autouse=True)
def public_base_url(settings):
    settings.PUBLIC_BASE_URL = "https://surveys.example.com"


def survey_csv_url(survey):
    return reverse("reporting:survey_history_csv", args=[survey.pk])


def distribution_csv_url(distribution):
    return reverse("reporting:distribution_history_csv", args=[distribution.pk])


def download(client, url) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response
    assert response.streaming
    return b"".join(response.streaming_content)


def rows_of(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content[3:].decode("utf-8"), newline="")))


def invite(distribution, **contact_fields):
    defaults = {"first_name": "Ada", "last_name": "Lovelace", "email": f"ada{Invitation.objects.count()}@example.com"}
    return make_invitation(distribution=distribution, contact=make_contact(**{**defaults, **contact_fields}))


# --- the file -------------------------------------------------------------------------------


def test_it_starts_with_a_bom_and_the_exact_header(admin_client):
    survey = make_survey()

    content = download(admin_client, survey_csv_url(survey))

    assert content == "\ufeff".encode() + b",".join(column.encode() for column in HEADER) + b"\n"


def test_it_adds_the_declared_embedded_data_fields_as_columns(admin_client):
    survey = make_survey()
    make_survey_field(survey=survey, name="Store")
    make_survey_field(survey=survey, name="Case Priority")
    distribution = make_distribution(survey=survey)
    answered, unanswered = invite(distribution), invite(distribution)
    make_survey_response(invitation=answered, embedded_data={"Store": "Milan", "Other": "ignored"})

    header, *rows = rows_of(download(admin_client, survey_csv_url(survey)))

    assert header == [*HEADER, "Case Priority", "Store"]
    assert [row[-2:] for row in rows] == [["", "Milan"], ["", ""]]
    assert unanswered.pk > answered.pk


def test_it_writes_one_row_per_invitation_with_its_status_link_and_dates(admin_client):
    survey = make_survey()
    distribution = make_distribution(survey=survey)
    finished = invite(
        distribution, first_name="Ada", last_name="Lovelace", email="ada@example.com", external_data_reference="003XYZ"
    )
    Invitation.objects.filter(pk=finished.pk).update(status="survey_finished", expires_at=EXPIRES)
    response = make_survey_response(invitation=finished, finished_at=FINISHED)
    pending = invite(distribution, first_name="Grace", last_name="Hopper", email="grace@example.com")

    _, first, second = rows_of(download(admin_client, survey_csv_url(survey)))

    assert first == [
        response.public_id,
        "Lovelace",
        "Ada",
        "ada@example.com",
        "003XYZ",
        "Survey Finished",
        "2024-03-05T09:41:07Z",
        f"https://surveys.example.com/s/{finished.token}/",
        "2024-04-04T23:59:59Z",
    ]
    assert second == [
        "",
        "Hopper",
        "Grace",
        "grace@example.com",
        "",
        "Pending",
        "",
        f"https://surveys.example.com/s/{pending.token}/",
        "",
    ]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_it_neutralises_cells_that_a_spreadsheet_would_run_as_formulas(admin_client, start):
    survey = make_survey()
    make_survey_field(survey=survey, name=f"{start}Field")
    invitation = invite(
        make_distribution(survey=survey),
        last_name=f'{start}HYPERLINK("http://evil")',
        first_name=f"{start}1+1",
        external_data_reference=f"{start}cmd|' /C calc'!A0",
    )
    make_survey_response(invitation=invitation, embedded_data={f"{start}Field": f"{start}SUM(A1:A9)"})

    header, row = rows_of(download(admin_client, survey_csv_url(survey)))

    assert header[-1] == f"'{start}Field"
    assert row[1] == f'\'{start}HYPERLINK("http://evil")'
    assert row[2] == f"'{start}1+1"
    assert row[4] == f"'{start}cmd|' /C calc'!A0"
    assert row[-1] == f"'{start}SUM(A1:A9)"


def test_it_leaves_formula_characters_alone_after_the_first_one(admin_client):
    survey = make_survey()
    invite(make_distribution(survey=survey), last_name="Smith-Jones", first_name="A=B", email="a+b@example.com")

    _, row = rows_of(download(admin_client, survey_csv_url(survey)))

    assert row[1:4] == ["Smith-Jones", "A=B", "a+b@example.com"]


def test_it_quotes_commas_quotes_and_line_breaks(admin_client):
    survey = make_survey()
    invite(make_distribution(survey=survey), last_name='O"Brien, Jr.', first_name="Line\nbreak", email="x@example.com")

    content = download(admin_client, survey_csv_url(survey))

    assert b'"O""Brien, Jr.","Line\nbreak"' in content
    assert rows_of(content)[1][1:3] == ['O"Brien, Jr.', "Line\nbreak"]


# --- scope ----------------------------------------------------------------------------------


def test_a_distribution_history_has_only_that_distributions_invitations(admin_client):
    survey = make_survey()
    first, second = make_distribution(survey=survey), make_distribution(survey=survey)
    invite(first, last_name="First")
    invite(second, last_name="Second")
    invite(make_distribution(), last_name="Other survey")

    by_distribution = rows_of(download(admin_client, distribution_csv_url(first)))
    by_survey = rows_of(download(admin_client, survey_csv_url(survey)))

    assert [row[1] for row in by_distribution[1:]] == ["First"]
    assert [row[1] for row in by_survey[1:]] == ["First", "Second"]


def test_it_names_the_file_after_the_survey_and_distribution(admin_client):
    survey = make_survey(name="After case: NPS")
    distribution = make_distribution(survey=survey)

    by_survey = admin_client.get(survey_csv_url(survey))
    by_distribution = admin_client.get(distribution_csv_url(distribution))

    assert by_survey["Content-Type"] == "text/csv; charset=utf-8"
    assert by_survey["Content-Disposition"] == 'attachment; filename="distribution-history-after-case-nps.csv"'
    assert by_distribution["Content-Disposition"] == (
        f'attachment; filename="distribution-history-after-case-nps-distribution-{distribution.pk}.csv"'
    )


def test_an_unknown_survey_or_distribution_is_not_found(admin_client):
    assert admin_client.get(reverse("reporting:survey_history_csv", args=[999999])).status_code == 404
    assert admin_client.get(reverse("reporting:distribution_history_csv", args=[999999])).status_code == 404


# --- access ---------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_admin_login(client):
    survey = make_survey()

    response = client.get(survey_csv_url(survey))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_users_who_are_not_staff_are_sent_to_the_admin_login(client):
    survey = make_survey()
    client.force_login(make_user(is_staff=False))

    response = client.get(survey_csv_url(survey))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_need_the_rights_to_view_invitations_and_responses(client):
    survey = make_survey()
    staff = make_user(is_staff=True)
    client.force_login(staff)

    refused = client.get(survey_csv_url(survey))
    staff.user_permissions.add(Permission.objects.get(codename="view_invitation"))
    refused_without_responses = client.get(survey_csv_url(survey))
    staff.user_permissions.add(Permission.objects.get(codename="view_response"))
    allowed = client.get(survey_csv_url(survey))

    assert refused.status_code == refused_without_responses.status_code == 403
    assert allowed.status_code == 200


# --- the two producers ----------------------------------------------------------------------


def messy_history():
    """A survey whose history exercises every formatting rule, in two distributions."""
    survey = make_survey(name="Messy")
    for name in ["Store", "=Formula field", "Score", "Flag", "Empty"]:
        make_survey_field(survey=survey, name=name)
    values = [
        ("Lovelace", "Ada", "ada@example.com", "003A", {"Store": "Milan", "Score": 9, "Flag": True}),
        ('O"Brien, Jr.', "Line\nbreak", "obrien@example.com", "", {"Store": "=cmd|' /C calc'!A0", "Empty": ""}),
        ("-minus", "+plus", "@at@example.com", "\tTab", {"=Formula field": "@SUM(A1)", "Store": "\rCR"}),
        ("Ünïcødé 🙂", "Ærø", "", "carriage\rreturn", {"Store": None, "Score": 1.5, "Flag": False}),
        ("", "", "", "", {}),
        ("Spaces ", " lead", "x@example.com", "a,b", {"Store": 'multi\nline, "quoted"'}),
    ]
    distributions = [make_distribution(survey=survey), make_distribution(survey=survey)]
    for number, (last, first, email, reference, data) in enumerate(values):
        contact = make_contact(last_name=last, first_name=first, email=email, external_data_reference=reference)
        invitation = make_invitation(distribution=distributions[number % 2], contact=contact)
        if data:
            Invitation.objects.filter(pk=invitation.pk).update(
                status=["email_sent", "survey_finished"][number % 2], expires_at=EXPIRES
            )
            make_survey_response(
                invitation=invitation, embedded_data=data, finished_at=FINISHED if number % 2 else None
            )
    return survey, distributions


def test_the_portable_producer_writes_every_formatting_rule():
    survey, _ = messy_history()

    content = b"".join(history_csv(history_scope(survey=survey), use_copy=False))

    header, *rows = rows_of(content)
    assert header == [*HEADER, "'=Formula field", "Empty", "Flag", "Score", "Store"]
    assert len(rows) == 6
    assert rows[1][9:] == ["", "", "", "", "'=cmd|' /C calc'!A0"]
    assert rows[2][1:5] == ["'-minus", "'+plus", "'@at@example.com", "'\tTab"]
    assert rows[2][9:] == ["'@SUM(A1)", "", "", "", "'\rCR"]
    assert rows[0][9:] == ["", "", "true", "9", "Milan"]
    assert rows[3][9:] == ["", "", "false", "1.5", ""]
    assert rows[4] == ["", "", "", "", "", "Pending", "", rows[4][7], "", "", "", "", "", ""]


def test_the_copy_producer_writes_the_same_bytes_as_the_portable_one(postgres_only):
    survey, distributions = messy_history()

    for scope in [history_scope(survey=survey), history_scope(survey=survey, distribution=distributions[1])]:
        copied = b"".join(history_csv(scope, use_copy=True))
        portable = b"".join(history_csv(scope, use_copy=False))
        assert copied == portable
    assert len(rows_of(b"".join(history_csv(history_scope(survey=survey), use_copy=True)))) == 7


def test_postgresql_downloads_go_through_copy(postgres_only, admin_client, monkeypatch):
    survey, _ = messy_history()
    monkeypatch.setattr(history, "_portable_chunks", None)

    assert len(rows_of(download(admin_client, survey_csv_url(survey)))) == 7


def test_a_large_history_comes_in_chunks_identical_on_both_paths(monkeypatch):
    monkeypatch.setattr(history, "CHUNK_BYTES", 1024)
    survey = make_survey()
    distribution = make_distribution(survey=survey)
    directory = make_directory()
    contacts = [make_contact(directory=directory, last_name=f"Name {n}", email=f"n{n}@example.com") for n in range(60)]
    Invitation.objects.bulk_create([Invitation(distribution=distribution, contact=contact) for contact in contacts])
    scope = history_scope(survey=survey)

    chunks = list(history_csv(scope, use_copy=False))
    if connection.vendor == "postgresql":
        assert b"".join(history_csv(scope, use_copy=True)) == b"".join(chunks)

    assert len(chunks) > 3
    assert all(len(chunk) < 2 * 1024 for chunk in chunks)
    assert len(rows_of(b"".join(chunks))) == 61


def test_an_abandoned_copy_download_leaves_the_connection_usable(postgres_only, monkeypatch):
    monkeypatch.setattr(history, "CHUNK_BYTES", 256)
    survey = make_survey()
    distribution = make_distribution(survey=survey)
    directory = make_directory()
    contacts = [make_contact(directory=directory, email=f"n{n}@example.com") for n in range(50)]
    Invitation.objects.bulk_create([Invitation(distribution=distribution, contact=contact) for contact in contacts])

    stream = history_csv(history_scope(survey=survey), use_copy=True)
    next(stream), next(stream)
    stream.close()

    assert Invitation.objects.filter(distribution=distribution).count() == 50


# --- texts ----------------------------------------------------------------------------------


def sms_history():
    survey = make_survey()
    email = make_distribution(survey=survey)
    invite(email, email="grace@example.com", last_name="Hopper")
    for channel in ("sms", "two_way_sms"):
        invitation = invite(make_distribution(survey=survey, channel=channel), email="ada@example.com")
        Invitation.objects.filter(pk=invitation.pk).update(address="+14155550100", status="sms_delivered")
    return survey


def test_a_texts_row_carries_its_phone_in_the_email_address_column(admin_client):
    survey = sms_history()
    header, email_row, sms_row, two_way_row = rows_of(download(admin_client, survey_csv_url(survey)))
    assert header == HEADER
    assert email_row[1:4] == ["Hopper", "Ada", "grace@example.com"]
    # The apostrophe every cell that starts with + gets, so no spreadsheet reads it as a formula.
    assert sms_row[3] == two_way_row[3] == "'+14155550100"
    assert sms_row[5] == "SMS Delivered"


def test_the_copy_producer_writes_texts_rows_as_the_portable_one(postgres_only):
    scope = history_scope(survey=sms_history())
    assert b"".join(history_csv(scope, use_copy=True)) == b"".join(history_csv(scope, use_copy=False))


def changed_address_history():
    survey = make_survey()
    invitation = invite(make_distribution(survey=survey), email="old@example.com")
    Invitation.objects.filter(pk=invitation.pk).update(status="email_hard_bounce")
    Contact.objects.filter(pk=invitation.contact_id).update(email="new@example.com")
    invite(make_distribution(survey=survey), email="")  # no address: nothing to show
    return survey


def test_an_emails_row_carries_the_address_it_went_to_not_the_contacts_new_one(admin_client):
    _header, row, no_address = rows_of(download(admin_client, survey_csv_url(changed_address_history())))
    assert (row[3], row[5]) == ("old@example.com", "Email Hard Bounce")
    assert no_address[3] == ""


def test_the_copy_producer_writes_the_address_an_email_went_to_as_the_portable_one(postgres_only):
    scope = history_scope(survey=changed_address_history())
    content = b"".join(history_csv(scope, use_copy=True))
    assert content == b"".join(history_csv(scope, use_copy=False))
    assert b"old@example.com" in content and b"new@example.com" not in content
