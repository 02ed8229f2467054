"""Contact upsert by the directory's ordered dedupe rules, lists and transactions."""

import pytest

from directory.models import Contact, DedupeKey, DedupeRule, Directory
from directory.selectors import contacts_search, embedded_data_case_clashes
from directory.services import (
    ContactData,
    DirectoryError,
    contact_find_existing,
    contact_upsert,
    directory_get_default,
    mailing_list_get_or_create,
    membership_ensure,
    transaction_append,
)
from tests.factories import make_contact, make_directory

pytestmark = pytest.mark.django_db


def with_rules(*keys):
    directory = make_directory()
    for position, key in enumerate(keys, start=1):
        DedupeRule.objects.create(directory=directory, position=position, key=key)
    return directory


def test_it_dedupes_by_email_case_insensitively_by_default():
    directory = make_directory()
    existing = make_contact(directory=directory, email="Ada@Example.com")
    contact, created = contact_upsert(directory=directory, data=ContactData(email="ada@example.COM", first_name="Ada"))
    assert (contact.pk, created) == (existing.pk, False)
    assert contact.first_name == "Ada"


def test_it_keeps_contacts_of_other_directories_apart():
    make_contact(email="ada@example.com")
    _, created = contact_upsert(directory=make_directory(), data=ContactData(email="ada@example.com"))
    assert created


def test_it_dedupes_by_external_data_reference_when_that_rule_comes_first():
    directory = with_rules(DedupeKey.EXTERNAL_DATA_REFERENCE, DedupeKey.EMAIL)
    by_reference = make_contact(directory=directory, email="old@example.com", external_data_reference="003A")
    make_contact(directory=directory, email="new@example.com")
    contact, created = contact_upsert(
        directory=directory, data=ContactData(email="new@example.com", external_data_reference="003A")
    )
    assert (contact.pk, created) == (by_reference.pk, False)
    assert contact.email == "new@example.com"


def test_it_falls_back_to_the_next_rule_when_the_first_finds_nothing():
    directory = with_rules(DedupeKey.EXTERNAL_DATA_REFERENCE, DedupeKey.EMAIL)
    existing = make_contact(directory=directory, email="ada@example.com")
    contact, _ = contact_upsert(
        directory=directory, data=ContactData(email="ada@example.com", external_data_reference="003B")
    )
    assert contact.pk == existing.pk


def test_it_dedupes_by_phone():
    directory = with_rules(DedupeKey.PHONE)
    existing = make_contact(directory=directory, phone="+390212345678")
    contact, _ = contact_upsert(directory=directory, data=ContactData(phone="+390212345678", email="x@example.com"))
    assert contact.pk == existing.pk


def test_it_creates_a_second_contact_when_name_and_email_must_both_match():
    directory = with_rules(DedupeKey.NAME_AND_EMAIL)
    make_contact(directory=directory, email="family@example.com", first_name="Ada", last_name="Byron")
    _, created = contact_upsert(
        directory=directory, data=ContactData(email="family@example.com", first_name="Anne", last_name="Byron")
    )
    assert created
    assert Contact.objects.filter(directory=directory).count() == 2


def test_it_overwrites_embedded_data_with_the_latest_value_and_keeps_the_rest():
    directory = make_directory()
    make_contact(directory=directory, email="ada@example.com", embedded_data={"Location": "Turin", "Tier": "Gold"})
    contact, _ = contact_upsert(
        directory=directory, data=ContactData(email="ada@example.com", embedded_data={"Location": "Milan"})
    )
    assert contact.embedded_data == {"Location": "Milan", "Tier": "Gold"}


def test_it_never_erases_a_stored_value_with_an_empty_one():
    directory = make_directory()
    make_contact(directory=directory, email="ada@example.com", phone="+390212345678")
    contact, _ = contact_upsert(directory=directory, data=ContactData(email="ada@example.com", phone=""))
    assert contact.phone == "+390212345678"


def test_it_says_how_to_create_a_contact_missing_for_a_transaction():
    with pytest.raises(DirectoryError, match="Save or update embedded data"):
        contact_find_existing(directory=make_directory(), data=ContactData(email="nobody@example.com"))


def test_it_creates_the_default_directory_once():
    assert directory_get_default().pk == directory_get_default().pk
    assert Directory.objects.filter(is_default=True).count() == 1


def test_it_adds_a_contact_to_a_list_once():
    contact = make_contact(email="ada@example.com")
    mailing_list = mailing_list_get_or_create(name="Support customers", directory=contact.directory)
    membership_ensure(contact=contact, mailing_list=mailing_list)
    membership_ensure(contact=contact, mailing_list=mailing_list)
    assert contact.memberships.count() == 1


def test_it_accumulates_transactions_on_the_timeline():
    contact = make_contact(email="ada@example.com")
    transaction_append(contact=contact, mailing_list=None, data={"Store": "Milan"})
    transaction_append(contact=contact, mailing_list=None, data={"Store": "Rome"})
    assert [t.data["Store"] for t in contact.transactions.all()] == ["Rome", "Milan"]


def test_it_warns_about_embedded_data_names_that_differ_only_by_case():
    assert embedded_data_case_clashes(["Location", "location", "Store"]) == [("Location", "location")]


def test_an_update_keeps_an_opt_out_committed_after_the_contact_was_read(monkeypatch):
    directory = make_directory()
    contact = make_contact(directory=directory, email="ada@example.com")
    stale = Contact.objects.get(pk=contact.pk)  # read before the recipient opted out
    Contact.objects.filter(pk=contact.pk).update(unsubscribed=True)
    monkeypatch.setattr("directory.services.contacts_find_by_rule", lambda **kwargs: [{DedupeKey.EMAIL: [stale]}])
    contact_upsert(directory=directory, data=ContactData(email="ada@example.com", first_name="Ada"))
    contact.refresh_from_db()
    assert (contact.first_name, contact.unsubscribed) == ("Ada", True)


# Letters that Python and the databases case-fold differently: SQLite's lower() folds ASCII only,
# PostgreSQL's lower() gives "σασ" for "ΣΑΣ" (Python: "σας") and "i" for "İ" (Python: "i̇").
NON_ASCII_CAPITALS = ["ÉLODIE@example.com", "Élodie@example.com", "ΣΑΣ@example.com", "İNCİ@example.com"]


@pytest.mark.parametrize("email", NON_ASCII_CAPITALS)
def test_it_finds_the_contact_holding_an_address_with_non_ascii_capitals_as_written(email):
    directory = make_directory()
    existing = make_contact(directory=directory, email=email)

    contact, created = contact_upsert(directory=directory, data=ContactData(email=email, first_name="Inci"))

    assert (contact.pk, created) == (existing.pk, False)
    assert list(Contact.objects.filter(directory=directory).values_list("first_name", flat=True)) == ["Inci"]


@pytest.mark.parametrize("email", NON_ASCII_CAPITALS)
def test_it_finds_such_an_address_by_name_and_email_and_in_a_search(email):
    directory = with_rules(DedupeKey.NAME_AND_EMAIL)
    existing = make_contact(directory=directory, email=email, first_name="Inci", last_name="Kaya")

    contact, created = contact_upsert(
        directory=directory, data=ContactData(email=email, first_name="Inci", last_name="Kaya")
    )

    assert (contact.pk, created) == (existing.pk, False)
    found = contacts_search(directory=directory, filters=[("email", email)], match_all=True)
    assert list(found) == [existing]
