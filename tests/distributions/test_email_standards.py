"""An invitation's email as the SMTP server receives it, checked against the email standards
(RFC 5322, RFC 2045-2047, RFC 2369/8058): the bytes on the wire, parsed with the email package,
whatever the piped Salesforce values hold."""

import email
import re
from email import policy
from email.utils import parsedate_to_datetime

import pytest

from distributions.models import Invitation
from tests.distributions.smtp_server import smtp_server
from tests.factories import (
    case_fields,
    make_distribute_task,
    make_sender_domain,
    make_survey,
    make_workflow,
    outbound_message,
)

pytestmark = pytest.mark.django_db

MAX_LINE = 998  # octets, CRLF not counted (RFC 5322 section 2.1.1)
# The headers an invitation has; a piped value must never add one.
HEADERS = {
    "content-type",
    "mime-version",
    "subject",
    "from",
    "to",
    "reply-to",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
}


@pytest.fixture
def server(settings):
    with smtp_server(settings) as handler:
        yield handler


@pytest.fixture
def send(server, client, django_capture_on_commit_callbacks):
    """Send one invitation of a task whose fields pipe `Store__c` (config: the task's fields),
    as Salesforce's message triggers it; -> the delivery the server received."""

    def send(store="Milan", **config):
        make_sender_domain("example.com")
        survey = make_survey(name="Customer satisfaction")
        workflow = make_workflow(owner=survey.owner)
        make_distribute_task(workflow=workflow, survey=survey, **config)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                workflow.event_path, outbound_message(case_fields(Store__c=store)), content_type="text/xml"
            )
        assert response.status_code == 200
        invitation = Invitation.objects.get()
        assert invitation.status == Invitation.Status.EMAIL_SENT, invitation.status_detail
        [delivery] = server.deliveries
        return delivery

    return send


def received(delivery):
    """The message as a reader parses the bytes (RFC 6532 headers read as UTF-8)."""
    return email.message_from_bytes(delivery.content, policy=policy.default)


def assert_well_formed(delivery):
    """What every invitation on the wire must be, whatever it holds."""
    content = delivery.content
    lines = content.split(b"\r\n")
    assert max(len(line) for line in lines) <= MAX_LINE
    assert b"\r" not in content.replace(b"\r\n", b""), "bare CR"
    assert b"\n" not in content.replace(b"\r\n", b""), "bare LF"
    assert b"\x00" not in content
    head, _, _ = content.partition(b"\r\n\r\n")
    assert head.isascii() or "SMTPUTF8" in " ".join(delivery.message.keys())  # see SMTPUTF8 tests
    message = received(delivery)
    names = {name.lower() for name in message.keys()}
    assert names - {"reply-to", "content-transfer-encoding"} == HEADERS - {"reply-to"}
    assert len(message.get_all("Subject")) == 1 and len(message.get_all("From")) == 1
    assert parsedate_to_datetime(message["Date"]) is not None
    assert re.fullmatch(r"<[!-;=?-~]+@[!-;=?-Z^-~]+>", message["Message-ID"].strip())
    if message.is_multipart():
        assert message.get_content_type() == "multipart/alternative"
        parts = list(message.iter_parts())
        assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    else:
        parts = [message]
        assert message.get_content_type() == "text/plain"
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        cte = part["Content-Transfer-Encoding"]
        raw = part.get_payload(decode=False)
        if cte in (None, "7bit"):
            assert raw.isascii()
        assert not part.defects
    assert not message.defects
    return message


def lines(text):
    """`text` with its line ends as a reader sees them: CRLF, CR and LF alike."""
    return re.sub(r"\r\n|\r", "\n", text).removesuffix("\n")


# --- bodies ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "store",
    [
        "https://example.com/case?id=" + "7" * 2000,
        "ü" * 1500,
        "x" * 600 + "\u2028" + "y" * 600,
        "x" * 600 + "\x85" + "y" * 600,
        "line one\r\n.\r\nline three",
        "line one\n.hidden\nFrom the start",
        "bare\rCR",
        "bare\nLF",
        "trailing space   \nnext",
    ],
)
def test_a_piped_text_body_goes_out_well_formed_and_reads_back(send, store):
    delivery = send(store=store, text_body="Store: ${event://Store__c}\nEnd", html_body="")
    message = assert_well_formed(delivery)
    assert lines(message.get_body(("plain",)).get_content()) == lines(f"Store: {store}\nEnd")


@pytest.mark.parametrize(
    "html_body",
    [
        "<p>" + "<span>x</span>" * 300 + "</p>",
        '<p><a href="https://example.com/' + "a" * 2000 + '">link</a></p>',
        "<p>" + "ü" * 1200 + "</p>",
        "<p>.dot\n.start</p>\n.\nFrom me",
    ],
)
def test_a_long_html_body_goes_out_well_formed_and_reads_back(send, html_body):
    delivery = send(html_body=html_body)
    message = assert_well_formed(delivery)
    assert lines(message.get_body(("html",)).get_content()) == lines(html_body)
