"""Two API writes at the same moment, on PostgreSQL (SQLite runs one write at a time)."""

import threading

import pytest
from django.db import connection

from api.resources import contacts as contacts_api
from directory.models import Contact, DedupeRule, MailingList, Transaction
from directory.services import contact_delete
from tests.api.conftest import api_client_for
from tests.factories import make_contact, make_directory, make_user
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def api(postgres_only):
    return api_client_for(make_user(username="racer", is_superuser=True))


def test_two_mailing_lists_of_one_name_at_once_make_one_and_refuse_the_other(api):
    directory = make_directory()

    responses = run_together(4, lambda i: api.post(f"directories/{directory.public_id}/mailinglists", {"name": "News"}))

    assert sorted(response.status_code for response in responses) == [201, 400, 400, 400], [
        r.content for r in responses
    ]
    assert MailingList.objects.filter(directory=directory).count() == 1


def test_two_posts_of_one_person_at_once_make_one_contact(api):
    directory = make_directory()
    DedupeRule.objects.create(directory=directory, key="email")

    responses = run_together(
        4, lambda i: api.post(f"directories/{directory.public_id}/contacts", {"email": "ada@example.com"})
    )

    assert sorted(response.status_code for response in responses) == [200, 200, 200, 201]
    assert Contact.objects.filter(directory=directory).count() == 1


def test_a_contact_deleted_while_a_batch_appends_to_it_is_no_500(api, monkeypatch):
    directory = make_directory()
    kept = make_contact(directory=directory, email="kept@example.com")
    deleted = make_contact(directory=directory, email="gone@example.com")
    bulk_create = Transaction.objects.bulk_create
    deleting = []

    def delete(contact_pk):
        try:
            contact_delete(contact=Contact.objects.get(pk=contact_pk))
        finally:
            connection.close()

    def delete_then_insert(rows, *args, **kwargs):
        # Another call deletes one of the contacts once this batch has found them: it either
        # commits first, or waits for the batch (the contacts it found are locked).
        thread = threading.Thread(target=delete, args=(deleted.pk,))
        thread.start()
        thread.join(timeout=2)
        deleting.append(thread)
        return bulk_create(rows, *args, **kwargs)

    monkeypatch.setattr(Transaction.objects, "bulk_create", delete_then_insert)

    response = api.post(
        f"directories/{directory.public_id}/transactions",
        {"a": {"contactId": kept.public_id}, "b": {"contactId": deleted.public_id}},
    )
    deleting[0].join(timeout=30)

    assert response.status_code == 200, response.content
    assert not Contact.objects.filter(pk=deleted.pk).exists()
    # The deleted contact's transaction went with it: the batch appended it before the delete.
    assert list(Transaction.objects.values_list("contact_id", flat=True)) == [kept.pk]
    assert set(response.json()["result"]["createdTransactions"]) == {"a", "b"}


def test_batches_appending_to_the_same_contacts_at_once_all_land(api):
    directory = make_directory()
    contacts = [make_contact(directory=directory, email=f"c{i}@example.com") for i in range(5)]

    def batch(i):
        ordered = contacts if i % 2 else contacts[::-1]  # the items in another order each time
        body = {f"{i}-{n}": {"contactId": contact.public_id} for n, contact in enumerate(ordered)}
        return api.post(f"directories/{directory.public_id}/transactions", body)

    responses = run_together(4, batch)

    assert [response.status_code for response in responses] == [200] * 4
    assert Transaction.objects.count() == 20


@pytest.mark.parametrize("method", ["put", "delete"])
def test_a_write_to_a_contact_another_call_deletes_meanwhile_is_a_404(api, monkeypatch, method):
    directory = make_directory()
    contact = make_contact(directory=directory, email="ada@example.com")
    find = contacts_api.contact_or_404

    def found_then_deleted(*args):
        found = find(*args)
        run_together(1, lambda i: contact_delete(contact=Contact.objects.get(pk=contact.pk)))
        return found

    monkeypatch.setattr(contacts_api, "contact_or_404", found_then_deleted)
    url = f"directories/{directory.public_id}/contacts/{contact.public_id}"

    response = api.put(url, {"firstName": "Ada"}) if method == "put" else api.delete(url)

    assert response.status_code == 404, response.content
    assert response.json()["meta"]["error"]["errorCode"] == "NOT_FOUND"
    assert not Contact.objects.exists()
