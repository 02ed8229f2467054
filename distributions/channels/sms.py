"""The SMS channel: one text handed to the configured backend (SMS_BACKEND), and the key the
provider's webhooks are signed with.

Backends:
- `distributions.channels.sms_outbox.OutboxSmsBackend` (the embedded default): nothing leaves the
  machine; the SmsMessage rows the services write are the outbox, shown in the admin as
  conversations.
- `distributions.channels.twilio.TwilioSmsBackend`: Twilio's Programmable Messaging API through
  the official `twilio` package.

What a hand-off ended in is the email channel's `Outcome` (ACCEPTED, TEMPORARY, PERMANENT,
UNCERTAIN), with the same meaning: whether sending again could text the number twice.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string
from twilio.twiml.messaging_response import MessagingResponse

from distributions.channels.email import Outcome


@dataclass(frozen=True)
class SmsHandOff:
    """outcome: see Outcome; message_sid: the provider's id of an accepted text (Twilio's SM...);
    status: its first status, a SmsMessage.Status value; error_code: the provider's code of a
    refusal (Twilio's, e.g. "21211"); detail: what went wrong, for people."""

    outcome: Outcome
    message_sid: str = ""
    status: str = ""
    error_code: str = ""
    detail: str = ""


class SmsBackend:
    """A way texts leave (or do not leave) the machine. Subclasses set `provider` and implement
    `send` and `signing_key`."""

    provider = ""

    @property
    def sender(self) -> str:
        """Who the texts come from, as SmsMessage.our_number records it."""
        return settings.SMS_FROM_NUMBER

    def send(self, *, to: str, body: str, status_callback: str) -> SmsHandOff:
        """Hand one text to the provider. `to`: E.164; `status_callback`: the absolute URL the
        provider reports delivery statuses to. Never raises for a provider's answer: every
        failure is a SmsHandOff with its Outcome."""
        raise NotImplementedError

    def signing_key(self) -> str:
        """The secret X-Twilio-Signature is computed with on webhooks to this installation."""
        raise NotImplementedError

    def shared_signing_key(self) -> str:
        """The secret of a webhook call that names its signing key and algorithm
        (X-Twilio-Webhooks-Signature-Settings, Twilio's SharedKey signing), "" for none."""
        return ""


def sms_line_breaks(body: str) -> str:
    """`body` with its line breaks as a text carries them: one LF each. A browser's form gives
    CR LF (the admin's text fields, the survey's questions), which a text would carry and bill as
    two characters, where the segment counter the admin types under counts one."""
    return body.replace("\r\n", "\n").replace("\r", "\n")


def sms_backend() -> SmsBackend:
    """The backend SMS_BACKEND names (a dotted path to a SmsBackend subclass)."""
    return import_string(settings.SMS_BACKEND)()


def local_signing_key() -> str:
    """SMS_LOCAL_SIGNING_KEY, or one derived from SECRET_KEY: the same in every process that shares
    SECRET_KEY, and no use to anyone who does not know it."""
    return settings.SMS_LOCAL_SIGNING_KEY or salted_hmac("distributions.sms.local-signing-key", "webhooks").hexdigest()


# What XML 1.0 (section 2.2, "Characters") does not allow in a document: control characters but
# tab, newline and carriage return, surrogates, U+FFFE and U+FFFF. A question pasted from a word
# processor brings vertical tabs (its line breaks); left in, Twilio cannot read the answer.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def twiml_answer(*, body: str = "", status_callback: str = "") -> str:
    """The TwiML document answering an inbound text: one <Message> with `body` (and `action`, the
    URL its delivery statuses go to), or an empty <Response/> when there is nothing to say.
    Characters XML cannot carry are left out (a vertical tab or form feed becomes a line break).
    TwiML reference: https://www.twilio.com/docs/messaging/twiml"""
    answer = MessagingResponse()
    body = _NOT_XML.sub(lambda found: "\n" if found.group() in "\x0b\x0c" else "", body)
    if body:
        answer.message(body, action=status_callback or None, method="POST" if status_callback else None)
    return str(answer)
