"""Two API writes at the same moment, on PostgreSQL (SQLite runs one write at a time)."""

import pytest

from directory.models import Contact, DedupeRule, MailingList
from tests.api.conftest import api_client_for
from tests.factories import make_directory, make_user
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
