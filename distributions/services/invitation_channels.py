"""What differs between an email invitation and a text: its statuses, the kinds of the events
sending records, and the words the details use. Sending itself (claims, the in-doubt reaper,
retries) is the same for every channel (services/delivery.py)."""

from dataclasses import dataclass
from enum import StrEnum

from distributions.models import Distribution, Invitation

Channel = Distribution.Channel
Status = Invitation.Status
SMS_CHANNELS = frozenset({Channel.SMS, Channel.TWO_WAY_SMS})


class SendEvent(StrEnum):
    """DeliveryEvent kinds sending an email records (providers' webhooks record their own)."""

    SENT = "email_sent"
    FAILED = "email_failed"
    DEFERRED = "email_deferred"
    INTERRUPTED = "email_interrupted"
    RELEASED = "email_released"
    SKIPPED = "email_skipped"
    OPTED_OUT = "email_opted_out"
    READDRESSED = "email_readdressed"


class SmsSendEvent(StrEnum):
    """DeliveryEvent kinds sending a text records. The status callbacks record theirs as
    sms_<status> (sms_sent, sms_delivered...: services/sms.py), so the hand-off is sms_accepted."""

    SENT = "sms_accepted"
    FAILED = "sms_send_failed"
    DEFERRED = "sms_deferred"
    INTERRUPTED = "sms_interrupted"
    RELEASED = "sms_released"
    SKIPPED = "sms_skipped"
    OPTED_OUT = "sms_opted_out"
    READDRESSED = "sms_readdressed"
    QUIET_HOURS = "sms_quiet_hours"


@dataclass(frozen=True)
class ChannelTerms:
    """sent/failed/skipped: the Invitation statuses of the channel; events: its SendEvent enum;
    message: what one invitation is called ("email", "text"); address: what it goes to."""

    sent: str
    failed: str
    skipped: str
    events: type[StrEnum]
    message: str
    address: str


EMAIL_TERMS = ChannelTerms(
    Status.EMAIL_SENT, Status.EMAIL_FAILED, Status.EMAIL_SKIPPED, SendEvent, "email", "email address"
)
SMS_TERMS = ChannelTerms(Status.SMS_SENT, Status.SMS_FAILED, Status.SMS_SKIPPED, SmsSendEvent, "text", "phone number")


def is_sms(channel: str) -> bool:
    """Whether a Distribution.Channel value sends texts (SMS invitation or two-way SMS survey)."""
    return channel in SMS_CHANNELS


def channel_terms(channel: str) -> ChannelTerms:
    """The terms of a Distribution.Channel value."""
    return SMS_TERMS if is_sms(channel) else EMAIL_TERMS
