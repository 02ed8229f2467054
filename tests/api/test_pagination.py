from urllib.parse import parse_qs, urlsplit

import pytest

from directory.models import Contact
from tests.api.conftest import error, result
from tests.factories import make_directory

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory():
    directory = make_directory()
    Contact.objects.bulk_create([Contact(directory=directory, email=f"c{n}@example.com") for n in range(1234)])
    return directory


def pages(api, first_path, **query):
    """Every page of a list, following nextPage from the first."""
    answer = result(api.get(first_path, **query))
    found = [answer]
    while answer["nextPage"]:
        assert len(found) < 100, "nextPage does not end"
        answer = result(api.get(answer["nextPage"]))
        found.append(answer)
    return found


def test_it_pages_through_a_large_list_to_its_end_once_each(superuser_api, directory):
    found = pages(superuser_api, f"directories/{directory.public_id}/contacts", pageSize="100")

    ids = [element["id"] for page in found for element in page["elements"]]
    assert len(found) == 13
    assert [len(page["elements"]) for page in found][-1] == 34
    assert sorted(ids) == sorted(Contact.objects.values_list("public_id", flat=True))
    assert len(set(ids)) == 1234


def test_next_page_is_a_full_url_from_the_public_base_url_keeping_the_query(superuser_api, directory, settings):
    settings.PUBLIC_BASE_URL = "https://surveys.example.com/base"

    next_page = result(superuser_api.get(f"directories/{directory.public_id}/contacts", pageSize="10"))["nextPage"]

    parts = urlsplit(next_page)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"https://surveys.example.com/base/API/v3/directories/{directory.public_id}/contacts"
    )
    assert parse_qs(parts.query)["pageSize"] == ["10"]
    assert parse_qs(parts.query)["skipToken"]


def test_rows_added_while_paging_neither_repeat_nor_shift_the_pages(superuser_api, directory):
    url = f"directories/{directory.public_id}/contacts"
    first = result(superuser_api.get(url, pageSize="500"))
    Contact.objects.create(directory=directory, email="new@example.com")

    second = result(superuser_api.get(first["nextPage"].removeprefix("http://127.0.0.1:8000")))

    assert not {row["id"] for row in first["elements"]} & {row["id"] for row in second["elements"]}
    assert second["elements"][0]["email"] == "c500@example.com"


def test_a_page_size_above_the_maximum_is_refused(superuser_api, directory):
    response = superuser_api.get(f"directories/{directory.public_id}/contacts", pageSize="501")

    assert response.status_code == 400
    assert "pageSize" in error(response)["fieldErrors"]


def test_a_skip_token_this_api_did_not_give_out_is_refused(superuser_api, directory):
    response = superuser_api.get(f"directories/{directory.public_id}/contacts", skipToken="eyJpZCI6MX0")

    assert response.status_code == 400
    assert error(response)["errorCode"] == "INVALID_SKIP_TOKEN"


def test_a_skip_token_of_another_list_is_refused(superuser_api, directory):
    next_page = result(superuser_api.get(f"directories/{directory.public_id}/contacts", pageSize="1"))["nextPage"]
    token = parse_qs(urlsplit(next_page).query)["skipToken"][0]

    assert superuser_api.get("surveys", skipToken=token).status_code == 400
