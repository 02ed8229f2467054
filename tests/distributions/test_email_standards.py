"""An invitation's email as the SMTP server receives it, checked against the email standards
(RFC 5322, RFC 2045-2047, RFC 2369/8058): the bytes on the wire, parsed with the email package,
whatever the piped Salesforce values hold."""

import email
import re
from email import policy
from email.header import decode_header, make_header
from email.utils import parseaddr, parsedate_to_datetime

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
from workflows.models import Workflow

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
    "auto-submitted",
}


@pytest.fixture
def server(settings):
    with smtp_server(settings) as handler:
        yield handler


@pytest.fixture
def send(server, client, django_capture_on_commit_callbacks):
    """Send one invitation of a task whose fields pipe `Store__c` (config: the task's fields),
    as Salesforce's message triggers it; -> the delivery the server received."""

    def send(store="Milan", to="ada@example.com", **config):
        make_sender_domain("example.com")
        survey = make_survey(name="Customer satisfaction")
        workflow = make_workflow(owner=survey.owner)
        make_distribute_task(workflow=workflow, survey=survey, **config)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                workflow.event_path,
                outbound_message(case_fields(Store__c=store, ContactEmail=to)),
                content_type="text/xml",
            )
        assert response.status_code == 200
        invitation = Invitation.objects.get()
        assert invitation.status == Invitation.Status.EMAIL_SENT, invitation.status_detail
        [delivery] = server.deliveries
        return delivery

    return send


def received(delivery, reader_policy=policy.default):
    """The message as a reader parses the bytes, RFC 6532 headers read as UTF-8. (From text: the
    bytes parser leaves 8-bit header bytes undecoded.)"""
    return email.message_from_string(delivery.content.decode().replace("\r\n", "\n"), policy=reader_policy)


def assert_well_formed(delivery):
    """What every invitation on the wire must be, whatever it holds."""
    content = delivery.content
    lines = content.split(b"\r\n")
    assert max(len(line) for line in lines) <= MAX_LINE
    assert b"\r" not in content.replace(b"\r\n", b""), "bare CR"
    assert b"\n" not in content.replace(b"\r\n", b""), "bare LF"
    assert b"\x00" not in content
    head, _, _ = content.partition(b"\r\n\r\n")
    if delivery.rcpt_tos == ["ada@example.com"]:  # UTF-8 headers only with SMTPUTF8
        # RFC 5322 section 2.2: printable ASCII and white space (folded with CRLF) only.
        assert re.fullmatch(rb"[\x20-\x7e\t]*", head.replace(b"\r\n", b"")), head
    message = received(delivery)
    names = {name.lower() for name in message.keys()}
    assert names - {"reply-to", "content-transfer-encoding"} == HEADERS - {"reply-to"}
    assert len(message.get_all("Subject")) == 1 and len(message.get_all("From")) == 1
    assert parsedate_to_datetime(message["Date"]) is not None
    assert re.fullmatch(r"<[!-;=?-~]+@[!-;=?-Z^-~]+>", message["Message-ID"].strip())
    # RFC 2047 section 2: an encoded word is at most 75 characters long.
    assert all(len(word) <= 75 for word in re.findall(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=", head))
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
    # (Python's reader, which does not know RFC 6532, finds a defect in a non-ASCII local part.)
    defects = [(name, value.defects) for name, value in message.items() if value.defects and name != "To"]
    assert not defects
    return message


def test_invitations_are_marked_auto_generated_and_each_has_its_own_message_id(
    send, server, client, django_capture_on_commit_callbacks
):
    first = received(send())
    workflow = Workflow.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(workflow.event_path, outbound_message(case_fields(CaseNumber="00001027")), content_type="text/xml")
    second = received(server.deliveries[1])

    # RFC 3834 section 5: automatic responders (out of office) must not answer it.
    assert first["Auto-Submitted"] == second["Auto-Submitted"] == "auto-generated"
    assert first["Message-ID"] != second["Message-ID"]
    assert {message["Message-ID"] for message in (first, second)} == set(
        Invitation.objects.values_list("message_id", flat=True)
    )


def lines(text):
    """`text` with its line ends as a reader sees them: CRLF, CR and LF alike."""
    return re.sub(r"\r\n|\r", "\n", text).removesuffix("\n")


# --- From display names ------------------------------------------------------------------------------


def rfc2047_display_name(delivery):
    """The From display name as RFC 2047 section 6.2 reads it: the white space between two encoded
    words is not part of the text. (Python 3.11's address parser keeps it, so a long non-ASCII name,
    which takes several encoded words, reads with spaces added.)"""
    raw = re.sub(r"\r?\n(?=[ \t])", "", received(delivery, policy.compat32)["From"])  # unfolded
    if raw.lstrip().startswith('"'):  # a quoted string, in which nothing is encoded
        return parseaddr(raw)[0]
    return str(make_header(decode_header(raw))).rpartition(" <")[0].strip()


@pytest.mark.parametrize(
    "name",
    [
        "Acme, Inc.",
        'Say "hi" to us',
        "Zoë's Café, München",
        "Müller " * 40,
        "x" * 1200,
        "y" * 200,
        "Acme " * 60,
        "ü" * 700,
        "Milan\r\nBcc: eve@evil.example",
        "a\u2028b\x85c\x7fd",
        "Milan\x7fStore",
        "(comment) <x@evil.example>",
        'eve@evil.example" <eve@evil.example>, "x',
        "<eve@evil.example>",
        'Back\\slash "and" quote\\',
        "=?utf-8?q?Evil=0D=0ABcc=3A_eve=40evil.example?=",
    ],
)
@pytest.mark.parametrize("to", ["ada@example.com", "jörg@example.com"])  # the second with SMTPUTF8
def test_a_piped_sender_name_reads_back_as_it_was_given(send, name, to):
    delivery = send(store=name, to=to, from_name="${event://Store__c}")
    message = assert_well_formed(delivery)
    assert (delivery.mail_from, delivery.rcpt_tos) == ("surveys@example.com", [to])
    [address] = message["From"].addresses
    assert address.addr_spec == "surveys@example.com"
    expected = " ".join(name.replace("\x7f", "").split())
    assert rfc2047_display_name(delivery) == expected
    if re.fullmatch(r"[ -~]{0,900}", expected) and "=?" not in expected:  # written as it is, not encoded
        assert address.display_name == expected


# --- Subject -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "store",
    [
        "Zoë's Café, München",
        "Ihrem Fall in unserer Filiale in der Münchner Innenstadt, vergangene Woche",
        "https://example.com/case?id=" + "7" * 1200,
        "ü" * 1200,
        "word " * 1000,
        "Wörter " * 500,
        "Milan\r\nBcc: eve@evil.example",
        "Milan\nX-Injected: 1",
        "a\u2028b\x85c\x7fd",
        "Milan\x7fStore",
        "=?utf-8?q?encoded?= word",
        " leading and trailing ",
    ],
)
@pytest.mark.parametrize("to", ["ada@example.com", "jörg@example.com"])
def test_a_piped_subject_reads_back_on_one_line(send, store, to):
    delivery = send(store=store, to=to, subject="Case at ${event://Store__c}")
    message = assert_well_formed(delivery)
    assert message["Subject"] == "Case at " + " ".join(store.replace("\x7f", "").split())


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
@pytest.mark.parametrize("to", ["ada@example.com", "jörg@example.com"])
def test_a_piped_text_body_goes_out_well_formed_and_reads_back(send, store, to):
    delivery = send(store=store, to=to, text_body="Store: ${event://Store__c}\nEnd", html_body="")
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


# --- cost ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("to", ["ada@example.com", "jörg@example.com"])
def test_an_invitation_has_its_subject_and_bodies_written_once(send, monkeypatch, to):
    """The invitation writes them as they read for any backend that sends its MIME; the SMTP backend,
    which does so for every other message, must not do it a second time (a third of the cost)."""
    from distributions.channels import email as email_channel
    from distributions.channels import smtp

    calls = []
    bodies, encode = smtp.bodies_within_line_limit, smtp.encoded_words
    for module in (smtp, email_channel):  # wherever a message is written
        monkeypatch.setattr(
            module,
            "bodies_within_line_limit",
            lambda message, **kw: calls.append("bodies") or bodies(message, **kw),
            raising=False,
        )
        monkeypatch.setattr(
            module, "encoded_words", lambda header, text: calls.append(header) or encode(header, text), raising=False
        )

    delivery = send(store="Mailänder Straße", to=to, subject="Votre avis : ${event://Store__c}")

    assert assert_well_formed(delivery)["Subject"] == "Votre avis : Mailänder Straße"
    assert sorted(calls) == ["Subject", "bodies"]
