import pytest

from directory.models import Contact, DedupeRule, Membership
from tests.api.conftest import error, result
from tests.factories import make_contact, make_directory

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory():
    return make_directory(name="Customers")


def contacts_url(directory, suffix=""):
    return f"directories/{directory.public_id}/contacts{suffix}"


def test_it_creates_a_contact_and_says_so(superuser_api, directory):
    response = superuser_api.post(
        contacts_url(directory),
        {
            "firstName": "Ada",
            "lastName": "Lovelace",
            "email": "Ada@Example.com",
            "phone": "(415) 555-0100",
            "extRef": "003XYZ",
            "embeddedData": {"Tier": "Gold"},
        },
    )

    answer = result(response)
    contact = Contact.objects.get()
    assert response.status_code == 201
    assert answer == {"id": contact.public_id, "action": "created"}
    assert (contact.email, contact.phone, contact.external_data_reference) == (
        "Ada@example.com",
        "+14155550100",
        "003XYZ",
    )
    assert contact.embedded_data == {"Tier": "Gold"}


def test_it_updates_the_contact_the_directorys_rules_match(superuser_api, directory):
    existing = make_contact(
        directory=directory, email="ada@example.com", embedded_data={"Tier": "Silver", "Store": "Milan"}
    )

    response = superuser_api.post(
        contacts_url(directory), {"email": "ADA@example.com", "embeddedData": {"Tier": "Gold"}}
    )

    assert response.status_code == 200
    assert result(response) == {"id": existing.public_id, "action": "updated"}
    existing.refresh_from_db()
    assert existing.embedded_data == {"Tier": "Gold", "Store": "Milan"}
    assert Contact.objects.count() == 1


def test_it_dedupes_by_external_reference_when_the_directory_says_so(superuser_api, directory):
    DedupeRule.objects.create(directory=directory, key="external_data_reference")
    existing = make_contact(directory=directory, email="old@example.com", external_data_reference="003XYZ")

    answer = result(superuser_api.post(contacts_url(directory), {"email": "new@example.com", "extRef": "003XYZ"}))

    assert answer["id"] == existing.public_id
    existing.refresh_from_db()
    assert existing.email == "new@example.com"


def test_it_names_each_invalid_field_and_saves_nothing(superuser_api, directory):
    response = superuser_api.post(contacts_url(directory), {"email": "not an address", "phone": "n/a"})

    assert response.status_code == 400
    assert set(error(response)["fieldErrors"]) == {"email", "phone"}
    assert not Contact.objects.exists()


def test_an_upsert_does_not_subscribe_again_a_contact_who_opted_out(superuser_api, directory):
    existing = make_contact(directory=directory, email="ada@example.com", unsubscribed=True)

    superuser_api.post(contacts_url(directory), {"email": "ada@example.com", "unsubscribed": False})

    existing.refresh_from_db()
    assert existing.unsubscribed


def test_it_gets_a_contact_with_its_mailing_lists(superuser_api, directory):
    contact = make_contact(directory=directory, first_name="Ada", email="ada@example.com")
    mailing_list = directory.mailing_lists.create(name="Newsletter")
    Membership.objects.create(contact=contact, mailing_list=mailing_list)

    answer = result(superuser_api.get(contacts_url(directory, f"/{contact.public_id}")))

    assert (answer["id"], answer["firstName"], answer["email"]) == (contact.public_id, "Ada", "ada@example.com")
    assert answer["mailingListMembership"] == [
        {"mailingListId": mailing_list.public_id, "name": "Newsletter", "unsubscribed": False}
    ]


def test_it_does_not_find_a_contact_through_another_directory(superuser_api, directory):
    other = make_contact(directory=make_directory(), email="ada@example.com")

    response = superuser_api.get(contacts_url(directory, f"/{other.public_id}"))

    assert response.status_code == 404
    assert error(response)["errorCode"] == "NOT_FOUND"


def test_a_put_sets_the_given_fields_and_merges_embedded_data(superuser_api, directory):
    contact = make_contact(
        directory=directory, first_name="Ada", last_name="Byron", email="ada@example.com", embedded_data={"A": "1"}
    )

    answer = result(
        superuser_api.put(
            contacts_url(directory, f"/{contact.public_id}"), {"lastName": "Lovelace", "embeddedData": {"B": "2"}}
        )
    )

    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name, contact.embedded_data) == ("Ada", "Lovelace", {"A": "1", "B": "2"})
    assert answer["lastName"] == "Lovelace"


def test_a_delete_removes_the_contact(superuser_api, directory):
    contact = make_contact(directory=directory, email="ada@example.com")

    response = superuser_api.delete(contacts_url(directory, f"/{contact.public_id}"))

    assert response.status_code == 200
    assert set(response.json()) == {"meta"}
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_search_matches_all_or_any_filter(superuser_api, directory):
    ada = make_contact(directory=directory, email="ada@example.com", external_data_reference="003A")
    grace = make_contact(directory=directory, email="grace@example.com", phone="+14155550100")
    make_contact(directory=make_directory(), email="ada@example.com")
    url = contacts_url(directory, "/search")
    filters = [
        {"filterType": "email", "comparison": "eq", "value": "ADA@example.com"},
        {"filterType": "phone", "value": "+14155550100"},
    ]

    any_of = result(superuser_api.post(url, {"filters": filters, "conjunction": "or"}))["elements"]
    all_of = result(superuser_api.post(url, {"filters": filters, "conjunction": "and"}))["elements"]
    by_ref = result(superuser_api.post(url, {"filters": [{"filterType": "extRef", "value": "003A"}]}))["elements"]

    assert [row["id"] for row in any_of] == [ada.public_id, grace.public_id]
    assert all_of == []
    assert [row["id"] for row in by_ref] == [ada.public_id]


@pytest.mark.parametrize(
    ("filter_type", "value"),
    [
        ("phone", "(415) 555-0100"),
        ("phone", "415.555.0100"),
        ("phone", "+1 415 555 0100"),
        ("email", "Ada@EXAMPLE.com"),
    ],
)
def test_search_finds_a_contact_by_the_email_or_phone_as_a_post_wrote_it(superuser_api, directory, filter_type, value):
    contact = {"email": "ada@example.com", "phone": "(415) 555-0100"}
    created = result(superuser_api.post(contacts_url(directory), contact))
    url = contacts_url(directory, "/search")

    elements = result(superuser_api.post(url, {"filters": [{"filterType": filter_type, "value": value}]}))["elements"]

    assert [row["id"] for row in elements] == [created["id"]]


def test_search_compares_a_value_it_cannot_read_as_sent(superuser_api, directory):
    make_contact(directory=directory, email="ada@example.com", phone="+14155550100")
    url = contacts_url(directory, "/search")

    elements = result(superuser_api.post(url, {"filters": [{"filterType": "phone", "value": "call me"}]}))["elements"]

    assert elements == []


def test_search_refuses_an_unknown_filter(superuser_api, directory):
    response = superuser_api.post(
        contacts_url(directory, "/search"), {"filters": [{"filterType": "city", "value": "x"}]}
    )

    assert response.status_code == 400
    assert "filters[0].filterType" in error(response)["fieldErrors"]


def test_it_adds_a_contact_to_a_mailing_list_and_lists_the_lists_contacts(superuser_api, directory):
    mailing_list = directory.mailing_lists.create(name="Newsletter")
    outsider = make_contact(directory=directory, email="outsider@example.com")
    url = f"directories/{directory.public_id}/mailinglists/{mailing_list.public_id}/contacts"

    created = result(superuser_api.post(url, {"email": "ada@example.com"}))
    listed = result(superuser_api.get(url))["elements"]

    assert [row["id"] for row in listed] == [created["id"]]
    assert outsider.public_id != created["id"]
    assert Membership.objects.get().mailing_list == mailing_list


def test_the_schema_says_how_many_filters_a_search_takes(client):
    schema = client.get("/API/v3/schema/?format=json").json()

    filters = schema["components"]["schemas"]["SearchRequest"]["properties"]["filters"]

    assert (filters["minItems"], filters["maxItems"]) == (1, 50)


def test_a_search_names_the_filter_in_error(superuser_api, directory):
    response = superuser_api.post(
        contacts_url(directory, "/search"),
        {"filters": [{"filterType": "email", "value": "a@example.com"}, {"filterType": "city", "value": "x"}]},
    )

    assert response.status_code == 400
    assert list(error(response)["fieldErrors"]) == ["filters[1].filterType"]


@pytest.mark.parametrize("email", ["ΣΑΣ@example.com", "ÉLODIE@example.com"])
def test_a_second_post_of_an_address_with_non_ascii_capitals_updates_its_contact(superuser_api, directory, email):
    created = result(superuser_api.post(contacts_url(directory), {"email": email, "firstName": "A"}))

    again = superuser_api.post(contacts_url(directory), {"email": email, "firstName": "B"})
    elements = result(
        superuser_api.post(contacts_url(directory, "/search"), {"filters": [{"filterType": "email", "value": email}]})
    )["elements"]

    assert (again.status_code, result(again)) == (200, {"id": created["id"], "action": "updated"})
    assert [(row["id"], row["firstName"]) for row in elements] == [(created["id"], "B")]


def test_a_put_that_would_make_the_contact_another_by_the_dedupe_rules_changes_nothing(superuser_api, directory):
    ada = make_contact(directory=directory, email="ada@example.com")
    grace = make_contact(directory=directory, email="grace@example.com", embedded_data={"A": "1"})

    response = superuser_api.put(
        contacts_url(directory, f"/{grace.public_id}"), {"email": "ADA@example.com", "embeddedData": {"A": "2"}}
    )

    assert response.status_code == 400
    assert error(response)["errorCode"] == "DUPLICATE_CONTACT"
    assert ada.public_id in error(response)["errorMessage"]
    grace.refresh_from_db()
    assert (grace.email, grace.embedded_data) == ("grace@example.com", {"A": "1"})


def test_a_put_may_change_the_case_of_the_contacts_own_email_and_its_phone_rule_is_checked(superuser_api, directory):
    DedupeRule.objects.create(directory=directory, position=1, key="phone")
    make_contact(directory=directory, email="ada@example.com", phone="+14155550100")
    grace = make_contact(directory=directory, email="grace@example.com")
    url = contacts_url(directory, f"/{grace.public_id}")

    renamed = superuser_api.put(url, {"email": "Grace@example.com"})
    same_phone = superuser_api.put(url, {"phone": "(415) 555-0100"})

    assert (renamed.status_code, result(renamed)["email"]) == (200, "Grace@example.com")
    assert same_phone.status_code == 400
    assert "dedupe rule phone" in error(same_phone)["errorMessage"]


@pytest.mark.parametrize(
    "written",
    [" ada@bücher.example\t", "ada@xn--bcher-kva.example", "ada@BÜCHER.example", "ada@bu\u0308cher.example"],
)
def test_a_post_finds_the_contact_by_an_address_written_otherwise(superuser_api, directory, written):
    created = result(superuser_api.post(contacts_url(directory), {"email": "ada@bücher.example"}))

    again = superuser_api.post(contacts_url(directory), {"email": written, "firstName": "Ada"})

    assert (again.status_code, result(again)) == (200, {"id": created["id"], "action": "updated"})
    assert Contact.objects.get().email == "ada@bücher.example"
