"""Finding and upserting many contacts at once: the outcome of one at a time, in a few statements."""

import random
import time
from dataclasses import replace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import directory.services as directory_services
from directory.models import Contact, DedupeKey, DedupeRule, Membership
from directory.selectors import contact_find, contacts_find
from directory.services import (
    ContactData,
    contact_upsert,
    contacts_upsert,
    mailing_list_get_or_create,
    membership_ensure,
    memberships_ensure,
)
from tests.factories import make_contact, make_directory
from tests.threads import run_together

pytestmark = pytest.mark.django_db

STORED_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "external_data_reference",
    "language",
    "unsubscribed",
    "embedded_data",
)


def with_rules(*keys):
    directory = make_directory()
    for position, key in enumerate(keys, start=1):
        DedupeRule.objects.create(directory=directory, position=position, key=key)
    return directory


def stored(contact):
    return {name: getattr(contact, name) for name in STORED_FIELDS}


def pks(contacts):
    return [None if contact is None else contact.pk for contact in contacts]


def test_it_finds_each_profile_by_the_first_rule_that_matches_and_the_lowest_id():
    directory = with_rules(DedupeKey.EXTERNAL_DATA_REFERENCE, DedupeKey.EMAIL)
    by_reference = make_contact(directory=directory, email="old@example.com", external_data_reference="003A")
    first_ada = make_contact(directory=directory, email="Ada@Example.com")
    make_contact(directory=directory, email="ada@example.com")
    profiles = [
        {"email": "ada@example.com", "external_data_reference": "003A"},
        {"email": "ADA@example.com", "external_data_reference": "003Z"},
        {"email": "nobody@example.com"},
        {},
        {"email": "ada@example.com", "language": "it", "embedded_data": {"Store": "Milan"}},
    ]

    found = contacts_find(directory=directory, profiles=profiles)

    assert pks(found) == [by_reference.pk, first_ada.pk, None, None, first_ada.pk]
    assert pks(contact_find(directory=directory, **profile) for profile in profiles) == pks(found)


def test_it_finds_by_name_and_email_ignoring_the_case_of_both():
    directory = with_rules(DedupeKey.NAME_AND_EMAIL)
    ada = make_contact(directory=directory, email="family@example.com", first_name="Ada", last_name="Byron")
    anne = make_contact(directory=directory, email="family@example.com", first_name="Anne", last_name="Byron")
    profiles = [
        {"email": "FAMILY@example.com", "first_name": "ADA", "last_name": "byron"},
        {"email": "family@example.com", "first_name": "anne", "last_name": "BYRON"},
        {"email": "family@example.com", "first_name": "Ada"},
        {"email": "family@example.com", "first_name": "Augusta", "last_name": "Byron"},
    ]

    assert pks(contacts_find(directory=directory, profiles=profiles)) == [ada.pk, anne.pk, None, None]


def test_it_finds_fifty_profiles_with_one_query_per_rule(django_assert_max_num_queries):
    directory = with_rules(DedupeKey.EXTERNAL_DATA_REFERENCE, DedupeKey.EMAIL, DedupeKey.PHONE)
    for n in range(0, 50, 2):
        make_contact(directory=directory, email=f"person{n}@example.com", external_data_reference=f"R{n}")
    profiles = [
        {"email": f"person{n}@example.com", "external_data_reference": f"X{n}", "phone": f"+39{n}"} for n in range(50)
    ]

    with django_assert_max_num_queries(1 + 3):  # the rules, then one query per rule
        found = contacts_find(directory=directory, profiles=profiles)

    assert [contact is not None for contact in found] == [n % 2 == 0 for n in range(50)]


IN_CALL_DUPLICATES = {
    DedupeKey.EMAIL: (
        ContactData(email="ada@example.com", first_name="Ada", language="en"),
        ContactData(email="ADA@example.com", last_name="Lovelace", language="it"),
    ),
    DedupeKey.EXTERNAL_DATA_REFERENCE: (
        ContactData(external_data_reference="003A", email="ada@example.com", first_name="Ada", language="en"),
        ContactData(external_data_reference="003A", email="ada@work.example.com", language="it"),
    ),
    DedupeKey.PHONE: (
        ContactData(phone="+390212345678", email="ada@example.com", first_name="Ada", language="en"),
        ContactData(phone="+390212345678", email="lovelace@example.com", language="it"),
    ),
    DedupeKey.NAME_AND_EMAIL: (
        ContactData(email="family@example.com", first_name="Ada", last_name="Byron", language="en"),
        ContactData(email="FAMILY@example.com", first_name="ADA", last_name="byron", language="it"),
    ),
}


@pytest.mark.parametrize("key", list(IN_CALL_DUPLICATES))
def test_it_creates_one_contact_for_two_items_the_rule_says_are_the_same_person(key):
    directory = with_rules(key)
    first, second = IN_CALL_DUPLICATES[key]
    items = [
        replace(first, embedded_data={"Tier": "Gold", "Store": "Milan"}),
        replace(second, embedded_data={"Store": "Rome"}),
    ]

    (contact, created), (again, created_again) = contacts_upsert(directory=directory, items=items)

    assert (created, created_again) == (True, False)
    assert again is contact
    assert Contact.objects.filter(directory=directory).count() == 1
    expected = {**first.profile(), **second.profile(), "embedded_data": {"Tier": "Gold", "Store": "Rome"}}
    assert {name: stored(contact)[name] for name in expected} == expected
    assert stored(Contact.objects.get(pk=contact.pk)) == stored(contact)


def test_it_creates_two_contacts_when_only_the_email_of_name_and_email_is_the_same():
    directory = with_rules(DedupeKey.NAME_AND_EMAIL)
    items = [
        ContactData(email="family@example.com", first_name="Ada", last_name="Byron"),
        ContactData(email="family@example.com", first_name="Anne", last_name="Byron"),
    ]

    results = contacts_upsert(directory=directory, items=items)

    assert [created for _, created in results] == [True, True]
    assert Contact.objects.filter(directory=directory).count() == 2


def test_it_merges_several_items_for_one_stored_contact_in_item_order():
    directory = make_directory()
    ada = make_contact(directory=directory, email="ada@example.com", phone="+39021", embedded_data={"Tier": "Gold"})
    items = [
        ContactData(email="ada@example.com", first_name="Ada", embedded_data={"Store": "Milan"}),
        ContactData(email="bob@example.com", first_name="Bob"),
        ContactData(email="ADA@example.com", first_name="Adele", last_name="Lovelace", embedded_data={"Store": "Rome"}),
    ]

    results = contacts_upsert(directory=directory, items=items)

    assert [(contact.email, created) for contact, created in results] == [
        ("ADA@example.com", False),
        ("bob@example.com", True),
        ("ADA@example.com", False),
    ]
    assert results[0][0] is results[2][0]
    read_at = ada.updated_at
    ada.refresh_from_db()
    assert ada.updated_at > read_at
    assert (ada.first_name, ada.last_name, ada.phone) == ("Adele", "Lovelace", "+39021")
    assert ada.embedded_data == {"Tier": "Gold", "Store": "Rome"}


def test_it_lets_an_earlier_rule_win_over_a_contact_created_by_an_earlier_item():
    directory = with_rules(DedupeKey.EXTERNAL_DATA_REFERENCE, DedupeKey.EMAIL)
    by_reference = make_contact(directory=directory, email="old@example.com", external_data_reference="003A")
    items = [
        ContactData(email="new@example.com"),
        ContactData(email="new@example.com", external_data_reference="003A"),
        # Both contacts now have this email: the stored one has the lower id.
        ContactData(email="new@example.com", first_name="Ada"),
    ]

    results = contacts_upsert(directory=directory, items=items)

    new = results[0][0]
    assert [(contact.pk, created) for contact, created in results] == [
        (new.pk, True),
        (by_reference.pk, False),
        (by_reference.pk, False),
    ]
    assert Contact.objects.get(pk=by_reference.pk).first_name == "Ada"


def test_it_matches_a_stored_contact_by_the_values_an_earlier_item_gave_it():
    directory = with_rules(DedupeKey.EXTERNAL_DATA_REFERENCE, DedupeKey.EMAIL)
    by_reference = make_contact(directory=directory, email="shared@example.com", external_data_reference="003A")
    other = make_contact(directory=directory, email="shared@example.com")
    items = [
        ContactData(external_data_reference="003A", email="own@example.com"),
        ContactData(email="shared@example.com", first_name="Bob"),  # no longer by_reference's email
        ContactData(email="own@example.com", first_name="Ada"),
    ]

    results = contacts_upsert(directory=directory, items=items)

    assert [(contact.pk, created) for contact, created in results] == [
        (by_reference.pk, False),
        (other.pk, False),
        (by_reference.pk, False),
    ]
    assert Contact.objects.filter(directory=directory).count() == 2


def random_contact_data(rng):
    def pick(*values):
        return rng.choice(("", *values))

    return ContactData(
        first_name=pick("Ada", "ADA", "Bob"),
        last_name=pick("Byron", "byron"),
        email=pick("ada@example.com", "ADA@example.com", "bob@example.com", "Bob@Example.com", "cy@example.com"),
        phone=pick("+39021", "+39022"),
        external_data_reference=pick("003A", "003B"),
        language=pick("it", "en"),
        embedded_data={name: rng.choice("xyz") for name in rng.sample(["K1", "K2", "K3"], rng.randint(0, 2))},
    )


def outcome(directory, results):
    """The results and the directory's contacts, contacts named by their rank in the directory."""
    contacts = list(Contact.objects.filter(directory=directory).order_by("id"))
    rank = {contact.pk: number for number, contact in enumerate(contacts)}
    return [(rank[contact.pk], created) for contact, created in results], [stored(contact) for contact in contacts]


@pytest.mark.parametrize("seed", range(150))
def test_it_ends_as_upserting_the_items_one_by_one_would(seed):
    rng = random.Random(seed)
    keys = rng.sample(list(DedupeKey), rng.randint(0, len(DedupeKey)))
    stored_before = [random_contact_data(rng) for _ in range(rng.randint(0, 4))]
    items = [random_contact_data(rng) for _ in range(rng.randint(1, 8))]
    one_by_one, at_once = with_rules(*keys), with_rules(*keys)
    for directory in (one_by_one, at_once):
        for data in stored_before:
            make_contact(directory=directory, embedded_data=data.embedded_data, **data.profile())

    sequential = [contact_upsert(directory=one_by_one, data=item) for item in items]
    batch = contacts_upsert(directory=at_once, items=items)

    assert outcome(at_once, batch) == outcome(one_by_one, sequential)
    for contact, _ in batch:
        assert stored(contact) == stored(Contact.objects.get(pk=contact.pk))


def test_it_writes_only_the_fields_the_items_set(monkeypatch):
    directory = make_directory()
    ada = make_contact(directory=directory, email="ada@example.com", language="en")
    bob = make_contact(directory=directory, email="bob@example.com", language="en")
    read = directory_services.contacts_find_by_rule

    def read_then_others_commit(**kwargs):
        matches = read(**kwargs)
        Contact.objects.filter(pk__in=[ada.pk, bob.pk]).update(unsubscribed=True, language="fr")
        return matches

    monkeypatch.setattr(directory_services, "contacts_find_by_rule", read_then_others_commit)
    contacts_upsert(
        directory=directory,
        items=[
            ContactData(email="ada@example.com", first_name="Ada"),
            ContactData(email="bob@example.com", last_name="Brown", language="it"),
        ],
    )

    ada.refresh_from_db()
    bob.refresh_from_db()
    assert (ada.first_name, ada.unsubscribed, ada.language) == ("Ada", True, "fr")
    assert (bob.last_name, bob.unsubscribed, bob.language) == ("Brown", True, "it")


def fifty_items(directory):
    """25 stored people (found by reference or by email), 20 new ones, 5 repeats of new ones."""
    for n in range(25):
        reference = f"R{n}" if n % 2 else ""
        make_contact(directory=directory, email=f"person{n}@example.com", external_data_reference=reference)
    return [
        ContactData(
            email=f"person{person}@example.com",
            first_name=f"Person {n}",
            external_data_reference=f"R{person}",
            embedded_data={"Run": str(n)},
        )
        for n, person in enumerate([*range(45), *range(25, 30)])
    ]


def test_it_upserts_fifty_items_in_a_bounded_number_of_statements(django_assert_max_num_queries):
    rules = (DedupeKey.EXTERNAL_DATA_REFERENCE, DedupeKey.EMAIL)
    at_once, one_by_one = with_rules(*rules), with_rules(*rules)
    items = fifty_items(at_once)
    # savepoint, lock, rules, one read per rule, insert, update, release
    bound = 1 + 1 + 1 + 2 + 1 + 1 + 1

    with django_assert_max_num_queries(bound):
        results = contacts_upsert(directory=at_once, items=items)

    assert [created for _, created in results].count(True) == 20
    assert Contact.objects.filter(directory=at_once).count() == 45
    with CaptureQueriesContext(connection) as one_at_a_time:
        for item in fifty_items(one_by_one):
            contact_upsert(directory=one_by_one, data=item)
    assert len(one_at_a_time) > bound  # the bound does tell batched work from per-item work


def test_it_adds_contacts_to_a_list_in_one_statement_keeping_existing_memberships(django_assert_num_queries):
    directory = make_directory()
    contacts = [make_contact(directory=directory, email=f"person{n}@example.com") for n in range(50)]
    mailing_list = mailing_list_get_or_create(name="Support customers", directory=directory)
    opted_out = membership_ensure(contact=contacts[0], mailing_list=mailing_list)
    Membership.objects.filter(pk=opted_out.pk).update(unsubscribed=True)

    with django_assert_num_queries(1):
        memberships_ensure(contacts=[*contacts, contacts[1]], mailing_list=mailing_list)

    assert Membership.objects.filter(mailing_list=mailing_list).count() == 50
    assert Membership.objects.get(pk=opted_out.pk).unsubscribed


@pytest.mark.django_db(transaction=True)
def test_it_creates_no_duplicate_when_two_overlapping_calls_run_at_once(postgres_only, monkeypatch):
    directory = make_directory()
    batches = [
        [ContactData(email=f"person{n}@example.com", embedded_data={"Worker": "0"}) for n in range(0, 30)],
        [ContactData(email=f"PERSON{n}@example.com", embedded_data={"Worker": "1"}) for n in range(49, 19, -1)],
    ]
    read = directory_services.contacts_find_by_rule

    def slow_read(**kwargs):
        # Widens the window between "nobody has this email" and the insert.
        matches = read(**kwargs)
        time.sleep(0.5)
        return matches

    monkeypatch.setattr(directory_services, "contacts_find_by_rule", slow_read)

    results = run_together(2, lambda i: contacts_upsert(directory=directory, items=batches[i]))

    emails = [email.lower() for email in Contact.objects.filter(directory=directory).values_list("email", flat=True)]
    assert sorted(emails) == sorted(f"person{n}@example.com" for n in range(50))
    assert sum(created for batch in results for _, created in batch) == 50
