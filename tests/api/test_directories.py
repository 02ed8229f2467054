import pytest

from directory.models import DedupeRule, MailingList
from tests.api.conftest import error, result
from tests.factories import make_directory

pytestmark = pytest.mark.django_db


def test_it_lists_directories_with_their_dedupe_rules_in_order(superuser_api):
    directory = make_directory(name="Customers", is_default=True)
    DedupeRule.objects.create(directory=directory, key="external_data_reference", position=1)
    DedupeRule.objects.create(directory=directory, key="email", position=2)
    plain = make_directory(name="Partners")

    elements = result(superuser_api.get("directories"))["elements"]

    assert elements[0]["directoryId"] == directory.public_id
    assert elements[0]["isDefault"] is True
    assert elements[0]["deduplicationCriteria"] == ["externalDataReference", "email"]
    assert elements[1]["directoryId"] == plain.public_id
    assert elements[1]["deduplicationCriteria"] == ["email"]


def test_it_creates_and_lists_mailing_lists(superuser_api):
    directory = make_directory()
    url = f"directories/{directory.public_id}/mailinglists"

    response = superuser_api.post(url, {"name": "Newsletter"})
    listed = result(superuser_api.get(url))["elements"]

    created = MailingList.objects.get()
    assert response.status_code == 201
    assert result(response)["mailingListId"] == created.public_id
    assert [row["name"] for row in listed] == ["Newsletter"]


def test_it_refuses_a_second_mailing_list_of_the_same_name(superuser_api):
    directory = make_directory()
    directory.mailing_lists.create(name="Newsletter")

    response = superuser_api.post(f"directories/{directory.public_id}/mailinglists", {"name": "Newsletter"})

    assert response.status_code == 400
    assert "already has a mailing list" in error(response)["errorMessage"]
    assert MailingList.objects.count() == 1


def test_an_unknown_directory_is_a_404(superuser_api):
    response = superuser_api.get("directories/POOL_unknown/mailinglists")

    assert response.status_code == 404
    assert error(response)["errorCode"] == "NOT_FOUND"
