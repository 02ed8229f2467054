"""Delivery tracking: anymail's normalized webhook events become DeliveryEvents and statuses.

anymail has already authenticated the call and normalized the ESP's payload into an
`AnymailTrackingEvent`; here we find the invitation, store the event with the ESP's raw data, and
let `invitation_record` move the status forward only.

Finding the invitation: `Invitation.message_id` holds the Message-ID header we set when sending.
Some ESPs report that header as the event's `message_id` (SMTP relays, Mailgun, SendGrid without
anymail's id), others report their own id (Postmark's MessageID, anymail's SendGrid `anymail_id`).
For those, `message_tag_for_tracking` copies our header into anymail's `metadata` before the
send, and ESPs echo metadata on every tracking event. ESPs that take no metadata (Postal,
MailerSend) report only their own id, which their API answered when it accepted the message: the
invitation's "email_sent" event keeps it (`esp_sent_event_key`). An event matching none is logged
and dropped: tracking must never make the ESP retry a webhook forever.

What is stored is made storable first, so no payload the ESP can send makes the database refuse it
(which would answer 500, and the ESP would retry forever): NUL characters, which PostgreSQL refuses
in text and JSON, and lone surrogates, which no UTF-8 text can hold, become U+FFFD; an event id
longer than its column is kept as its digest.
"""

import hashlib
import json
import logging
from datetime import UTC

from anymail.signals import AnymailTrackingEvent, EventType
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from directory.models import Contact
from distributions.models import DeliveryEvent, Invitation
from distributions.services.status import invitation_record
from workflows.salesforce.encoding import storable_text, text_is_storable

logger = logging.getLogger(__name__)

Status = Invitation.Status

# anymail event type -> invitation status; None records the event without touching the status.
# The ESP having the message means Email Sent: no status of its own for "delivered" (the mailbox
# accepted it, nobody read it yet), and forward-only makes it a no-op once sent; but it corrects an
# invitation the sender marked Email Failed because the hand-off timed out after the ESP took it.
STATUS_BY_EVENT_TYPE = {
    EventType.QUEUED: Status.EMAIL_SENT,
    EventType.SENT: Status.EMAIL_SENT,
    EventType.DELIVERED: Status.EMAIL_SENT,
    EventType.BOUNCED: Status.EMAIL_HARD_BOUNCE,
    EventType.DEFERRED: Status.EMAIL_SOFT_BOUNCE,
    EventType.REJECTED: Status.EMAIL_BLOCKED,
    EventType.FAILED: Status.EMAIL_FAILED,
    EventType.COMPLAINED: Status.EMAIL_COMPLAINT,
    EventType.OPENED: Status.EMAIL_OPENED,
    EventType.CLICKED: Status.EMAIL_OPENED,  # a click implies an open
    EventType.UNSUBSCRIBED: Status.OPTED_OUT,
    EventType.SUBSCRIBED: None,
    EventType.AUTORESPONDED: None,
    EventType.UNKNOWN: None,
}

# Soft bounces that anymail reports as "bounced" (its "deferred" is what the ESP still retries):
# ESP -> (the path of the field in the ESP's event, the values that mean a soft bounce). A soft
# bounce is Email Soft Bounce, never Email Hard Bounce: the address is not known to be bad.
SOFT_BOUNCES = {
    "Brevo": (("event",), {"soft_bounce"}),
    "SendinBlue": (("event",), {"soft_bounce"}),
    "Mandrill": (("event",), {"soft_bounce"}),
    "MailerSend": (("data", "type"), {"soft_bounced"}),
    "Postmark": (("Type",), {"SoftBounce"}),
    # SparkPost's bounce classes of the "Soft" category (its bounce classification codes).
    "SparkPost": (("msys", "message_event", "bounce_class"), {"20", "21", "22", "23", "24", "40", "70"}),
}

# The ESP reporting that it failed to send a message it had accepted (Postal's HardFail, a template
# Postmark or Amazon SES could not render, Brevo's "error", SparkPost's generation failure): the
# message never went, so Email Failed replaces the Email Sent recorded when the ESP accepted it.
# A delivery after a soft bounce (the ESP deferred it, retried, and the mailbox took it) makes the
# invitation Email Sent again: the soft bounce was not where the message ended.
REPLACED_BY_EVENT_TYPE = {
    EventType.FAILED: (Status.EMAIL_SENT,),
    EventType.DELIVERED: (Status.EMAIL_SOFT_BOUNCE,),
}

# Events after which the contact gets no more email. A spam complaint counts as an unsubscribe, as
# the M3AAWG Sender Best Common Practices (version 3) ask of feedback-loop reports: mailing someone
# who complained again raises the complaint rate over which mailbox providers refuse bulk mail.
OPTING_OUT_EVENT_TYPES = {EventType.UNSUBSCRIBED, EventType.COMPLAINED}

# The metadata key that carries our Message-ID through ESPs that report their own message id.
METADATA_KEY = "invitation"
# ESPs that accept anymail metadata and echo it on tracking events. Tagging any other ESP could
# make the send fail (anymail raises on unsupported features), so the list is explicit.
ESPS_ECHOING_METADATA = {
    "Amazon SES",
    "Brevo",
    "Mailgun",
    "Mailjet",
    "Mailtrap",  # as custom_variables
    "Mandrill",
    "Postmark",
    "Resend",
    "SendGrid",
    "SendinBlue",  # anymail's former name of its Brevo backend and webhook
    "SparkPost",
    "Unisender Go",
}
# Postmark rejects metadata values longer than 80 characters, the strictest of those ESPs.
METADATA_VALUE_MAX_LENGTH = 80
EVENT_ID_MAX_LENGTH = DeliveryEvent._meta.get_field("provider_event_id").max_length
# The "email_sent" event's provider_event_id: this prefix and the ESP's message id, apart from the
# ids of the ESP's own events.
ESP_MESSAGE_ID_PREFIX = "message:"


def tracking_event_record(*, event: AnymailTrackingEvent, esp_name: str) -> DeliveryEvent | None:
    """Record one tracking event. -> the new DeliveryEvent, or None (unknown message or a repeat).

    An event for an invitation whose contact was deleted moves its status as any other, but keeps
    neither the ESP's payload nor its description, which name the person erased."""
    invitation = _invitation_for(event, esp_name=esp_name)
    if invitation is None:
        logger.warning(
            "%s tracking event %r for unknown message id %r (metadata %r): ignored",
            esp_name,
            event.event_type,
            event.message_id,
            event.metadata,
        )
        return None
    data = _json_safe(event.esp_event)
    event_id = _event_id(event, data)
    if DeliveryEvent.objects.filter(provider=esp_name, provider_event_id=event_id).exists():
        return None
    detail = _detail(event)
    if invitation.contact_id is None:
        # The contact was deleted and its invitation erased (services/erasure.py): the ESP's payload
        # and its reason (a bounce's SMTP reply) name the recipient, so only the event is kept.
        data, detail = {}, ""
    try:
        with transaction.atomic():
            invitation_record(
                invitation=invitation,
                kind=event.event_type,
                status=_status(event, esp_name=esp_name, invitation=invitation),
                also_replacing=REPLACED_BY_EVENT_TYPE.get(event.event_type, ()),
                detail=detail,
                occurred_at=_aware(event.timestamp),
                provider=esp_name,
                provider_event_id=event_id,
                data=data,
            )
            if event.event_type in OPTING_OUT_EVENT_TYPES:
                # The opt-out holds for every future send, whatever this invitation's status.
                Contact.objects.filter(pk=invitation.contact_id).update(unsubscribed=True, updated_at=timezone.now())
    except IntegrityError:
        # Two deliveries of the same webhook raced past the check above; the other one won.
        if DeliveryEvent.objects.filter(provider=esp_name, provider_event_id=event_id).exists():
            return None
        raise
    return DeliveryEvent.objects.get(provider=esp_name, provider_event_id=event_id)


def esp_sent_event_key(*, esp_name: str, esp_message_id: str) -> dict[str, str]:
    """The provider and provider_event_id the "email_sent" event of a message `esp_name` accepted
    as `esp_message_id` is recorded with, so that ESP's tracking events, which may report only its
    id, find the invitation; {} for an id too long to keep, or one the ESP already gave another
    message (its events then go to the first): a sent message must be recorded whatever the id."""
    event_id = ESP_MESSAGE_ID_PREFIX + esp_message_id
    if not esp_message_id or len(event_id) > EVENT_ID_MAX_LENGTH or not text_is_storable(event_id):
        return {}
    key = {"provider": esp_name, "provider_event_id": event_id}
    return {} if DeliveryEvent.objects.filter(**key).exists() else key


def message_tag_for_tracking(*, message, esp_name: str) -> None:
    """Copy our Message-ID into anymail metadata, for ESPs whose events report their own id."""
    if esp_name not in ESPS_ECHOING_METADATA:
        return
    header = next((value for name, value in message.extra_headers.items() if name.lower() == "message-id"), "")
    value = _bare(str(header))
    if value and len(value) <= METADATA_VALUE_MAX_LENGTH:
        message.metadata = {**(getattr(message, "metadata", None) or {}), METADATA_KEY: value}


def _status(event: AnymailTrackingEvent, *, esp_name: str, invitation: Invitation) -> str | None:
    """The invitation status `event` reports (STATUS_BY_EVENT_TYPE, soft bounces told apart), or None.
    Webhooks come in any order: a soft bounce reported after the delivery, or the ESP's acceptance
    reported after its failure, is history only."""
    status = STATUS_BY_EVENT_TYPE.get(event.event_type)
    if event.event_type == EventType.BOUNCED and esp_name in SOFT_BOUNCES:
        path, values = SOFT_BOUNCES[esp_name]
        value = event.esp_event
        for key in path:
            value = value.get(key) if hasattr(value, "get") else None
        if isinstance(value, str) and value in values:
            status = Status.EMAIL_SOFT_BOUNCE
    if status == Status.EMAIL_SOFT_BOUNCE and invitation.events.filter(kind=EventType.DELIVERED).exists():
        return None
    # The ESP's "queued" or "sent" arriving after its own "failed" is not the Email Sent that
    # corrects a send the sender left uncertain: the ESP said the message never went.
    if (
        event.event_type in (EventType.QUEUED, EventType.SENT)
        and invitation.status == Status.EMAIL_FAILED
        and invitation.events.filter(kind=EventType.FAILED, provider=esp_name).exists()
    ):
        return None
    return status


def _event_id(event: AnymailTrackingEvent, data: dict) -> str:
    """The event's id as DeliveryEvent.provider_event_id keeps it. Some ESPs give none (Postmark's
    deliveries and opens): the same webhook delivered twice carries the same payload, so its
    digest stands in. An id too long for the column is kept as its digest."""
    given = storable_text(str(event.event_id or ""))
    if not given:
        return "sha256:" + hashlib.sha256(_canonical(data)).hexdigest()
    if len(given) > EVENT_ID_MAX_LENGTH:
        return "sha256:" + hashlib.sha256(given.encode()).hexdigest()
    return given


def _invitation_for(event: AnymailTrackingEvent, *, esp_name: str) -> Invitation | None:
    by_message_id = _invitation_by_message_id(event)
    if by_message_id is not None or event.message_id is None:
        return by_message_id
    event_id = ESP_MESSAGE_ID_PREFIX + str(event.message_id).strip()
    if not text_is_storable(event_id):
        return None
    sent = DeliveryEvent.objects.filter(provider=esp_name, provider_event_id=event_id).select_related("invitation")
    return next((sent_event.invitation for sent_event in sent[:1]), None)


def _invitation_by_message_id(event: AnymailTrackingEvent) -> Invitation | None:
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    references = {_bare(str(event.message_id or "")), _bare(str(metadata.get(METADATA_KEY) or ""))}
    # Never match the invitations that have no message id yet; ours hold no NUL or lone surrogate,
    # which PostgreSQL could not even compare.
    references = {reference for reference in references if reference and text_is_storable(reference)}
    candidates = [form for reference in references for form in (reference, f"<{reference}>")]
    if not candidates:
        return None
    return Invitation.objects.filter(message_id__in=candidates).order_by("pk").first()


def _bare(message_id: str) -> str:
    return message_id.strip().removeprefix("<").removesuffix(">")


def _detail(event: AnymailTrackingEvent) -> str:
    reason = f"reject reason: {event.reject_reason}" if event.reject_reason else ""
    return storable_text("; ".join(str(part) for part in (event.description, event.mta_response, reason) if part))


def _aware(timestamp):
    if timestamp is None:
        return timezone.now()
    return timestamp if timezone.is_aware(timestamp) else timezone.make_aware(timestamp, UTC)


def _json_safe(raw) -> dict:
    """The ESP's payload as JSON: a form post keeps every value of a repeated field, others become text."""
    if isinstance(raw, MultiValueDict):  # json.dumps would keep only each field's last value
        raw = dict(raw.lists())
    data = _storable(json.loads(json.dumps(raw, default=str)))
    return data if isinstance(data, dict) else {"esp_event": data}


def _storable(value):
    """JSON `value` with every string and key made storable_text."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {storable_text(key): _storable(item) for key, item in value.items()}
    return value


def _canonical(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
