from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directory.models import MailingList, Membership, Transaction
from tests.factories import make_contact, make_directory

pytestmark = pytest.mark.django_db


def contact_url(contact):
    return reverse("admin:directory_contact_change", args=[contact.pk])


def contact_post(contact, **fields):
    """The contact change form's POST data, with empty membership and transaction rows."""
    data = {
        "directory": contact.directory_id,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "external_data_reference": contact.external_data_reference,
        "language": contact.language,
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
        "transactions-TOTAL_FORMS": 0,
        "transactions-INITIAL_FORMS": 0,
        "transactions-MIN_NUM_FORMS": 0,
        "transactions-MAX_NUM_FORMS": 0,
    }
    return {**data, **fields}


def test_it_shows_embedded_data_as_a_table(admin_client):
    contact = make_contact(email="ada@example.com", embedded_data={"Location": "Milan"})

    content = admin_client.get(contact_url(contact)).content.decode()

    assert "<tr><th>Location</th><td>Milan</td></tr>" in content


def test_it_shows_the_transaction_timeline_newest_first(admin_client):
    contact = make_contact(email="ada@example.com")
    now = timezone.now()
    Transaction.objects.create(contact=contact, transaction_date=now - timedelta(days=2), data={"Store": "Turin"})
    Transaction.objects.create(contact=contact, transaction_date=now, data={"Store": "Milan"}, run_id=77)

    content = admin_client.get(contact_url(contact)).content.decode()

    assert "Store: Milan" in content
    assert content.index("Store: Milan") < content.index("Store: Turin")


def test_it_warns_about_embedded_data_names_that_differ_only_by_case(admin_client):
    contact = make_contact(email="ada@example.com", embedded_data={"Store": "Milan", "store": "Turin"})

    content = admin_client.get(contact_url(contact)).content.decode()

    assert "Names that differ only by case: Store / store" in content


def test_it_edits_embedded_data_as_name_value_rows(admin_client):
    contact = make_contact(email="ada@example.com", embedded_data={"Location": "Milan"})
    data = contact_post(
        contact,
        embedded_data__name=["Location", "Notes", ""],
        embedded_data__value=["Turin", "line one\r\nline two", ""],
    )

    response = admin_client.post(contact_url(contact), data)

    contact.refresh_from_db()
    assert response.status_code == 302
    assert contact.embedded_data == {"Location": "Turin", "Notes": "line one\r\nline two"}


def test_it_refuses_an_embedded_data_value_without_a_name(admin_client):
    contact = make_contact(email="ada@example.com", embedded_data={"Location": "Milan"})
    data = contact_post(contact, embedded_data__name=[""], embedded_data__value=["Turin"])

    response = admin_client.post(contact_url(contact), data)

    contact.refresh_from_db()
    assert "Every row with a value needs a name." in response.content.decode()
    assert contact.embedded_data == {"Location": "Milan"}


def test_it_finds_a_contact_by_email_whatever_the_case(admin_client):
    directory = make_directory()
    make_contact(directory=directory, email="Ada@Example.com")
    make_contact(directory=directory, email="grace@example.com")

    response = admin_client.get(reverse("admin:directory_contact_changelist"), {"q": "ada@example.COM"})

    assert [contact.email for contact in response.context["cl"].result_list] == ["Ada@Example.com"]


def test_it_counts_mailing_list_members(admin_client):
    directory = make_directory()
    mailing_list = MailingList.objects.create(directory=directory, name="Customers")
    for email in ("a@example.com", "b@example.com"):
        Membership.objects.create(contact=make_contact(directory=directory, email=email), mailing_list=mailing_list)

    response = admin_client.get(reverse("admin:directory_mailinglist_changelist"))

    assert response.context["cl"].result_list[0].member_count == 2


def test_it_renders_the_transaction_list_read_only(admin_client):
    contact = make_contact(email="ada@example.com")
    Transaction.objects.create(contact=contact, transaction_date=timezone.now(), data={"Store": "Milan"})

    response = admin_client.get(reverse("admin:directory_transaction_changelist"), {"q": "ada@example.com"})

    assert "Store: Milan" in response.content.decode()
    assert reverse("admin:directory_transaction_add") not in response.content.decode()


def test_it_explains_the_order_of_dedupe_rules_on_the_directory_page(admin_client):
    directory = make_directory()

    content = admin_client.get(reverse("admin:directory_directory_change", args=[directory.pk])).content.decode()

    assert "tried in order" in content
    assert "matched by email, case-insensitive" in content
