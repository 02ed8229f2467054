"""The email channel: an invitation's message, and one hand-off of it to Django's email backend.

Any backend works (SMTP, django-anymail, the local outbox); what the backend raised decides
whether sending again could duplicate the message:

- ACCEPTED:  the backend returned without error.
- TEMPORARY: the connection could not be opened (to the server or the ESP's API), or the server
             answered 4xx (or the ESP 408/429/503, with the Retry-After it asked for): nothing was
             accepted, so a later attempt is safe.
- PERMANENT: the server answered 5xx, the ESP refused the recipient or the request (also when
             anymail returned without raising: an error answer it could not read, or a recipient
             status of rejected, invalid or failed, see `_esp_refusal`), the message
             could not be built, or an address cannot travel through this backend or server (a
             non-ASCII local part without SMTPUTF8, see channels/smtp.py): nothing was accepted,
             and a retry would fail the same way.
- UNCERTAIN: the connection broke while the message was on its way, or an unknown error: the
             server may have accepted it, so it is never sent again (it becomes Email Failed with
             "possibly sent").
"""

import functools
import hashlib
import logging
import secrets
import smtplib
import time
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import Address
from email.utils import parseaddr
from enum import StrEnum

from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.db import DatabaseError
from django.utils.http import parse_http_date_safe
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ConnectTimeout
from urllib3.exceptions import MaxRetryError, NewConnectionError

from distributions.channels.smtp import EmailBackend as SMTPBackend
from distributions.channels.smtp import (
    UnsendableAddress,
    WrittenAsRead,
    addresses_needing_smtputf8,
    ascii_domain,
    encoded_words,
    needs_encoded_words,
)
from distributions.models import Invitation
from distributions.services.tracking import message_tag_for_tracking

logger = logging.getLogger(__name__)

# HTTP statuses an ESP answers when it did not take the message and asks to come back later
# (408: it did not receive the whole request in time).
RETRY_LATER_STATUSES = {408, 429, 503}
# Raised before anything left for the server or the ESP: the message, as it is, can never be sent.
# (anymail raises the first three while building the ESP's API request; smtplib raises
# SMTPNotSupportedError before the command that would need the missing extension.)
NEVER_SENT_ERRORS = (
    AnymailInvalidAddress,
    AnymailUnsupportedFeature,
    AnymailSerializationError,
    UnsendableAddress,
    smtplib.SMTPNotSupportedError,
)
# RFC 3834 section 5: sent by a process, not a person, so out-of-office and other automatic
# responders do not answer it (to the Reply-To, which people read).
AUTO_GENERATED = "auto-generated"
# The one-click unsubscribe body a mailbox provider POSTs to the List-Unsubscribe URL (RFC 8058 section 3.1).
ONE_CLICK_UNSUBSCRIBE = "List-Unsubscribe=One-Click"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"
    UNCERTAIN = "uncertain"


# anymail recipient statuses that mean the ESP will not deliver to that recipient.
REFUSED_RECIPIENT_STATUSES = {"rejected", "invalid", "failed"}


@dataclass(frozen=True)
class HandOff:
    outcome: Outcome
    detail: str = ""
    # TEMPORARY only: how long the ESP asked us to wait (its Retry-After), if it said.
    retry_after: timedelta | None = None
    # ACCEPTED through an ESP: its name and its id of the message (anymail_status.message_id),
    # which some ESPs' tracking events report instead of our Message-ID (Postal, MailerSend).
    esp_name: str = ""
    esp_message_id: str = ""


def invitation_message_id(*, token: str, from_email: str) -> str:
    """The Message-ID of an invitation's email: the same on every attempt, so an ESP that
    deduplicates on it drops a resend. A digest of the token, not the token itself: mail logs
    record Message-IDs, and the token opens the survey. The From domain in its DNS form (an
    IDNA A-label): a Message-ID is ASCII (RFC 5322 section 3.6.4).
    -> e.g. '<invitation-0f3c…@example.com>'"""
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    domain = from_email.rpartition("@")[2] or "localhost"
    return f"<invitation-{digest}@{ascii_domain(domain)}>"


class _InvitationEmail(WrittenAsRead, EmailMultiAlternatives):
    """An EmailMultiAlternatives whose multipart boundary is chosen before the message is written,
    and whose piped texts (Subject, the From name, the bodies) are written as they read.

    Left unset, the email package makes one while writing the message and checks it against the
    parts with a regular expression compiled afresh for every message (the boundary is random,
    so Python's cache never holds it): the most costly step of writing an invitation.
    """

    sender_name = ""  # the From display name, as given

    def message(self, *args, **kwargs):
        message = super().message(*args, **kwargs)  # Subject and bodies as they read (WrittenAsRead)
        if self.sender_name and needs_encoded_words(self.sender_name):
            address = parseaddr(message["From"])[1]  # as Django wrote it: the domain in DNS form
            message.replace_header("From", f"{encoded_words('From', self.sender_name)} <{address}>")
        if message.is_multipart():
            boundary = f"==============={secrets.token_hex(16)}=="
            # RFC 2046 section 5.1.1: the boundary must occur in none of the parts.
            if not any(boundary in str(part.get_payload()) for part in message.walk() if not part.is_multipart()):
                message.set_boundary(boundary)
        return message


def invitation_email(*, invitation: Invitation, opt_out_url: str) -> EmailMultiAlternatives:
    """The invitation's email, addresses as they are written (the backend encodes them).

    Unsubscribing: `List-Unsubscribe` (RFC 2369) carries the invitation's opt-out URL, and
    `List-Unsubscribe-Post` (RFC 8058) tells mailbox providers that a POST of
    `List-Unsubscribe=One-Click` to it unsubscribes at once, with no page to visit: large
    mailbox providers require both of bulk senders. RFC 8058 section 4 also asks for the two
    headers to be covered by the DKIM signature, which the sending ESP or MTA adds.

    `Auto-Submitted: auto-generated` (RFC 3834): a workflow sends it, so automatic responders
    leave it unanswered.
    """
    distribution = invitation.distribution
    message = _InvitationEmail(
        subject=invitation.subject,
        body=invitation.text_body,
        from_email=_mailbox(distribution.from_name, distribution.from_email),
        to=[invitation.address],
        reply_to=[distribution.reply_to] if distribution.reply_to else None,
        headers={
            "Message-ID": invitation.message_id,
            "List-Unsubscribe": f"<{opt_out_url}>",
            "List-Unsubscribe-Post": ONE_CLICK_UNSUBSCRIBE,
            "Auto-Submitted": AUTO_GENERATED,
        },
    )
    if distribution.from_email:
        message.sender_name = distribution.from_name
    if invitation.html_body:
        message.attach_alternative(invitation.html_body, "text/html")
    return message


# The same sender for every invitation of a distribution: parsed once, not per message.
@functools.lru_cache(maxsize=256)
def _mailbox(name: str, address: str) -> str | None:
    """`"Acme, Inc." <surveys@example.com>`, as written: Address quotes a name with specials; not
    formataddr, which encodes a non-ASCII name (for the outbox to show, for an ESP to encode once
    more) and refuses a non-ASCII address. None without an address: DEFAULT_FROM_EMAIL."""
    return str(Address(display_name=name, addr_spec=address)) if address else None


def email_hand_off(
    *, message: EmailMultiAlternatives, connection: BaseEmailBackend, probe_session: bool = True
) -> HandOff:
    """Give one message to the backend (opening its connection if needed), classify the result.

    The connection stays open for the caller's next message; close it after a failure, whose
    server may have dropped it. `probe_session=False` skips checking that an open session is still
    alive, for a caller that used it a moment ago.
    """
    try:
        international = _encodes_local_parts(connection) and addresses_needing_smtputf8(message)
    except ValueError as error:  # the email package's refusal of an address: nothing was sent
        return HandOff(Outcome.PERMANENT, f"An address of the message cannot be written in its headers ({error}).")
    if international:
        return HandOff(
            Outcome.PERMANENT,
            f"{', '.join(international)} has non-ASCII characters before the @, which "
            f"{type(connection).__module__}.{type(connection).__qualname__} would send encoded (RFC 2047) "
            "where no server can deliver it: set EMAIL_BACKEND=distributions.channels.smtp.EmailBackend, "
            "which sends it with SMTPUTF8 (RFC 6531) when the mail server offers it.",
        )
    esp_name = getattr(connection, "esp_name", None)
    if esp_name:
        message_tag_for_tracking(message=message, esp_name=esp_name)
    if probe_session:
        _drop_dead_session(connection)
    try:
        connection.open()
    except Exception as error:  # nothing was sent: we never got a session
        return HandOff(Outcome.TEMPORARY, f"could not connect to the mail server: {_describe(error)}")
    try:
        sent = connection.send_messages([message])
    except Exception as error:
        return _classify(error)
    if not sent:
        return HandOff(Outcome.PERMANENT, "the email backend sent nothing and reported no error")
    return _esp_refusal(message) or HandOff(
        Outcome.ACCEPTED, esp_name=esp_name or "", esp_message_id=_esp_message_id(message)
    )


def _esp_message_id(message: EmailMultiAlternatives) -> str:
    """The ESP's id of the message it accepted, or "" (not an anymail backend, or none given)."""
    message_id = getattr(getattr(message, "anymail_status", None), "message_id", None)
    return "" if message_id is None else str(message_id).strip()  # Postal's ids are numbers


def _esp_refusal(message: EmailMultiAlternatives) -> HandOff | None:
    """What an ESP refused although anymail returned without raising, or None.

    anymail raises only when every recipient is "rejected" or "invalid", and not at all with
    ANYMAIL_IGNORE_RECIPIENT_STATUS. It returns normally when the ESP answered an HTTP error whose
    text it could not read (Postmark's 422 "inactive recipient" without the addresses it parses:
    status "unknown") and for a recipient "failed" (Mailtrap). An invitation has one recipient:
    refused, or an error answer, means nothing will be delivered, and sending it again would be
    refused the same way.
    """
    status = getattr(message, "anymail_status", None)
    if status is None:  # not an anymail backend
        return None
    response = getattr(status, "esp_response", None)
    http_status = getattr(response, "status_code", None)
    recipients = getattr(status, "recipients", None) or {}
    refused = {
        email: recipient.status
        for email, recipient in recipients.items()
        if recipient.status in REFUSED_RECIPIENT_STATUSES
    }
    if http_status is not None and http_status >= 400:
        return HandOff(Outcome.PERMANENT, f"the ESP refused the message: HTTP {http_status}: {_esp_text(response)}")
    if recipients and len(refused) == len(recipients):
        described = ", ".join(f"{email} {state}" for email, state in refused.items())
        answer = f": {_esp_text(response)}" if _esp_text(response) else ""
        return HandOff(Outcome.PERMANENT, f"the ESP refused the recipient ({described}){answer}")
    return None


def _esp_text(response) -> str:
    """The ESP's answer as text, cut to a readable length (it names the reason)."""
    try:
        text = response.text
    except Exception:  # no response, or one that cannot be decoded
        return ""
    return " ".join(str(text).split())[:500]


def _encodes_local_parts(connection: BaseEmailBackend) -> bool:
    """Whether the backend writes a non-ASCII local part as an RFC 2047 encoded word (Django's
    SMTP backend, Django ticket #35714), an address nobody receives mail at."""
    return isinstance(connection, DjangoSMTPBackend) and not isinstance(connection, SMTPBackend)


def _drop_dead_session(connection: BaseEmailBackend) -> None:
    """Close a reused SMTP session the server has dropped (idle timeout, message limit), so the next
    message opens a new one instead of failing mid-send, where its fate would be uncertain."""
    session = getattr(connection, "connection", None)
    if not isinstance(session, smtplib.SMTP):
        return
    try:
        alive = session.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        alive = False
    if not alive:
        try:
            connection.close()
        except (smtplib.SMTPException, OSError):
            connection.connection = None


def _classify(error: Exception) -> HandOff:
    described = _describe(error)
    if isinstance(error, NEVER_SENT_ERRORS):
        return HandOff(Outcome.PERMANENT, described)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, _reply = next(iter(error.recipients.values()), (None, b""))
        return _by_smtp_code(code, f"the mail server refused the recipient: {described}")
    if isinstance(error, smtplib.SMTPResponseException):  # sender or message refused, with a reply code
        return _by_smtp_code(error.smtp_code, f"the mail server refused the message: {described}")
    if isinstance(error, AnymailRecipientsRefused | BadHeaderError):
        return HandOff(Outcome.PERMANENT, described)
    if isinstance(error, AnymailAPIError) and _never_connected(error):
        return HandOff(Outcome.TEMPORARY, f"could not connect to the ESP: {described}")
    if isinstance(error, AnymailAPIError) and error.status_code is not None:
        if error.status_code in RETRY_LATER_STATUSES:
            return HandOff(Outcome.TEMPORARY, described, retry_after=_retry_after(error.response))
        if 400 <= error.status_code < 500:
            return HandOff(Outcome.PERMANENT, described)
    if isinstance(error, DatabaseError):  # the outbox backend: an insert that failed stored nothing
        return HandOff(Outcome.TEMPORARY, described)
    if not isinstance(error, smtplib.SMTPException | OSError | AnymailError):
        logger.exception("Unexpected error from the email backend")
    return HandOff(Outcome.UNCERTAIN, f"the connection failed while sending, so it may have been sent: {described}")


def _never_connected(error: AnymailAPIError) -> bool:
    """Whether anymail's error comes from requests failing to open a connection to the ESP (refused,
    no DNS answer, connect timeout): the request never left, so sending again is safe. Other
    connection errors (reset, remote disconnect) may come after the request was sent."""
    cause = error.__cause__
    if isinstance(cause, ConnectTimeout):
        return True
    if not isinstance(cause, RequestsConnectionError):
        return False
    reason = cause.args[0] if cause.args else None
    # urllib3's NameResolutionError is a NewConnectionError.
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)


def _retry_after(response) -> timedelta | None:
    """The delay an HTTP answer's Retry-After asks for (seconds or an HTTP date, RFC 9110 section
    10.2.3), or None when it gives none or one that cannot be read."""
    value = str(getattr(response, "headers", {}).get("Retry-After", "") or "").strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    at = parse_http_date_safe(value) if value else None
    if at is None:
        return None
    return max(timedelta(0), timedelta(seconds=at - time.time()))


def _by_smtp_code(code: int | None, detail: str) -> HandOff:
    if code is not None and 400 <= code < 500:
        return HandOff(Outcome.TEMPORARY, detail)
    if code is not None and 500 <= code < 600:
        return HandOff(Outcome.PERMANENT, detail)
    return HandOff(Outcome.UNCERTAIN, f"{detail} (an unexpected reply: it may have been sent)")


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
