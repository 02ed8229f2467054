"""Texts out, and what the provider says happened to them: the SMS log (SmsConversation,
SmsMessage), sending one text, and status callbacks that move a text's status forward only.

Statuses (Twilio's MessageStatus, https://www.twilio.com/docs/messaging/api/message-resource):
queued → sending → sent → delivered, or undelivered / failed (with Twilio's ErrorCode). A
callback that arrives late (sent after delivered) or twice changes nothing. A text tied to an
invitation also moves the invitation (SMS Sent, SMS Delivered, SMS Failed) through
services/status.py, which keeps its own forward-only rule and delivery history; a two-way
survey's text reported sent or delivered opens its session if it still waits for the text, and an
undelivered one ends it (services/sms_sessions.py).
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from directory.services import contacts_sms_opt_out
from distributions.channels.email import Outcome
from distributions.channels.segments import count_segments
from distributions.channels.sms import sms_backend, sms_line_breaks
from distributions.channels.twilio_errors import twilio_error_meaning
from distributions.models import Invitation, SmsConversation, SmsMessage
from distributions.services.status import invitation_record
from workflows.public_urls import public_url

logger = logging.getLogger(__name__)

Status = SmsMessage.Status

# Higher wins; the three outcomes share the last rank, so the first one reported stays.
RANK = {
    Status.QUEUED: 1,
    Status.SENDING: 2,
    Status.SENT: 3,
    Status.DELIVERED: 4,
    Status.UNDELIVERED: 4,
    Status.FAILED: 4,
}
# Twilio's MessageStatus values of an outbound text -> ours. "read" is WhatsApp's, after delivery;
# "canceled" a scheduled text that will never go. Inbound statuses (receiving, received) and
# values Twilio may add later are ignored.
CALLBACK_STATUSES = {
    "accepted": Status.QUEUED,
    "scheduled": Status.QUEUED,
    "queued": Status.QUEUED,
    "sending": Status.SENDING,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
    "canceled": Status.FAILED,
}
# Twilio's refusals meaning the number opted out: 21610, "Attempt to send to unsubscribed recipient".
OPTED_OUT_ERRORS = frozenset({"21610"})
INVITATION_STATUSES = {
    Status.SENT: Invitation.Status.SMS_SENT,
    Status.DELIVERED: Invitation.Status.SMS_DELIVERED,
    Status.UNDELIVERED: Invitation.Status.SMS_FAILED,
    Status.FAILED: Invitation.Status.SMS_FAILED,
}


@dataclass(frozen=True)
class SmsSent:
    """message: the SmsMessage row; outcome: how the hand-off ended (channels/email.py's Outcome)."""

    message: SmsMessage
    outcome: Outcome


def sms_status_callback_url(*, message: SmsMessage | None = None) -> str:
    """Where the provider reports a text's statuses: PUBLIC_BASE_URL/webhooks/twilio/status/.
    With `message`, ?sms=<its id>: a reply given as TwiML has no MessageSid yet, and the first
    callback tells it (the query string is covered by the signature)."""
    url = public_url("distributions:twilio-status")
    return f"{url}?sms={message.pk}" if message is not None else url


def sms_conversation_locked(*, phone: str) -> SmsConversation:
    """The conversation with `phone` (E.164), created if new, its row locked until the caller's
    transaction ends (SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions already
    hold the database's write lock). Call inside transaction.atomic()."""
    rows = SmsConversation.objects.select_for_update()
    try:
        return rows.get(phone=phone)  # get(), not first(): the phone is unique, nothing to order
    except SmsConversation.DoesNotExist:  # a new number: one statement more, once
        SmsConversation.objects.get_or_create(phone=phone)
        return rows.get(phone=phone)


def sms_message_send(*, to: str, body: str, invitation: Invitation | None = None) -> SmsSent:
    """Send one text to `to` (E.164) through SMS_BACKEND and record it in the number's conversation.

    The row is written (queued) before the hand-off, and updated with its outcome: the message
    SID and first status, or Failed with what went wrong. The status callback URL names the row
    (?sms=<id>), and the outcome moves the status forward only: Twilio may call back (sent, even
    failed) before its API has answered, and such a callback finds the row and is kept. Sending
    exactly once across retries and crashes is the caller's business (a claim, as invitations
    have); an UNCERTAIN outcome means the text may have gone.
    """
    backend = sms_backend()
    body = sms_line_breaks(body)
    with transaction.atomic():
        conversation = sms_conversation_locked(phone=to)
        message = SmsMessage.objects.create(
            conversation=conversation,
            direction=SmsMessage.Direction.OUTBOUND,
            body=body,
            our_number=backend.sender,
            provider=backend.provider,
            status=Status.QUEUED,
            segments=count_segments(body).segments,
            invitation=invitation,
        )
        SmsConversation.objects.filter(pk=conversation.pk).update(last_message_at=message.created_at)
    hand_off = backend.send(to=to, body=body, status_callback=sms_status_callback_url(message=message))
    if hand_off.error_code in OPTED_OUT_ERRORS:
        # The number opted out with the provider (its STOP never reached us: sent to another of
        # the account's numbers, or while the webhook was down): no contact with it is texted again.
        contacts_sms_opt_out(phone=to, opted_out=True)
    rows = SmsMessage.objects.filter(pk=message.pk)
    if hand_off.outcome == Outcome.ACCEPTED:
        rows.filter(message_sid="").update(message_sid=hand_off.message_sid)  # unless a callback told it first
        outcome = {"status": hand_off.status or Status.QUEUED}
    else:
        outcome = {"status": Status.FAILED, "error_code": hand_off.error_code, "status_detail": hand_off.detail}
    rows.filter(status__in=_ranked_below(outcome["status"])).update(**outcome, updated_at=timezone.now())
    message.refresh_from_db()
    return SmsSent(message=message, outcome=hand_off.outcome)


def _ranked_below(status: str) -> list[str]:
    """The statuses a text may move from to `status` (forward only, see RANK)."""
    return [name for name, rank in RANK.items() if rank < RANK[status]]


def sms_status_record(*, params: Mapping[str, str], message_id: str = "") -> bool:
    """A status callback (Twilio's form fields MessageSid, MessageStatus, ErrorCode...) -> whether
    it changed anything.

    The text is found by MessageSid, or by `message_id` (our id, from the callback URL of a TwiML
    reply) when it has no SID yet. Its status moves only to a higher rank, in one conditional
    UPDATE, so concurrent or replayed callbacks cannot move it back. Unknown texts and statuses
    are logged and ignored (answering an error would only make Twilio log failures).
    """
    sid = params.get("MessageSid", "").strip()
    status = CALLBACK_STATUSES.get(params.get("MessageStatus", "").strip().lower())
    if not sid or status is None:
        logger.info("Ignored an SMS status callback: MessageSid %r, MessageStatus %r", sid, params.get("MessageStatus"))
        return False
    message = _message_for_callback(sid=sid, message_id=message_id)
    if message is None:
        logger.info("Ignored an SMS status callback for a text this installation did not send: %s", sid)
        return False
    error_code = params.get("ErrorCode", "").strip()
    detail = twilio_error_meaning(error_code) if status in (Status.UNDELIVERED, Status.FAILED) else ""
    if status == Status.FAILED and not detail and params.get("MessageStatus", "").lower() == "canceled":
        detail = "Canceled before it was sent."
    with transaction.atomic():
        if message.invitation_id and status in INVITATION_STATUSES:
            # The conversation's row before the invitation's, as the worker recording the same
            # text (which may still be at it: Twilio can call back before its API answers) and a
            # reply lock them; the other way round, each would wait for the other.
            _conversation_row_locked(message.conversation_id)
        changed = SmsMessage.objects.filter(pk=message.pk, status__in=_ranked_below(status)).update(
            status=status, error_code=error_code, status_detail=detail, updated_at=timezone.now()
        )
        if changed and message.invitation_id and status in (Status.SENT, Status.DELIVERED):
            # The text went: a two-way survey's session waiting for it opens, whether or not its
            # worker gets to record the hand-off (stopped after it, the reaper leaves an
            # invitation whose status has moved on). Imported here: the sessions build on this module.
            from distributions.services.sms_sessions import sms_session_text_gone

            sms_session_text_gone(invitation_id=message.invitation_id)
        if changed and message.invitation_id and status in INVITATION_STATUSES:
            invitation_record(
                invitation=message.invitation,
                kind=f"sms_{status}",
                status=INVITATION_STATUSES[status],
                detail=detail,
                provider=message.provider,
                provider_event_id=f"{sid}/{status}",
                data=dict(params.items()),
            )
        if changed and message.invitation_id and status in (Status.UNDELIVERED, Status.FAILED):
            # Imported here: the sessions build on this module.
            from distributions.services.sms_sessions import sms_session_end_unsent

            sms_session_end_unsent(
                invitation_id=message.invitation_id,
                detail=f"The survey's text was not delivered: {detail}".rstrip(": "),
            )
    return bool(changed)


def _conversation_row_locked(conversation_id: int) -> None:
    """Lock the conversation's row until the caller's transaction ends (as sms_conversation_locked)."""
    list(SmsConversation.objects.select_for_update().filter(pk=conversation_id).values_list("pk", flat=True))


def _message_for_callback(*, sid: str, message_id: str) -> SmsMessage | None:
    outbound = SmsMessage.objects.select_related("invitation").filter(direction=SmsMessage.Direction.OUTBOUND)
    message = outbound.filter(message_sid=sid).first()
    if message is None and message_id.isascii() and message_id.isdigit() and len(message_id) <= 18:
        # The first callback of a TwiML reply: record its SID, once (a conditional update).
        if outbound.filter(pk=int(message_id), message_sid="").update(message_sid=sid):
            message = outbound.filter(pk=int(message_id)).first()
    return message
