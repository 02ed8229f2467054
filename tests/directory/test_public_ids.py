import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from directory.models import Contact
from directory.services import ContactData, contacts_upsert, transaction_append
from tests.factories import make_contact, make_directory, make_distribution, make_invitation, make_survey_response

pytestmark = pytest.mark.django_db


def test_each_row_gets_a_prefixed_random_id_on_create():
    contact = make_contact()
    distribution = make_distribution()
    response = make_survey_response(invitation=make_invitation(distribution=distribution))

    assert re.fullmatch(r"CID_[A-Za-z0-9]{15}", contact.public_id)
    assert re.fullmatch(r"POOL_[A-Za-z0-9]{15}", contact.directory.public_id)
    assert re.fullmatch(r"SV_[A-Za-z0-9]{15}", distribution.survey.public_id)
    assert re.fullmatch(r"EMD_[A-Za-z0-9]{15}", distribution.public_id)
    assert re.fullmatch(r"R_[A-Za-z0-9]{15}", response.public_id)
    assert response.response_id == response.public_id


def test_rows_inserted_together_get_their_own_ids():
    directory = make_directory()

    results = contacts_upsert(directory=directory, items=[ContactData(email=f"c{n}@example.com") for n in range(50)])

    stored = set(Contact.objects.values_list("public_id", flat=True))
    assert {contact.public_id for contact, _created in results} == stored
    assert len(stored) == 50


def test_an_id_never_changes():
    contact = make_contact()
    first = contact.public_id

    contact.first_name = "Ada"
    contact.save()

    contact.refresh_from_db()
    assert contact.public_id == first
    assert transaction_append(contact=contact, mailing_list=None, data={}).public_id.startswith("CTR_")


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_rows_distinct_ids():
    executor = MigrationExecutor(connection)
    before = [
        ("directory", "0002_contact_phone_extension_help"),
        ("distributions", "0007_distribute_task_survey_by_id"),
    ]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    try:
        directory = old.get_model("directory", "Directory").objects.create(name="Before")
        OldContact = old.get_model("directory", "Contact")
        OldContact.objects.bulk_create(
            [OldContact(directory_id=directory.pk, email=f"c{n}@x.com") for n in range(2500)]
        )

        executor = MigrationExecutor(connection)
        executor.migrate([("directory", "0003_public_ids")])

        ids = list(Contact.objects.values_list("public_id", flat=True))
        assert len(set(ids)) == 2500
        assert all(re.fullmatch(r"CID_[A-Za-z0-9]{15}", public_id) for public_id in ids)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
