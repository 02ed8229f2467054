"""Django's SMTP backend, sending internationalized addresses the way servers can deliver them.

Django 5.2's `django.core.mail.backends.smtp.EmailBackend` (through `sanitize_address`) gets two
kinds of address wrong, and the server still answers 250, so the send looks successful:

- A non-ASCII local part, `jörg@example.com`, becomes the RFC 2047 encoded word
  `=?utf-8?b?asO2cmc=?=@example.com` in RCPT TO and in the To header. RFC 2047 section 5 forbids
  encoded words in an address: it is nobody's mailbox (Django ticket #35714). Such an address
  can only travel with the SMTPUTF8 extension (RFC 6531): the envelope in UTF-8, and the message
  headers in UTF-8 (RFC 6532).
- A non-ASCII domain is converted with IDNA 2003, which maps `straße.de` to `strasse.de`, another
  domain. IDNA 2008 (RFC 5891), which email-validator checked the address against, gives
  `xn--strae-oqa.de`.

`EmailBackend` fixes both: domains become IDNA 2008 A-labels in the envelope and the headers, and
a message with a non-ASCII local part in From, To, Cc, Bcc or Reply-To is sent with SMTPUTF8 when
the server offers it in its EHLO reply. When it does not, `UnsendableAddress` is raised before any
command of that message is sent, so the caller knows nothing went out and what to do.

It also keeps every header line within RFC 5322's limit of 998 characters (section 2.1.1), which
servers enforce ("500 Line too long"): Django folds a header only at its spaces, so a subject
holding a long unbroken word (a piped value) stayed on one line. Such a message has its headers
folded again, the long words as RFC 2047 encoded words. Its text parts are quoted-printable when a
line on the wire is too long (Django looks for one with `str.splitlines()`, which also breaks at
U+2028 and U+0085, so it missed some). A body with 8-bit text (Django writes UTF-8 as 8bit) is
declared with BODY=8BITMIME (RFC 6152), or sent quoted-printable to a server without 8BITMIME.
A Subject that is not plain printable ASCII is written as encoded words folded after the header's
name (Django's first line held only "Subject: ", so readers saw a leading space).
Other messages go through as Django's backend writes them.
"""

import copy
import email
import functools
import re
import smtplib
from email import policy
from email.generator import BytesGenerator
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.utils import parseaddr
from io import BytesIO

import idna
from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as DjangoEmailBackend
from django.core.mail.message import EmailMessage, sanitize_address, utf8_charset_qp

# The EmailMessage attributes that fill address headers (Bcc fills none), and their headers.
ADDRESS_HEADERS = {"from_email": "From", "to": "To", "cc": "Cc", "reply_to": "Reply-To"}
SMTPUTF8 = "SMTPUTF8"
EIGHT_BIT_MIME = "8BITMIME"
EIGHT_BIT_BODY = "BODY=8BITMIME"
# RFC 6532 headers, CRLF as SMTP's DATA wants; a long header is folded without encoded words.
UTF8_HEADERS = policy.SMTPUTF8.clone(linesep="\r\n")
MAX_LINE_LENGTH = 998  # characters, CRLF not counted (RFC 5322 section 2.1.1)
# Octets: a longer word cannot share a line of MAX_LINE_LENGTH with a header's name and an address,
# so it is written as encoded words, which fold. (A shorter one is left as it is: a reader joins
# encoded words, and Python's address parser puts a space between them.)
MAX_WORD_LENGTH = 900
ENCODED_LINE_LENGTH = 75
# What a header may not hold raw: RFC 5322 section 2.2 allows printable ASCII and white space, and
# RFC 6532 adds UTF-8 (its C1 control characters aside).
NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e\t]")
UNWRITABLE_IN_UTF8 = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# What ends a line in a message on the wire; str.splitlines() also splits at U+2028, U+0085, form feeds...
WIRE_LINE_END = re.compile(rb"\r\n|\r|\n")


class UnsendableAddress(Exception):
    """An address of the message cannot be sent through this server; raised before any SMTP
    command of the message, so nothing was sent. The message says what to do."""


def parse_addresses(value: str) -> tuple[Address, ...]:
    """The mailboxes of one address value (`'Zoë <jörg@exämple.com>, b@example.com'`), as they
    are written: display names decoded, local parts and domains untouched."""
    return policy.default.header_factory("To", value).addresses


def addresses_needing_smtputf8(message: EmailMessage) -> list[str]:
    """The addresses of a message (From, To, Cc, Bcc, Reply-To) whose local part is not ASCII:
    only SMTPUTF8 (RFC 6531) can carry them. -> addr-specs, e.g. ['jörg@example.com']"""
    return [
        address.addr_spec
        for value in _address_values(message)
        if not value.isascii()
        for address in parse_addresses(value)
        if not address.username.isascii()
    ]


def ascii_domain(domain: str) -> str:
    """A domain as DNS and SMTP without SMTPUTF8 need it: IDNA 2008 A-labels (RFC 5891) with UTS #46
    mapping, as email-validator and django-anymail encode it. Raises UnsendableAddress if IDNA 2008
    cannot encode it."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise UnsendableAddress(
            f"The domain {domain} cannot be written in DNS form (IDNA 2008: {error}): correct the address."
        ) from None


class EmailBackend(DjangoEmailBackend):
    """`django.core.mail.backends.smtp.EmailBackend` (same settings) that sends non-ASCII local
    parts with SMTPUTF8 (RFC 6531/6532) and non-ASCII domains as IDNA 2008 A-labels.

    Raises UnsendableAddress (unless fail_silently) when a message needs SMTPUTF8 and the server
    does not offer it, or a domain has no IDNA 2008 form; nothing of that message was sent.
    """

    def _send(self, email_message: EmailMessage) -> bool:
        if not email_message.recipients():
            return False
        try:
            if _ascii_addresses_only(email_message):
                return self._send_ascii(email_message)
            ascii_domains = _with_ascii_domains(email_message)
            international = addresses_needing_smtputf8(email_message)
            if not international:
                return self._send_ascii(ascii_domains)
            self._require_smtputf8(international)
        except ValueError as error:  # the email package's refusal of an address
            if not self.fail_silently:
                raise _unwritable(error) from None
            return False
        except (UnsendableAddress, smtplib.SMTPException):
            if not self.fail_silently:
                raise
            return False
        return self._send_smtputf8(ascii_domains)

    def _send_ascii(self, email_message: EmailMessage) -> bool:
        """Django's `_send`, with every header line within MAX_LINE_LENGTH."""
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        try:
            envelope_from = _envelope_from(email_message.from_email, encoding)
            recipients = [_envelope_recipient(address, encoding) for address in email_message.recipients()]
            message = _message(email_message)
            content = _headers_within_line_limit(message.as_bytes(linesep="\r\n"))
        except ValueError as error:  # the email package's refusal of an address
            if not self.fail_silently:
                raise _unwritable(error) from None
            return False
        try:
            body_options = self._body_options(content)
            if body_options is None:  # 8-bit text the server cannot take: sent as quoted-printable
                bodies_within_line_limit(message, seven_bit=True)
                content, body_options = _headers_within_line_limit(message.as_bytes(linesep="\r\n")), []
            self.connection.sendmail(envelope_from, recipients, content, mail_options=body_options)
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True

    def _body_options(self, content: bytes) -> list[str] | None:
        """The MAIL parameters that declare the message's body (RFC 6152): BODY=8BITMIME when it
        has 8-bit octets (Django writes UTF-8 text as 8bit) and the server offers 8BITMIME; None
        when it has them and the server does not, which then may only be sent 7-bit."""
        if content.isascii():
            return []
        self.connection.ehlo_or_helo_if_needed()
        return [EIGHT_BIT_BODY] if self.connection.has_extn(EIGHT_BIT_MIME) else None

    def _require_smtputf8(self, addresses: list[str]) -> None:
        self.connection.ehlo_or_helo_if_needed()
        if not self.connection.has_extn(SMTPUTF8):
            raise UnsendableAddress(
                f"The mail server {self.host}:{self.port} does not offer SMTPUTF8 (RFC 6531), which "
                f"{', '.join(addresses)} needs: its part before the @ has non-ASCII characters. Send through "
                "a mail server that offers SMTPUTF8, or correct the address."
            )

    def _send_smtputf8(self, email_message: EmailMessage) -> bool:
        try:
            envelope_from, recipients, content = _smtputf8_message(email_message)
        except ValueError as error:  # the email package's refusal of an address
            if not self.fail_silently:
                raise _unwritable(error) from None
            return False
        try:
            # smtplib sends MAIL FROM with the SMTPUTF8 parameter and the commands in UTF-8.
            # RFC 6531 section 3.1: a server offering SMTPUTF8 offers 8BITMIME too.
            mail_options = [SMTPUTF8, *(self._body_options(content) or [])]
            self.connection.sendmail(envelope_from, recipients, content, mail_options=mail_options)
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True


def needs_encoded_words(text: str, *, utf8: bool = False) -> bool:
    """Whether a header text must be written as RFC 2047 encoded words to read as it is: a
    character no header may hold raw (non-ASCII, unless `utf8` (RFC 6532); a control character such
    as DEL), a word no line can hold, or text a reader would take for an encoded word
    ("=?utf-8?q?...?=")."""
    return (
        (UNWRITABLE_IN_UTF8 if utf8 else NOT_PRINTABLE_ASCII).search(text) is not None
        or "=?" in text
        or any(len(word.encode()) > MAX_WORD_LENGTH for word in text.split())
    )


def encoded_words(header: str, text: str) -> str:
    """`text` as RFC 2047 encoded words, folded after `header`'s name.

    Django encodes a non-ASCII Subject or display name without counting the header's name, so its
    first line held only `Subject: ` and a reader saw a leading space; an ASCII one it leaves as it
    is, even when it reads as an encoded word or holds a word longer than a line (998 octets).
    """
    # Lines of at most 75 characters keep each encoded word within RFC 2047's 75 (section 2); the
    # email package's default, 78, writes words of up to 77.
    return Header(text, "utf-8", header_name=header).encode(maxlinelen=ENCODED_LINE_LENGTH)


def bodies_within_line_limit(message: Message, *, seven_bit: bool = False) -> None:
    """Write each text part of `message` (Django's) as quoted-printable if a line of it is longer
    than RFC 5322 allows or it holds a NUL, or, with `seven_bit`, if it is not ASCII.

    Django does so for a line of `str.splitlines()` longer than 998 octets, but that also breaks at
    U+2028, U+0085 and form feeds, which end no line on the wire: such a body went out as 8bit with
    a longer line, which servers refuse ("500 Line too long").
    """
    for part in message.walk():
        if part.get_content_maintype() == "text" and part.get("Content-Transfer-Encoding") in ("7bit", "8bit"):
            _encode_long_lines(part, seven_bit=seven_bit)


def _encode_long_lines(part: Message, *, seven_bit: bool) -> None:
    # Not transfer-encoded: the text itself, or its bytes as surrogate escapes.
    raw = part.get_payload().encode(errors="surrogateescape")
    if (
        (raw.isascii() or not seven_bit)
        and b"\x00" not in raw  # RFC 2045 section 2.7/2.8: 7bit and 8bit data hold no NUL
        and all(len(line) <= MAX_LINE_LENGTH for line in WIRE_LINE_END.split(raw))
    ):
        return
    text = raw.decode(part.get_content_charset() or "utf-8")
    del part["Content-Transfer-Encoding"]
    part.set_payload(text, charset=utf8_charset_qp)


def _unwritable(error: ValueError) -> UnsendableAddress:
    """The email package's refusal of an address (raised before any SMTP command of the message),
    as the error that says nothing was sent."""
    return UnsendableAddress(f"An address of the message cannot be written in its headers ({error}): correct it.")


class WrittenAsRead:
    """A mixin for an EmailMessage whose message() writes its Subject as it reads (see
    encoded_words) and its text parts within the line limit, for whichever backend sends its MIME.
    This backend, which does so for every other message, then does not do it a second time: a
    second pass cost a third of writing an invitation."""

    def message(self, *args, **kwargs):
        message = super().message(*args, **kwargs)
        _write_as_read(message, str(self.subject))
        return message


def _write_as_read(message: Message, subject: str) -> None:
    if "Subject" in message and needs_encoded_words(subject):
        message.replace_header("Subject", encoded_words("Subject", subject))
    bodies_within_line_limit(message)


def _message(email_message: EmailMessage) -> Message:
    """Django's message, its Subject written as it reads (see encoded_words) and its text parts
    within the line limit."""
    message = email_message.message()
    if not isinstance(email_message, WrittenAsRead):
        _write_as_read(message, str(email_message.subject))
    return message


def _smtputf8_message(email_message: EmailMessage) -> tuple[str, list[str], bytes]:
    """MAIL FROM, RCPT TO and the content of a message sent with SMTPUTF8."""
    message = _message(email_message)
    # Django wrote the local parts as encoded words: put the addresses back as they are (RFC 6532).
    # A header of ASCII addresses stays as Django wrote it.
    for field, header in ADDRESS_HEADERS.items():
        values = _header_values(email_message, field, header)
        if values and header in message and not all(value.isascii() for value in values):
            message.replace_header(header, _utf8_mailboxes(values, header))
    # The address alone, as for _envelope_from.
    envelope_from = _addr_specs([parseaddr(email_message.from_email)[1]])[0]
    recipients = _addr_specs(email_message.recipients())
    content = BytesIO()
    BytesGenerator(content, mangle_from_=False, policy=UTF8_HEADERS).flatten(message)
    return envelope_from, recipients, content.getvalue()


@functools.lru_cache(maxsize=64)
def _envelope_from(from_email: str, encoding: str) -> str:
    """The sender's address for MAIL FROM. The same sender for a whole batch of invitations: parsed
    once, not per message. Without the display name, which sanitize_address would decode as RFC 2047
    encoded words: a piped name that reads as one ("=?utf-8?q?a=0D=0Ab?=") would hold a line break."""
    return sanitize_address(("", parseaddr(from_email)[1]), encoding)


# A bare ASCII address whose local part is a dot-atom (RFC 5322 section 3.2.3) and whose domain
# is LDH labels: sanitize_address gives it back unchanged, after parsing it with the email
# package's header parser (the costliest step of a message's envelope). Anything else is parsed.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
)


def _envelope_recipient(address: str, encoding: str) -> str:
    """`sanitize_address(address, encoding)`, without parsing an address it would give back as it is."""
    if isinstance(address, str) and _PLAIN_ADDRESS.fullmatch(address):
        return address
    return sanitize_address(address, encoding)


def _headers_within_line_limit(content: bytes) -> bytes:
    """`content` (a message, CRLF line ends), with its headers folded again if a line is too long."""
    headers = content.partition(b"\r\n\r\n")[0]
    if all(len(line) <= MAX_LINE_LENGTH for line in headers.split(b"\r\n")):
        return content
    return email.message_from_bytes(content, policy=policy.SMTP).as_bytes()


def _ascii_addresses_only(message: EmailMessage) -> bool:
    return all(
        address.username.isascii() and address.domain.isascii()
        for value in _address_values(message)
        if not value.isascii()  # only a non-ASCII display name, which Django encodes right
        for address in parse_addresses(value)
    )


def _address_values(message: EmailMessage) -> list[str]:
    return [str(value) for value in [message.from_email, *message.to, *message.cc, *message.bcc, *message.reply_to]]


def _header_values(message: EmailMessage, field: str, header: str) -> list[str]:
    """The values Django's EmailMessage.message() writes into `header`: an extra header of that
    name wins over the attribute, as it does there."""
    if header in message.extra_headers:
        return [str(message.extra_headers[header])]
    value = getattr(message, field)
    return [str(value)] if isinstance(value, str) else [str(item) for item in value]


def _with_ascii_domains(message: EmailMessage) -> EmailMessage:
    converted = copy.copy(message)
    converted.from_email = _with_ascii_domain(message.from_email)
    for field in ("to", "cc", "bcc", "reply_to"):
        setattr(converted, field, [_with_ascii_domain(value) for value in getattr(message, field)])
    return converted


def _with_ascii_domain(value: str) -> str:
    # An ASCII value has nothing to convert, and is not parsed: the parser would decode a display
    # name written like an encoded word, which Django then writes as it was decoded.
    return value if value.isascii() else ", ".join(_addresses([value]))


def _addresses(values: list[str]) -> list[str]:
    return [
        str(Address(display_name=address.display_name, username=address.username, domain=ascii_domain(address.domain)))
        for value in values
        for address in parse_addresses(value)
    ]


def _utf8_mailboxes(values: list[str], header: str) -> str:
    """An address header's value in an SMTPUTF8 message: the addr-specs in UTF-8 (RFC 6532), a
    display name as it is, or as encoded words where needs_encoded_words() says so (a long word in
    UTF-8 could not be folded). Encoded words are folded here, one mailbox a line, so that the
    policy, which would decode them to fold them again, finds no line too long."""
    mailboxes = []
    for value in values:
        for address in parse_addresses(value):
            mailbox = Address(address.display_name, address.username, ascii_domain(address.domain))
            if mailbox.display_name and needs_encoded_words(mailbox.display_name, utf8=True):
                mailboxes.append(f"{encoded_words(header, mailbox.display_name)}\n <{mailbox.addr_spec}>")
            else:
                mailboxes.append(str(mailbox))
    return ",\n ".join(mailboxes)


def _addr_specs(values: list[str]) -> list[str]:
    return [
        Address(username=address.username, domain=ascii_domain(address.domain)).addr_spec
        for value in values
        for address in parse_addresses(value)
    ]
