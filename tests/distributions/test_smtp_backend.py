"""The SMTP backend against a real SMTP server on loopback: what goes on the wire for
internationalized addresses (RFC 6531 SMTPUTF8, RFC 6532 headers, IDNA 2008 domains)."""

import email
import re
from email import policy
from email.headerregistry import Address

import pytest
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import sanitize_address

from distributions.channels.smtp import UnsendableAddress, _envelope_recipient
from tests.distributions.smtp_server import smtp_server


def send(**fields):
    message = EmailMultiAlternatives(
        **{"subject": "How did we do?", "body": "Hello", "from_email": "surveys@example.com", **fields}
    )
    return get_connection().send_messages([message])


def received(delivery):
    """The message as an RFC 6532 reader sees it: UTF-8 headers, decoded encoded words. (Parsed from
    text: the bytes parser leaves 8-bit header bytes undecoded.)"""
    return email.message_from_string(delivery.content.decode(), policy=policy.SMTPUTF8)


@pytest.fixture
def server(settings):
    with smtp_server(settings) as handler:
        yield handler


@pytest.fixture
def server_without_smtputf8(settings):
    with smtp_server(settings, smtputf8=False) as handler:
        yield handler


def test_it_sends_a_non_ascii_local_part_as_utf8_with_smtputf8(server):
    assert send(to=["jörg@example.com"]) == 1

    assert server.commands[-1] == "RCPT TO:<jörg@example.com>"
    assert server.commands[0].startswith("MAIL FROM:<surveys@example.com>")
    assert "SMTPUTF8" in server.commands[0].upper().split()
    assert received(server.deliveries[0])["To"] == "jörg@example.com"


def test_it_refuses_before_any_command_when_the_server_does_not_offer_smtputf8(server_without_smtputf8):
    with pytest.raises(UnsendableAddress, match="does not offer SMTPUTF8.*jörg@example.com"):
        send(to=["jörg@example.com"])

    assert server_without_smtputf8.commands == []
    assert server_without_smtputf8.deliveries == []


def test_a_non_ascii_reply_to_alone_makes_it_an_smtputf8_message(server):
    send(to=["ada@example.com"], reply_to=["hélp@example.com"])

    assert "SMTPUTF8" in server.commands[0].upper().split()
    assert received(server.deliveries[0])["Reply-To"] == "hélp@example.com"


def test_it_keeps_display_names_and_both_parts_in_an_smtputf8_message(server):
    sender = Address(display_name='Zoë "Café", Inc.', addr_spec="surveys@example.com")
    message = EmailMultiAlternatives("Wie war's, Jörg?", "Grüße: https://surveys.example.com/s/abc/", str(sender))
    message.to = ["Jörg Müller <jörg@example.com>"]
    message.attach_alternative("<p>Grüße</p>", "text/html")
    get_connection().send_messages([message])

    delivery = server.deliveries[0]
    mail = received(delivery)
    assert (mail["From"].addresses[0].display_name, mail["To"].addresses[0].display_name) == (
        'Zoë "Café", Inc.',
        "Jörg Müller",
    )
    assert mail["Subject"] == "Wie war's, Jörg?"
    assert delivery.message.get_content_type() == "multipart/alternative"
    parts = [
        (part.get_content_type(), part.get_payload(decode=True).decode()) for part in delivery.message.get_payload()
    ]
    assert parts == [("text/plain", "Grüße: https://surveys.example.com/s/abc/"), ("text/html", "<p>Grüße</p>")]


def test_an_address_the_email_package_refuses_is_refused_before_any_command(server):
    # Part of the display name reads as an encoded word holding a line break, which no header may hold.
    sender = "Zoë =?utf-8?q?Care=0D=0ABcc=3A_eve=40evil.example?= <surveys@example.com>"
    with pytest.raises(UnsendableAddress, match="cannot be written in its headers"):
        send(from_email=sender, to=["ada@straße.de"])

    assert server.commands == []


def test_it_writes_a_non_ascii_domain_as_an_idna_2008_a_label(server_without_smtputf8):
    send(to=["ada@straße.de"])

    # IDNA 2003, which Django's backend uses, would turn it into another domain: strasse.de.
    assert server_without_smtputf8.commands[-1] == "RCPT TO:<ada@xn--strae-oqa.de>"
    assert server_without_smtputf8.deliveries[0].message["To"] == "ada@xn--strae-oqa.de"


def test_a_message_with_ascii_addresses_is_sent_without_smtputf8(server):
    send(to=["Ada Lovelace <ada@example.com>"])

    assert "SMTPUTF8" not in server.commands[0].upper().split()
    assert server.commands[-1] == "RCPT TO:<ada@example.com>"


# --- line length (RFC 5322 section 2.1.1) -----------------------------------------------------------

LONG_WORD = "https://example.com/case?id=" + "7" * 1200  # e.g. a piped value with no space to fold at


@pytest.mark.parametrize("to", ["ada@example.com", "ada@straße.de"])
def test_it_sends_a_subject_with_a_word_longer_than_a_line_folded_within_the_limit(server, to):
    sent = send(subject=f"Your case {LONG_WORD}", to=[to])

    [delivery] = server.deliveries
    headers = delivery.content.partition(b"\r\n\r\n")[0]
    assert sent == 1
    assert max(len(line) for line in headers.split(b"\r\n")) <= 998
    assert received(delivery)["Subject"] == f"Your case {LONG_WORD}"
    assert received(delivery).get_content().strip() == "Hello"


# --- 8-bit bodies (RFC 6152) ----------------------------------------------------------------------


def test_a_body_with_8bit_text_is_declared_with_body_8bitmime(server):
    send(body="Grüße", to=["ada@example.com"])

    [delivery] = server.deliveries
    assert b"Content-Transfer-Encoding: 8bit" in delivery.content
    assert "BODY=8BITMIME" in server.commands[0].upper().split()
    assert delivery.message.get_payload(decode=True).decode().strip() == "Grüße"


def test_an_ascii_body_is_sent_without_a_body_parameter(server):
    send(body="Hello", to=["ada@example.com"])

    assert "BODY=8BITMIME" not in server.commands[0].upper().split()


def test_a_server_without_8bitmime_gets_8bit_text_as_quoted_printable(settings):
    with smtp_server(settings, smtputf8=False, eight_bit_mime=False) as server:
        sent = send(body="Grüße", to=["ada@example.com"])

    [delivery] = server.deliveries
    assert sent == 1
    assert delivery.content.isascii()
    assert "BODY=8BITMIME" not in server.commands[0].upper().split()
    assert delivery.message.get_payload(decode=True).decode().strip() == "Grüße"


def test_an_smtputf8_message_with_8bit_text_is_declared_with_body_8bitmime(server):
    send(body="Grüße", to=["jörg@example.com"])

    assert {"SMTPUTF8", "BODY=8BITMIME"} <= set(server.commands[0].upper().split())


@pytest.mark.parametrize("separator", ["\u2028", "\x85", "\x0c", "\x1e"])
def test_a_body_line_longer_than_the_limit_between_unicode_line_separators_is_encoded(server, separator):
    body = "x" * 600 + separator + "y" * 600  # one line on the wire; str.splitlines() sees two

    assert send(body=body, to=["ada@example.com"]) == 1

    [delivery] = server.deliveries
    assert max(len(line) for line in delivery.content.split(b"\r\n")) <= 998
    assert received(delivery).get_content().rstrip("\r\n") == body


def test_a_long_non_ascii_subject_reads_back_as_it_was_given(server):
    subject = 'Workflow "Kundenzufriedenheit nach Fallabschluss (München)": task 2 failed'
    send(subject=subject, to=["ada@example.com"])

    headers = server.deliveries[0].content.partition(b"\r\n\r\n")[0].decode()
    assert received(server.deliveries[0])["Subject"] == subject  # no leading space
    assert all(len(word) <= 75 for word in re.findall(r"=\?\S+?\?[bq]\?\S*?\?=", headers))


def test_a_nul_in_a_body_is_sent_quoted_printable(server):
    send(body="Store: Mi\x00lan", to=["ada@example.com"])

    [delivery] = server.deliveries
    assert b"\x00" not in delivery.content
    assert delivery.message["Content-Transfer-Encoding"] == "quoted-printable"
    assert delivery.message.get_payload(decode=True).rstrip() == b"Store: Mi\x00lan"


def test_a_control_character_in_a_subject_is_not_written_raw(server):
    send(subject="Case\x7f 1026", to=["ada@example.com"])

    headers = server.deliveries[0].content.partition(b"\r\n\r\n")[0]
    assert re.fullmatch(rb"[\x20-\x7e\t]*", headers.replace(b"\r\n", b""))
    assert received(server.deliveries[0])["Subject"] == "Case\x7f 1026"


@pytest.mark.parametrize(
    "address",
    [
        "a@b.com",
        "first.last+tag@example.co.uk",
        "o'brien@example.com",
        "x=y?z{a}|b~c@a-b.example",
        "UPPER@EXAMPLE.COM",
        "x@localhost",
        "a@" + "x" * 63 + ".com",
        "a..b@example.com",
        ".a@example.com",
        '"quoted"@example.com',
        '"two words"@example.com',
        "Ada <ada@example.com>",
        '"Lovelace, Ada" <ada@example.com>',
        "jörg@example.com",
        "a@straße.de",
        "a@exämple.com",
    ],
)
def test_each_recipient_goes_into_the_envelope_as_djangos_sanitize_address_writes_it(address):
    assert _envelope_recipient(address, "utf-8") == sanitize_address(address, "utf-8")
