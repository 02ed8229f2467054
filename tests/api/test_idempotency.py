import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from api.idempotency import MAX_KEY_LENGTH
from api.models import IdempotentRequest
from api.services import idempotent_requests_purge
from directory import services as directory_services
from directory.models import Contact, MailingList
from tests.api.conftest import ApiClient, api_client_for, error, result
from tests.factories import make_directory, make_user
from tests.threads import run_together

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory():
    return make_directory()


def create(api, directory, body, key="key-1"):
    return api.post(f"directories/{directory.public_id}/contacts", body, headers={"Idempotency-Key": key})


def test_a_retry_with_the_same_key_and_body_gets_the_first_answer_and_changes_nothing(superuser_api, directory):
    first = create(superuser_api, directory, {"email": "ada@example.com", "embeddedData": {"Visits": "1"}})
    Contact.objects.update(embedded_data={"Visits": "2"})  # what an upsert sent again would overwrite

    again = create(superuser_api, directory, {"email": "ada@example.com", "embeddedData": {"Visits": "1"}})

    assert (first.status_code, again.status_code) == (201, 201)
    assert result(again) == result(first) == {"id": Contact.objects.get().public_id, "action": "created"}
    assert again["Idempotent-Replayed"] == "true"
    assert Contact.objects.get().embedded_data == {"Visits": "2"}


def test_the_same_key_with_another_body_is_refused(superuser_api, directory):
    create(superuser_api, directory, {"email": "ada@example.com"})

    response = create(superuser_api, directory, {"email": "grace@example.com"})

    assert response.status_code == 422
    assert error(response)["errorCode"] == "IDEMPOTENCY_KEY_REUSED"
    assert list(Contact.objects.values_list("email", flat=True)) == ["ada@example.com"]


def test_the_same_key_on_another_path_is_refused(superuser_api, directory):
    create(superuser_api, directory, {"email": "ada@example.com"})

    response = superuser_api.post(
        f"directories/{directory.public_id}/mailinglists", {"name": "x"}, headers={"Idempotency-Key": "key-1"}
    )

    assert response.status_code == 422
    assert not MailingList.objects.exists()


def test_a_key_older_than_24_hours_runs_the_call_again(superuser_api, directory):
    create(superuser_api, directory, {"email": "ada@example.com"})
    IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(hours=25))
    Contact.objects.all().delete()

    response = create(superuser_api, directory, {"email": "ada@example.com"})

    assert response.status_code == 201
    assert Contact.objects.count() == 1


def test_keys_are_per_token(directory):
    user = make_user(is_superuser=True)
    one, other = api_client_for(user), api_client_for(user)
    create(one, directory, {"email": "ada@example.com"})

    response = create(other, directory, {"email": "grace@example.com"})

    assert response.status_code == 201
    assert Contact.objects.count() == 2


def test_a_call_that_failed_keeps_no_answer_so_it_can_be_corrected_and_sent_again(superuser_api, directory):
    refused = create(superuser_api, directory, {"email": "not an address"})

    assert refused.status_code == 400
    assert not IdempotentRequest.objects.exists()


def test_without_a_key_each_call_runs(superuser_api, directory):
    superuser_api.post(f"directories/{directory.public_id}/mailinglists", {"name": "A"})
    superuser_api.post(f"directories/{directory.public_id}/mailinglists", {"name": "B"})

    assert MailingList.objects.count() == 2


def test_the_nightly_purge_deletes_expired_answers_only(superuser_api, directory):
    create(superuser_api, directory, {"email": "ada@example.com"}, key="old")
    create(superuser_api, directory, {"email": "grace@example.com"}, key="new")
    IdempotentRequest.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))

    assert idempotent_requests_purge() == 1
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_two_calls_with_one_key_at_the_same_moment_act_once_and_answer_alike(postgres_only, monkeypatch):
    directory = make_directory()
    secret = api_client_for(make_user(is_superuser=True)).token
    upsert = directory_services.contact_upsert

    def slow_upsert(**kwargs):
        time.sleep(0.5)  # both calls are inside the view at once
        return upsert(**kwargs)

    monkeypatch.setattr(directory_services, "contact_upsert", slow_upsert)
    body = {"email": "ada@example.com", "embeddedData": {"Visits": "1"}}

    responses = run_together(2, lambda i: create(ApiClient(secret), directory, body, key="same"))

    assert Contact.objects.count() == 1
    assert sorted(response.status_code for response in responses) == [201, 201]
    assert responses[0].json()["result"] == responses[1].json()["result"]


def test_the_schema_lists_the_idempotency_key_on_every_write_that_honours_it(client):
    schema = client.get("/API/v3/schema/?format=json").json()

    with_header = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if any(parameter["name"] == "Idempotency-Key" for parameter in operation.get("parameters", ()))
    }

    assert ("POST", "/API/v3/directories/{directoryId}/transactions") in with_header
    assert ("DELETE", "/API/v3/directories/{directoryId}/contacts/{contactId}") in with_header
    assert ("POST", "/API/v3/workflows/{workflowId}/runs/{runId}/replay") in with_header
    assert ("POST", "/API/v3/directories/{directoryId}/contacts/search") not in with_header  # a read
    assert not {method for method, _path in with_header} & {"GET"}


def test_the_schema_describes_the_idempotency_keys_the_api_takes(client):
    schema = client.get("/API/v3/schema/?format=json").json()
    operation = schema["paths"]["/API/v3/directories/{directoryId}/transactions"]["post"]

    (header,) = (parameter for parameter in operation["parameters"] if parameter["name"] == "Idempotency-Key")

    assert header["schema"]["maxLength"] == MAX_KEY_LENGTH
    pattern = re.compile(header["schema"]["pattern"])
    assert pattern.match("3f2b8c1e-5d4a-4f6b-9c2d-1a2b3c4d5e6f")
    assert not pattern.match("clé") and not pattern.match("a\tb")


def test_deleting_a_contact_erases_the_answers_kept_for_keys_that_show_it(superuser_api, directory):
    contact = Contact.objects.create(directory=directory, email="ada@example.com", first_name="Ada")
    other = Contact.objects.create(directory=directory, email="grace@example.com")
    url = f"directories/{directory.public_id}/contacts/{contact.public_id}"
    body = {"lastName": "Lovelace", "embeddedData": {"Diagnosis": "private"}}
    assert result(superuser_api.put(url, body, headers={"Idempotency-Key": "put-1"}))["lastName"] == "Lovelace"
    superuser_api.put(
        f"directories/{directory.public_id}/contacts/{other.public_id}",
        {"lastName": "Hopper"},
        headers={"Idempotency-Key": "put-2"},
    )

    superuser_api.delete(url)
    again = superuser_api.put(url, body, headers={"Idempotency-Key": "put-1"})

    assert again.status_code == 404
    assert "Idempotent-Replayed" not in again
    kept = [str(record.result) for record in IdempotentRequest.objects.all()]
    assert not any("ada@example.com" in text or "private" in text for text in kept)
    assert any("grace@example.com" in text for text in kept)


def test_a_create_retried_after_its_contact_was_deleted_still_changes_nothing(superuser_api, directory):
    created = result(create(superuser_api, directory, {"email": "ada@example.com"}))
    Contact.objects.get().delete()

    again = create(superuser_api, directory, {"email": "ada@example.com"})

    assert result(again) == created
    assert again["Idempotent-Replayed"] == "true"
    assert not Contact.objects.exists()


def test_deleting_a_contact_finds_its_answers_through_an_index_not_a_scan(postgres_only, directory):
    """Each deleted contact (a directory's deletion deletes each of its contacts) looks up the
    answers that show it: a scan of a day of answers for each would make that deletion crawl."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    contact = Contact.objects.create(directory=directory, email="ada@example.com")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a plan that still scans means no index serves it

    with CaptureQueriesContext(connection) as queries:
        directory_services.contact_delete(contact=contact)

    (lookup,) = [query["sql"] for query in queries if query["sql"].startswith('SELECT "api_idempotentrequest"')]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {lookup}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "idempotent_request_result_id" in plan
    assert "Seq Scan on api_idempotentrequest" not in plan
