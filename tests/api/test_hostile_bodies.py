"""Hostile but well-formed JSON bodies: each must get a 4xx in the envelope, never a 500.

A lone surrogate (`"\\ud800"`) is valid JSON text yet no UTF-8 can hold it: an error message that
quotes the value back (a choice field's "is not a valid choice", a transaction's key) cannot be
rendered. A body nested deeper than Python's recursion limit cannot be parsed by the json module.
"""

import io
import json

import pytest

from tests.api.conftest import error
from tests.factories import make_contact, make_directory, make_question, make_survey

pytestmark = pytest.mark.django_db

SURROGATE = "\ud800"


def post_raw(api, directory, resource: str, body):
    """POST `body` (str or bytes, sent as it is) as JSON to the directory's `resource` list."""
    return api.client.post(
        f"/API/v3/directories/{directory.public_id}/{resource}",
        data=body,
        content_type="application/json",
        headers={"X-API-TOKEN": api.token},
    )


def assert_client_error(response):
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    error(response)


def test_an_export_format_holding_a_lone_surrogate_is_a_400(superuser_api):
    survey = make_survey()
    make_question(survey=survey)

    response = superuser_api.post(f"surveys/{survey.public_id}/export-responses", {"format": SURROGATE})

    assert_client_error(response)


@pytest.mark.parametrize("field", ["filterType", "comparison"])
def test_a_contact_search_filter_holding_a_lone_surrogate_is_a_400(superuser_api, field):
    directory = make_directory()
    search = {"filterType": "email", "comparison": "eq", "value": "ada@example.com", field: SURROGATE}

    response = superuser_api.post(f"directories/{directory.public_id}/contacts/search", {"filters": [search]})

    assert_client_error(response)


def test_a_transaction_key_holding_a_lone_surrogate_is_refused_not_a_500(superuser_api):
    directory = make_directory()
    contact = make_contact(directory=directory, email="ada@example.com")

    response = superuser_api.post(
        f"directories/{directory.public_id}/transactions",
        {SURROGATE: {"contactId": contact.public_id, "transactionDate": "2024-03-05T09:41:07Z"}},
    )

    assert response.status_code < 500, response.content[:300]


def test_a_body_nested_deeper_than_the_parser_goes_is_a_400(superuser_api):
    directory = make_directory()
    body = '{"email": "ada@example.com", "embeddedData": ' + "[" * 5000 + "]" * 5000 + "}"

    response = post_raw(superuser_api, directory, "contacts", body)

    assert_client_error(response)


def test_a_body_over_the_upload_size_limit_is_a_4xx_in_the_envelope(superuser_api, settings):
    """Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default) with
    RequestDataTooBig, a 400 everywhere else; a 1,000-transaction batch with a few kB of data each
    reaches it."""
    directory = make_directory()
    contact = make_contact(directory=directory, email="ada@example.com")
    batch = {
        f"visit-{n}": {
            "contactId": contact.public_id,
            "transactionDate": "2024-03-05T09:41:07Z",
            "data": {"Notes": "x" * 3000},
        }
        for n in range(1000)
    }

    response = superuser_api.post(f"directories/{directory.public_id}/transactions", batch)

    assert_client_error(response)


def test_a_surrogate_pair_is_one_character_and_is_accepted(superuser_api):
    directory = make_directory()

    response = superuser_api.post(
        f"directories/{directory.public_id}/contacts",
        {"email": "ada@example.com", "firstName": "Ada \ud83d\ude00", "embeddedData": {"Mood": "\ud83d\ude00"}},
    )

    assert response.status_code == 201, response.content[:300]


@pytest.mark.parametrize(
    "body",
    [{"email": "ada@example.com", "embeddedData": {"Tier": SURROGATE}}, {"email": "ada@example.com", SURROGATE: "x"}],
)
def test_a_lone_surrogate_anywhere_in_a_body_is_a_400_saying_so(superuser_api, body):
    directory = make_directory()

    response = superuser_api.post(f"directories/{directory.public_id}/contacts", body)

    assert response.status_code == 400
    body_error = error(response)
    assert body_error["errorCode"] == "MALFORMED_REQUEST"
    assert "surrogate" in body_error["errorMessage"]


@pytest.mark.parametrize("depth", [100, 900])
def test_a_body_nested_past_the_api_depth_but_within_python_is_a_400(superuser_api, depth):
    directory = make_directory()
    body = '{"email": "ada@example.com", "embeddedData": ' + "[" * depth + "]" * depth + "}"

    response = post_raw(superuser_api, directory, "contacts", body)

    assert response.status_code == 400
    assert "levels deep" in error(response)["errorMessage"]


def test_a_body_over_the_upload_size_limit_is_a_413_saying_the_limit(superuser_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    directory = make_directory()
    contact = make_contact(directory=directory, email="ada@example.com")
    batch = {f"visit-{n}": {"contactId": contact.public_id, "data": {"Notes": "x" * 300}} for n in range(100)}

    response = superuser_api.post(f"directories/{directory.public_id}/transactions", batch)

    assert response.status_code == 413
    body_error = error(response)
    assert body_error["errorCode"] == "REQUEST_TOO_LARGE"
    assert "10,000 bytes" in body_error["errorMessage"]
    assert "split" in body_error["errorMessage"]


def test_the_renderer_writes_a_lone_surrogate_it_is_given_as_an_escape():
    from rest_framework.response import Response

    from api.envelope import EnvelopeRenderer

    rendered = EnvelopeRenderer().render(
        {"errorMessage": f'"{SURROGATE}" is not a valid choice.', "errorCode": "INVALID_PARAMETER"},
        renderer_context={"response": Response(status=400)},
    )

    assert b"\\ud800" in rendered


def test_a_batch_naming_one_key_twice_is_a_400_naming_it_and_keeps_nothing(superuser_api):
    directory = make_directory()
    contact = make_contact(directory=directory, email="ada@example.com")
    milan, rome = ({"contactId": contact.public_id, "data": {"Store": store}} for store in ("Milan", "Rome"))
    body = f'{{"visit-1": {json.dumps(milan)}, "visit-1": {json.dumps(rome)}}}'

    response = post_raw(superuser_api, directory, "transactions", body)

    assert response.status_code == 400
    assert error(response) == {
        "errorMessage": 'JSON parse error - the key "visit-1" appears twice in one object: give each item its own key.',
        "errorCode": "MALFORMED_REQUEST",
    }
    assert not contact.transactions.exists()


def test_a_contact_naming_a_field_twice_is_a_400(superuser_api):
    directory = make_directory()

    response = post_raw(
        superuser_api,
        directory,
        "contacts",
        '{"email": "ada@example.com", "embeddedData": {"Tier": "Gold", "Tier": "Silver"}}',
    )

    assert response.status_code == 400
    assert '"Tier" appears twice' in error(response)["errorMessage"]
    assert not directory.contacts.exists()


def test_nan_is_still_no_json(superuser_api):
    directory = make_directory()

    response = post_raw(
        superuser_api, directory, "contacts", '{"email": "ada@example.com", "embeddedData": {"Score": NaN}}'
    )

    assert response.status_code == 400
    assert error(response)["errorCode"] == "MALFORMED_REQUEST"


def test_a_body_starting_with_a_utf8_byte_order_mark_is_read(superuser_api):
    directory = make_directory()

    response = post_raw(
        superuser_api, directory, "contacts", b"\xef\xbb\xbf" + json.dumps({"email": "ada@example.com"}).encode()
    )

    assert response.status_code == 201
    assert directory.contacts.get().email == "ada@example.com"


def chunked_post(api, path: str, body: bytes, *, server_ends_the_stream: bool = True):
    """A POST as gunicorn hands a chunked request to Django: no CONTENT_LENGTH, the body in
    wsgi.input with the chunking removed, and wsgi.input_terminated set."""
    return api.client.generic(
        "POST",
        path,
        data=b"",
        CONTENT_TYPE="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        HTTP_X_API_TOKEN=api.token,
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": server_ends_the_stream},
    )


def test_a_chunked_body_is_read_whole(superuser_api):
    directory = make_directory()

    response = chunked_post(
        superuser_api,
        f"/API/v3/directories/{directory.public_id}/contacts",
        json.dumps({"email": "ada@example.com", "firstName": "Ada"}).encode(),
    )

    assert response.status_code == 201
    contact = directory.contacts.get()
    assert (contact.email, contact.first_name) == ("ada@example.com", "Ada")


def test_a_chunked_body_over_the_size_limit_is_a_413(superuser_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    directory = make_directory()

    response = chunked_post(
        superuser_api,
        f"/API/v3/directories/{directory.public_id}/contacts",
        json.dumps({"email": "ada@example.com", "firstName": "A" * 200}).encode(),
    )

    assert response.status_code == 413
    assert error(response)["errorCode"] == "REQUEST_TOO_LARGE"
    assert not directory.contacts.exists()


def test_a_chunked_body_a_server_cannot_end_is_refused_not_read_as_empty(superuser_api):
    directory = make_directory()

    response = chunked_post(
        superuser_api,
        f"/API/v3/directories/{directory.public_id}/contacts",
        json.dumps({"email": "ada@example.com"}).encode(),
        server_ends_the_stream=False,
    )

    assert response.status_code == 400
    assert error(response)["errorCode"] == "LENGTH_REQUIRED"
    assert not directory.contacts.exists()
