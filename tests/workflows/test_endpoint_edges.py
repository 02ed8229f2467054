"""The event endpoint at its edges: any encoding, ids, nesting, NUL bytes, URLs, a lost database.

Every refusal must answer the contract's SOAP Fault and reach the inbound log with its reason.
"""

import gzip

import pytest
from django.db import connection

from tests.factories import case_fields, make_workflow, outbound_message
from tests.workflows.test_endpoint import fault_string, is_ack
from workflows.models import InboundMessage, Notification, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(client):
    def post(path, body, content_type="text/xml; charset=UTF-8"):
        return client.post(path, body, content_type=content_type, HTTP_SOAPACTION='""')

    return post


def utf16(body: bytes) -> bytes:
    text = body.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    return text.encode("utf-16")  # with a byte order mark


def refusal(response) -> InboundMessage:
    """The one logged row of a refused call, checked against the answer."""
    logged = InboundMessage.objects.get()
    assert (logged.status, logged.http_status) == ("refused", response.status_code)
    assert logged.reason == fault_string(response)
    return logged


def test_it_acks_a_utf16_message_and_logs_it_as_text(post):
    workflow = make_workflow()
    response = post(workflow.event_path, utf16(outbound_message(case_fields(Subject="Zoë 山田"))), "text/xml")

    assert is_ack(response)
    assert Notification.objects.get().fields["Subject"] == "Zoë 山田"
    logged = InboundMessage.objects.get()
    assert "\x00" not in logged.body
    assert "<Subject>Zoë 山田</Subject>" in logged.body.replace("sf:", "")


def undeclared(body: bytes, encoding: str) -> bytes:
    """The message in `encoding`, its XML declaration naming none (as some SOAP toolkits send it,
    the encoding said by the Content-Type's charset alone)."""
    return body.decode().replace(' encoding="UTF-8"', "").encode(encoding)


@pytest.mark.parametrize("charset", ["ISO-8859-1", "windows-1252"])
def test_it_reads_a_message_in_the_encoding_its_content_type_names(client, charset):
    workflow = make_workflow()
    body = undeclared(outbound_message(case_fields(Subject="Zoë")), charset)
    response = client.generic("POST", workflow.event_path, body, content_type=f"text/xml; charset={charset}")

    assert is_ack(response)
    assert Notification.objects.get().fields["Subject"] == "Zoë"
    assert "Zoë</sf:Subject>" in InboundMessage.objects.get().body


@pytest.mark.parametrize("content_type", ["text/xml", "text/xml; charset=UTF-8"])
def test_it_says_which_encoding_to_name_for_a_message_that_names_none_and_is_not_utf8(client, content_type):
    workflow = make_workflow()
    body = undeclared(outbound_message(case_fields(Subject="Zoë")), "latin-1")
    response = client.generic("POST", workflow.event_path, body, content_type=content_type)

    assert response.status_code == 400
    reason = refusal(response).reason
    position = body.index("ë".encode("latin-1"))
    assert reason.startswith(f"The body is not valid UTF-8 (byte 0xEB at position {position})")
    assert 'declare the encoding, e.g. <?xml version="1.0" encoding="ISO-8859-1"?>' in reason


def test_it_reads_a_utf8_message_labelled_iso_8859_1_as_utf8(client):
    workflow = make_workflow()
    body = undeclared(outbound_message(case_fields(Subject="Zoë")), "utf-8")
    response = client.generic("POST", workflow.event_path, body, content_type="text/xml; charset=ISO-8859-1")

    assert is_ack(response)
    assert Notification.objects.get().fields["Subject"] == "Zoë"


def test_it_reads_a_message_with_a_utf8_byte_order_mark_whatever_its_declaration_says(post):
    workflow = make_workflow()
    body = b"\xef\xbb\xbf" + outbound_message(case_fields(Subject="Zoë")).replace(b"UTF-8", b"UTF-16", 1)

    assert is_ack(post(workflow.event_path, body))
    assert Notification.objects.get().fields["Subject"] == "Zoë"


def test_it_refuses_a_utf8_message_declaring_utf16_saying_why(post):
    workflow = make_workflow()
    response = post(workflow.event_path, outbound_message().replace(b"UTF-8", b"UTF-16", 1))

    assert response.status_code == 400
    assert "its XML declaration is written in single bytes, as in UTF-8" in refusal(response).reason


def test_it_removes_the_session_id_from_a_utf16_message(post):
    workflow = make_workflow()
    body = (
        outbound_message().decode().replace('<SessionId xsi:nil="true"/>', "<SessionId>00Dx!secret-session</SessionId>")
    )

    assert is_ack(post(workflow.event_path, utf16(body.encode()), "text/xml"))
    assert "secret-session" not in InboundMessage.objects.get().body


def test_it_refuses_a_notification_id_over_18_characters_and_stores_nothing(post):
    workflow = make_workflow()
    # Equal in their first 18 characters: cut to fit, one of them would have been dropped.
    ids = ["04l5g00000ABCDEAAA1", "04l5g00000ABCDEAAA2"]
    response = post(workflow.event_path, outbound_message(case_fields(), case_fields(), notification_ids=ids))

    assert response.status_code == 400
    assert "Notification 1's Id '04l5g00000ABCDEAAA1' is not a Salesforce id" in refusal(response).reason
    assert not Notification.objects.exists()
    assert not Run.objects.exists()


def test_it_refuses_an_sobject_nested_5000_deep_with_a_logged_reason(post):
    workflow = make_workflow()
    deep = "<sf:X>" * 5000 + "</sf:X>" * 5000
    body = outbound_message().decode().replace("</sObject>", f"{deep}</sObject>").encode()
    response = post(workflow.event_path, body)

    assert response.status_code == 400
    assert "nests elements more than 10 levels deep" in refusal(response).reason


def test_it_logs_a_refused_token_that_holds_a_nul_byte(client):
    response = client.post("/events/salesforce/ab%00cd/", outbound_message(), content_type="text/xml")

    assert response.status_code == 404
    assert refusal(response).token_hint == "ab\ufffdcd"


@pytest.mark.parametrize(
    "body, reason",
    [
        (gzip.compress(outbound_message()), "The body is gzip-compressed"),
        (b"\x00\x01binary\x00junk\xff", "The body is not well-formed XML"),
        (b"", "The request has no body"),
    ],
)
def test_it_logs_a_refused_body_whatever_its_bytes(post, body, reason):
    workflow = make_workflow()
    response = post(workflow.event_path, body, content_type="application/octet-stream")

    assert response.status_code == 400
    logged = refusal(response)
    assert logged.reason.startswith(reason)
    assert logged.body_size == len(body)
    assert "\x00" not in logged.body


@pytest.mark.parametrize("encoding", ["rot13", "base64", "punycode", "undefined"])
def test_it_refuses_a_declared_codec_that_cannot_read_the_body_with_a_logged_400(post, encoding):
    workflow = make_workflow()
    body = outbound_message().replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode(), 1)
    response = post(workflow.event_path, body)

    assert response.status_code == 400
    assert encoding in refusal(response).reason
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"<" + b"a" * 100_000 + b"/>",
        b'<a xmlns="urn:' + b"n" * 100_000 + b'"/>',
        outbound_message(case_fields(), sobject_type="X" * 100_000),
    ],
)
def test_it_quotes_at_most_a_few_dozen_characters_of_a_name_in_a_refusal(post, body):
    workflow = make_workflow()
    response = post(workflow.event_path, body)

    assert response.status_code == 400
    assert len(refusal(response).reason) < 400
    assert len(response.content) < 1000


def test_it_accepts_the_event_url_without_its_trailing_slash(post):
    workflow = make_workflow()

    assert is_ack(post(workflow.event_path.rstrip("/"), outbound_message()))
    assert Run.objects.filter(workflow=workflow).count() == 1


@pytest.mark.parametrize("path", ["/events/salesforce/", "/events/salesforce", "/events/salesforce/a/b/"])
def test_it_answers_a_logged_404_fault_to_a_path_without_a_workflow_token(post, path):
    make_workflow()
    response = post(path, outbound_message())

    assert response.status_code == 404
    assert "No workflow has this event URL" in refusal(response).reason


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch", "options"])
def test_it_answers_other_methods_405_with_an_allow_header(client, method):
    workflow = make_workflow()
    response = getattr(client, method)(workflow.event_path)

    assert (response.status_code, response["Allow"]) == (405, "POST")
    assert refusal(response).reason.startswith(f"{method.upper()} is not accepted")


@pytest.mark.parametrize(
    ("remote_addr", "logged"),
    [
        ("fe80::1%eth0", "fe80::1"),  # gunicorn names a link-local IPv6 peer with its zone
        ("203.0.113.7", "203.0.113.7"),
        ("unix:/run/gunicorn.sock", None),
        ("203.0.113.7, 10.0.0.1", None),  # a proxy header copied into REMOTE_ADDR
    ],
)
def test_it_acks_and_logs_whatever_address_the_server_gives_for_the_caller(client, remote_addr, logged):
    workflow = make_workflow()
    response = client.post(workflow.event_path, outbound_message(), content_type="text/xml", REMOTE_ADDR=remote_addr)

    assert is_ack(response)
    assert InboundMessage.objects.get().remote_addr == logged


def test_it_answers_the_refusal_when_it_cannot_be_logged(monkeypatch, post):
    from workflows.services import ingest

    def broken_scrub(body):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ingest, "body_without_session_id", broken_scrub)
    workflow = make_workflow()
    response = post(workflow.event_path, b"<not-soap/>")

    assert response.status_code == 400
    assert "The body is not a SOAP 1.1 envelope" in fault_string(response)
    assert not InboundMessage.objects.exists()


def test_it_answers_503_and_logs_it_when_an_unexpected_error_escapes(monkeypatch, post):
    from workflows.services import ingest

    def broken_store(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ingest, "_store", broken_store)
    workflow = make_workflow()
    response = post(workflow.event_path, outbound_message())

    assert response.status_code == 503
    assert "retry later" in refusal(response).reason


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_when_the_connection_is_lost_inside_the_store(postgres_only, monkeypatch, post):
    """The ingest statement runs on a raw psycopg cursor: its errors must become the contract's 503."""
    import psycopg

    from workflows.services import inbound_store

    workflow = make_workflow()
    store = inbound_store.inbound_store

    def store_after_losing_the_connection(**kwargs):
        # The server ends this session, as a failover or pg_terminate_backend does.
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
        return store(**kwargs)

    monkeypatch.setattr("workflows.services.ingest.inbound_store", store_after_losing_the_connection)
    response = post(workflow.event_path, outbound_message())

    assert response.status_code == 503
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert "database could not store the message" in fault_string(response)
    # The refusal is logged on a new connection; the message itself left nothing behind.
    assert refusal(response).workflow == workflow
    assert not Notification.objects.exists()


@pytest.mark.parametrize(("bound", "sent"), [("case", "Case"), ("Case", "CASE")])
def test_it_takes_records_of_its_object_whatever_the_case_of_the_object_name(post, bound, sent):
    # Salesforce API names are case-insensitive: an admin who typed "case" bound the workflow to Case.
    workflow = make_workflow(salesforce_object=bound)

    assert is_ack(post(workflow.event_path, outbound_message(case_fields(), sobject_type=sent)))
    assert Run.objects.filter(workflow=workflow).count() == 1


def test_it_still_refuses_records_of_another_object(post):
    workflow = make_workflow(salesforce_object="Case")
    response = post(workflow.event_path, outbound_message(case_fields(), sobject_type="CaseComment"))

    assert response.status_code == 400
    assert "carries CaseComment" in refusal(response).reason


@pytest.mark.parametrize("organization_id", ["0015g000004ABCDEAA", "00d5g000004ABCD"])
def test_it_refuses_an_organization_id_that_is_not_an_organizations_with_a_400(post, organization_id):
    workflow = make_workflow()  # allowing any organization
    response = post(workflow.event_path, outbound_message(organization_id=organization_id))

    assert response.status_code == 400
    assert "is not an organization id: those start with 00D" in refusal(response).reason
    assert not Notification.objects.exists()


@pytest.mark.parametrize("organization_id", ["0015g000004ABCDEAA", "00d5g000004ABCD", "00D5g000004ZZZZ"])
def test_a_workflow_with_allowed_organizations_refuses_any_other_as_not_allowed(post, organization_id):
    workflow = make_workflow(allowed_organization_ids="00D5g000004ABCD")
    response = post(workflow.event_path, outbound_message(organization_id=organization_id))

    assert response.status_code == 403
    assert "is not allowed to call workflow" in refusal(response).reason
    assert not Notification.objects.exists()


def test_it_acks_an_18_character_organization_id_written_in_lowercase_for_its_allowed_organization(post):
    workflow = make_workflow(allowed_organization_ids="00D5g000004ABCD")

    assert is_ack(post(workflow.event_path, outbound_message(organization_id="00d5g000004abcdea4")))
    assert Run.objects.filter(workflow=workflow).count() == 1


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            "<sf:Subject>A</sf:Subject>",
            "<sf:Subject>A</sf:Subject><sf:Subject>B</sf:Subject>",
            "holds the field Subject twice",
        ),
        ("<sf:Subject>A</sf:Subject>", "<sf:Subject>A <sf:b>B</sf:b> C</sf:Subject>", "holds both text and elements"),
        ("</sObject>", '</sObject><sObject xsi:type="sf:Case"></sObject>', "has 2 sObject elements"),
    ],
)
def test_it_refuses_a_message_whose_parts_it_would_otherwise_drop(post, old, new, reason):
    workflow = make_workflow()
    body = outbound_message(case_fields(Subject="A")).decode().replace(old, new).encode()
    response = post(workflow.event_path, body)

    assert response.status_code == 400
    assert reason in refusal(response).reason
    assert not Run.objects.exists()


@pytest.mark.parametrize("start", [b"\n", b"\r\n  ", b"\xef\xbb\xbf\n"])
def test_it_acks_a_message_with_whitespace_before_its_xml_declaration(post, start):
    # As it already did for every encoding but UTF-8, whose declaration the parser read itself.
    workflow = make_workflow()

    assert is_ack(post(workflow.event_path, start + outbound_message()))
    assert Run.objects.filter(workflow=workflow).count() == 1
