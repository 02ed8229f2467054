"""A write's body naming a field the call does not define is refused, naming it, and changes
nothing: a misspelled or unimplemented field is never dropped while the call answers success."""

import pytest

from directory.models import Contact, MailingList, Transaction
from distributions.models import ResponseExport, Survey
from tests.api.conftest import error, result
from tests.factories import make_contact, make_directory, make_question, make_survey

pytestmark = pytest.mark.django_db


def assert_refused(response, *names):
    assert response.status_code == 400, response.content
    failure = error(response)
    assert set(failure["fieldErrors"]) >= set(names), failure
    for name in names:
        assert name in failure["errorMessage"]


def test_a_contact_post_with_a_misspelled_field_is_refused(superuser_api):
    directory = make_directory()

    response = superuser_api.post(
        f"directories/{directory.public_id}/contacts", {"firstname": "Ada", "email": "ada@example.com"}
    )

    assert_refused(response, "firstname")
    assert not Contact.objects.exists()


def test_a_mailing_list_contact_post_with_an_unknown_field_is_refused(superuser_api):
    directory = make_directory()
    mailing_list = MailingList.objects.create(directory=directory, name="News")

    response = superuser_api.post(
        f"directories/{directory.public_id}/mailinglists/{mailing_list.public_id}/contacts",
        {"email": "ada@example.com", "embedded_data": {"Tier": "Gold"}},
    )

    assert_refused(response, "embedded_data")
    assert not Contact.objects.exists()


def test_a_contact_put_with_an_unknown_field_changes_nothing(superuser_api):
    directory = make_directory()
    contact = make_contact(directory=directory, first_name="Ada", email="ada@example.com")

    response = superuser_api.put(
        f"directories/{directory.public_id}/contacts/{contact.public_id}", {"firstName": "Augusta", "lastname": "King"}
    )

    assert_refused(response, "lastname")
    contact.refresh_from_db()
    assert contact.first_name == "Ada"


def test_a_contact_fetched_changed_and_put_back_is_a_valid_body(superuser_api):
    # The GET's id, dates and memberships are its output only: sent back, they are ignored.
    directory = make_directory()
    contact = make_contact(directory=directory, first_name="Ada", email="ada@example.com")
    url = f"directories/{directory.public_id}/contacts/{contact.public_id}"
    fetched = result(superuser_api.get(url))
    assert {"id", "creationDate", "lastModified", "mailingListMembership"} <= set(fetched)

    response = superuser_api.put(url, {**fetched, "firstName": "Augusta"})

    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert (contact.first_name, contact.public_id) == ("Augusta", fetched["id"])
    assert_refused(superuser_api.put(url, {**fetched, "firstname": "Ada"}), "firstname")


def test_a_search_filter_with_an_unknown_field_is_refused(superuser_api):
    directory = make_directory()

    response = superuser_api.post(
        f"directories/{directory.public_id}/contacts/search",
        {"filters": [{"filterType": "email", "value": "ada@example.com", "operator": "ne"}]},
    )

    assert response.status_code == 400
    assert "operator" in error(response)["errorMessage"]


def test_a_mailing_list_post_with_an_unknown_field_is_refused(superuser_api):
    directory = make_directory()

    response = superuser_api.post(
        f"directories/{directory.public_id}/mailinglists", {"name": "News", "category": "Newsletters"}
    )

    assert_refused(response, "category")
    assert not MailingList.objects.exists()


def test_a_survey_put_with_an_unknown_field_is_refused(superuser_api):
    survey = make_survey(name="Before", status=Survey.Status.NEW)
    make_question(survey=survey)

    response = superuser_api.put(f"surveys/{survey.public_id}", {"name": "After", "active": True})

    assert_refused(response, "active")
    survey.refresh_from_db()
    assert (survey.name, survey.status) == ("Before", Survey.Status.NEW)


def test_a_transaction_with_an_unknown_field_is_unprocessed_naming_it(superuser_api):
    directory = make_directory()
    contact = make_contact(directory=directory, email="ada@example.com")

    answer = superuser_api.post(
        f"directories/{directory.public_id}/transactions",
        {"visit-1": {"contactId": contact.public_id, "transactionData": {"Store": "Milan"}}},
    ).json()["result"]

    assert answer["createdTransactions"] == {}
    assert "transactionData" in answer["unprocessedTransactions"]["visit-1"]["errorMessage"]
    assert not Transaction.objects.exists()


def test_an_export_with_an_option_this_product_does_not_have_is_refused(superuser_api):
    survey = make_survey()

    response = superuser_api.post(
        f"surveys/{survey.public_id}/export-responses", {"format": "csv", "limit": 10, "timeZone": "Europe/Rome"}
    )

    assert_refused(response, "limit", "timeZone")
    assert not ResponseExport.objects.exists()


def test_the_schema_says_a_write_takes_no_other_fields(client):
    schemas = client.get("/API/v3/schema/?format=json").json()["components"]["schemas"]

    for name in ("ContactInputRequest", "SurveyUpdateRequest", "MailingListCreateRequest", "ExportRequestRequest"):
        assert schemas[name]["additionalProperties"] is False, name
