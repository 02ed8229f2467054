"""The embedded default SMS backend: texts stay in the database, shown in the admin as
conversations (Distributions > SMS conversations). Nothing leaves the machine.

Set SMS_BACKEND=distributions.channels.twilio.TwilioSmsBackend to really send.
"""

import uuid

from distributions.channels.email import Outcome
from distributions.channels.sms import SmsBackend, SmsHandOff, local_signing_key
from distributions.models import SmsMessage


def local_message_sid() -> str:
    """An id for a text kept in the outbox, shaped like Twilio's (two letters, 32 hex digits) but
    starting with OB, so no one takes it for Twilio's."""
    return f"OB{uuid.uuid4().hex}"


class OutboxSmsBackend(SmsBackend):
    provider = "outbox"

    def send(self, *, to: str, body: str, status_callback: str) -> SmsHandOff:
        # The row the service writes is the outbox: there is nothing else to do, and no status
        # callback will ever come, so "sent" is as far as it goes.
        return SmsHandOff(Outcome.ACCEPTED, message_sid=local_message_sid(), status=SmsMessage.Status.SENT)

    def signing_key(self) -> str:
        return local_signing_key()
