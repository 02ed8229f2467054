"""Directory writes racing each other on PostgreSQL: one person stays one contact."""

import time

import pytest

import directory.services
from directory.models import Contact
from directory.services import ContactData, DuplicateContact, contact_update, contact_upsert
from tests.factories import make_contact, make_directory
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_change_of_email_racing_an_upsert_of_that_email_leaves_one_contact_with_it(postgres_only, monkeypatch):
    directory_ = make_directory()
    grace = make_contact(directory=directory_, email="grace@example.com")
    real_find = directory.services.contact_duplicate

    def slow_find(**kwargs):
        found = real_find(**kwargs)
        time.sleep(0.5)  # widen the window between "nobody has this email" and the update
        return found

    monkeypatch.setattr(directory.services, "contact_duplicate", slow_find)

    def work(i):
        if i == 0:
            try:
                return contact_update(contact=grace, fields={"email": "ada@example.com"})
            except DuplicateContact:
                return "refused"
        time.sleep(0.1)  # the update takes its locks first
        return contact_upsert(directory=directory_, data=ContactData(email="ada@example.com", first_name="Ada"))

    updated, (upserted, created) = run_together(2, work)

    assert Contact.objects.filter(email__iexact="ada@example.com").count() == 1
    assert (updated.pk, upserted.pk, created) == (grace.pk, grace.pk, False)
    assert Contact.objects.get(pk=grace.pk).first_name == "Ada"
