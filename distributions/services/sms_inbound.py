"""A text someone sent us (Twilio's inbound webhook, or `manage.py sms_reply`): record it, act on
the carrier keywords, let an open survey session answer it, and say what to answer.

Order of handling, one text at a time per number (the conversation's row lock):
1. A MessageSid seen before is a replay (Twilio retries): nothing changes, and the answer given
   the first time is given again. (Looked up with the lock; a replay whose original committed
   while it waited for the lock is found by the insert of step 5, and all it did is undone.)
2. Keywords, the whole text matched without case, accents or surrounding punctuation, as
   Twilio's default opt-out handling reads them (it blocks and unblocks the number on its side,
   and the number's state here must match): STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT,
   REVOKE, OPTOUT (Twilio's opt-out words), ARRET, ANNULLA, BAJA (French, Italian, Spanish) opt
   the number out: every contact with it gets no more texts (directory's Contact.sms_opted_out).
   START and UNSTOP opt it back in, and so does YES from a number that opted out (from any other
   number YES is an answer, "Yes" being a survey option). HELP and INFO answer how to stop.
3. Otherwise the registered session handlers (SESSION_HANDLERS) are asked in turn; the first
   that answers owns the text. Two-way SMS surveys plug in here.
4. A text nobody answers gets SMS_NO_SESSION_REPLY, and is logged; from a number that opted
   out it gets no answer (Twilio refuses to text it, and no text may follow an opt-out).
5. The text is recorded in the number's conversation, with the invitation a handler tied it to
   (one INSERT, where recording it first would take an UPDATE more on every reply). The
   conversation's last_message_at is the text's time, set by the statement that locks it.

The answer is recorded as an outbound text in the same transaction and returned to the webhook,
which answers it as TwiML (CONTRIBUTING.md says why).
"""

import logging
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from directory.services import contacts_sms_opt_out
from distributions.channels.phones import sms_sender_number
from distributions.channels.segments import count_segments
from distributions.channels.sms import sms_backend, sms_line_breaks
from distributions.channels.sms_outbox import local_message_sid
from distributions.models import Distribution, Invitation, SmsConversation, SmsMessage
from distributions.services.responses import EventKind
from distributions.services.sms import sms_conversation_locked
from distributions.services.status import invitation_record

logger = logging.getLogger(__name__)

Keyword = SmsMessage.Keyword

# Twilio's defaults (https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out) and ours.
KEYWORDS = {
    **dict.fromkeys(
        ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "ARRET", "ANNULLA", "BAJA"],
        Keyword.OPT_OUT,
    ),
    **dict.fromkeys(["START", "UNSTOP"], Keyword.OPT_IN),
    **dict.fromkeys(["HELP", "INFO"], Keyword.HELP),
}
# Opt-in words only from a number that opted out: Twilio unblocks it on YES, and anyone else's
# YES answers a question.
OPT_IN_WHEN_OPTED_OUT = frozenset({"YES"})
_PUNCTUATION = " \t\r\n.!?¡¿,;:\"'()"


class SmsSessionHandler(Protocol):
    """What a two-way conversation (a survey session) implements to take part in inbound texts.
    Each method runs inside the transaction that records the text, with the number's
    conversation locked: its writes commit with the text, or not at all. The text (`message`)
    is recorded once the handlers are done, with the invitation one of them set on it: a handler
    sets `message.invitation`, it does not save the message."""

    def answer(self, *, conversation: SmsConversation, message: SmsMessage) -> str | None:
        """The reply to a text that is not a keyword, or None when no session of this handler is
        open for the number (the next handler is asked)."""

    def help_text(self, *, conversation: SmsConversation) -> str | None:
        """The answer to HELP while a session is open (e.g. the survey's name and how to stop), or None."""

    def opted_out(self, *, conversation: SmsConversation, message: SmsMessage) -> None:
        """The number sent an opt-out keyword: end its open session."""


# Registered from an AppConfig.ready(), in the order they are asked.
SESSION_HANDLERS: list[SmsSessionHandler] = []


@dataclass(frozen=True)
class InboundText:
    """A text as the provider's webhook gives it. message_sid: Twilio's (SM...); from_number: the
    sender as the provider writes it (E.164 from Twilio); to_number: our number it was sent to."""

    message_sid: str
    from_number: str
    to_number: str
    body: str


def sms_session_handler_register(handler: SmsSessionHandler) -> None:
    """Have `handler` asked about inbound texts (after the keywords, before the no-session answer)."""
    if handler not in SESSION_HANDLERS:
        SESSION_HANDLERS.append(handler)


def sms_keyword(body: str, *, opted_out: bool = False) -> str:
    """The Keyword a whole text is (``" Stop! "`` -> opt_out, ``"arrêt"`` -> opt_out), or "" for
    any other text: a keyword inside a sentence ("please don't stop") is not one. `opted_out`:
    whether the number's last keyword was an opt-out, which makes "yes" an opt-in."""
    word = _keyword_word(body)
    if word in OPT_IN_WHEN_OPTED_OUT:
        return Keyword.OPT_IN if opted_out else Keyword.NONE
    return KEYWORDS.get(word, Keyword.NONE)


def _keyword_word(body: str) -> str:
    """`body` as keywords are looked up: upper case, without accents or surrounding punctuation."""
    # Compatibility forms first (a no-break space becomes a space, "ＳＴＯＰ" "STOP"); invisible
    # format characters (a zero-width space a keyboard left) and accents go.
    word = unicodedata.normalize("NFKD", body)
    word = "".join(char for char in word if not unicodedata.combining(char) and unicodedata.category(char) != "Cf")
    return word.strip(_PUNCTUATION).upper()


def sms_number_opted_out(*, conversation: SmsConversation) -> bool:
    """Whether the number's last carrier keyword was an opt-out (STOP...), not an opt-in (START),
    as services/recipient_rules.py reads it before texting the number."""
    last = (
        SmsMessage.objects.filter(
            conversation=conversation,
            direction=SmsMessage.Direction.INBOUND,
            keyword__in=[Keyword.OPT_OUT, Keyword.OPT_IN],
        )
        .order_by("-id")
        .values_list("keyword", flat=True)
        .first()
    )
    return last == Keyword.OPT_OUT


def sms_inbound_receive(*, text: InboundText) -> SmsMessage | None:
    """Record and handle one inbound text -> the reply recorded for it (its body is the answer to
    give), or None when there is nothing to answer.

    Raises InvalidValue (a ValueError) when the sender is not a phone number. A replayed
    MessageSid changes nothing and returns the first reply again.
    """
    phone = sms_sender_number(text.from_number)
    backend = sms_backend()
    now = timezone.now()
    try:
        with transaction.atomic():
            conversation, seen = _conversation_stamped(phone=phone, message_sid=text.message_sid, now=now)
            if seen:
                raise _Replayed  # undoes the stamp
            stamped = conversation is not None
            if not stamped:  # a new number: stamped once its first text is recorded
                conversation = sms_conversation_locked(phone=phone)
            return _receive(conversation=conversation, text=text, backend=backend, now=now, stamped=stamped)
    except _Replayed:  # recorded before; whatever this call wrote is undone
        return _first_reply(text.message_sid)


# Written out: the ORM's form of the look-up (an Exists annotation under select_for_update) was a
# fifth of the Python of a reply, and an UPDATE takes the row lock as SELECT ... FOR UPDATE does.
_STAMPED_SEEN = (
    f"UPDATE {SmsConversation._meta.db_table} SET last_message_at = %s WHERE phone = %s RETURNING *,"
    f" EXISTS (SELECT 1 FROM {SmsMessage._meta.db_table} WHERE message_sid = %s) AS message_seen"
)


def _conversation_stamped(*, phone: str, message_sid: str, now) -> tuple[SmsConversation | None, bool]:
    """The conversation with `phone` locked (as sms_conversation_locked), its last_message_at set
    to `now`, and whether a text with `message_sid` is recorded, in one statement; (None, False)
    for a number with no conversation yet. A recorded text's caller must roll the stamp back.

    On PostgreSQL the look-up reads what was committed when the statement began: a text recorded
    by the transaction that held the lock this one waited for is not seen here (the insert of the
    text sees it, _recorded_unless_seen)."""
    stamp = connection.ops.adapt_datetimefield_value(now)  # as the ORM writes it (naive UTC on SQLite)
    for conversation in SmsConversation.objects.raw(_STAMPED_SEEN, [stamp, phone, message_sid]):
        return conversation, bool(message_sid) and bool(conversation.message_seen)
    return None, False


class _Replayed(Exception):
    """The text's MessageSid was recorded meanwhile: undo what handling it did."""


def _first_reply(message_sid: str) -> SmsMessage | None:
    """The reply recorded for the text with `message_sid` (recorded), or None."""
    return SmsMessage.objects.get(message_sid=message_sid).replies.order_by("id").first()


def _receive(*, conversation: SmsConversation, text: InboundText, backend, now, stamped: bool) -> SmsMessage | None:
    """Handle a text not seen before, then record it and its reply -> the reply, or None. `now`:
    the text's time, its conversation's last_message_at (set already when `stamped`).

    The text is recorded after the handlers, with the invitation they tie it to: one INSERT
    where recording it first would take an UPDATE more. Raises _Replayed when its MessageSid
    turns out to be recorded (see _conversation_stamped)."""
    message = SmsMessage(
        conversation=conversation,
        direction=SmsMessage.Direction.INBOUND,
        body=text.body,
        our_number=text.to_number,
        provider=backend.provider,
        message_sid=text.message_sid,
        status=SmsMessage.Status.RECEIVED,
        segments=count_segments(text.body).segments,
        keyword=_keyword(text.body, conversation=conversation),
    )
    reply_body, owned = _handle(conversation=conversation, message=message)
    reply_body = sms_line_breaks(reply_body)
    if _recorded_unless_seen(message, now=now) is None:
        raise _Replayed
    if not owned:
        logger.info("Text %s of SMS conversation %s came with no open survey session", message.pk, conversation.pk)
    reply = None
    if reply_body:
        reply = SmsMessage.objects.create(
            conversation=conversation,
            direction=SmsMessage.Direction.OUTBOUND,
            body=reply_body,
            our_number=text.to_number or backend.sender,
            provider=backend.provider,
            # The outbox has nothing to report later; Twilio tells the SID in the reply's
            # first status callback.
            message_sid=local_message_sid() if backend.provider == "outbox" else "",
            status=SmsMessage.Status.SENT if backend.provider == "outbox" else SmsMessage.Status.QUEUED,
            segments=count_segments(reply_body).segments,
            in_reply_to=message,
        )
    if not stamped:
        SmsConversation.objects.filter(pk=conversation.pk).update(last_message_at=now)
    return reply


def _keyword(body: str, *, conversation: SmsConversation) -> str:
    """sms_keyword of `body`, reading whether the number opted out only for a word that needs it."""
    if _keyword_word(body) in OPT_IN_WHEN_OPTED_OUT:
        return sms_keyword(body, opted_out=sms_number_opted_out(conversation=conversation))
    return sms_keyword(body)


def _recorded_unless_seen(message: SmsMessage, *, now) -> SmsMessage | None:
    """Insert the unsaved inbound `message` -> it, saved, or None when a text with its MessageSid
    is recorded already (nothing is written).

    INSERT ... ON CONFLICT DO NOTHING RETURNING id: the look-up under the lock cannot see a text
    committed while it waited (_conversation_stamped), this insert does. `now`: its time. The conflict is the
    unique MessageSid (sms_message_sid_once; the other unique column is the id the database
    assigns). A text with the same MessageSid recorded by a transaction not committed yet (from
    another number: the same number's waits for the lock) is waited for, then seen.
    """
    message.created_at = message.updated_at = now  # as auto_now_add and auto_now would set
    meta = SmsMessage._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [field.get_db_prep_save(getattr(message, field.attname), connection) for field in fields])
        row = cursor.fetchone()
    if row is None:
        return None
    message.pk = row[0]
    message._state.adding, message._state.db = False, connection.alias
    return message


def _invitation_opted_out(*, conversation: SmsConversation, message: SmsMessage) -> None:
    """The number opted out in answer to the last text we sent it: when that text was an SMS
    invitation's, the invitation is Opted Out (as an email's is from its opt-out link), and the
    opt-out is recorded with it. A two-way survey's text is its session's (SurveySmsSessions)."""
    last = (
        SmsMessage.objects.filter(conversation=conversation, direction=SmsMessage.Direction.OUTBOUND)
        .exclude(invitation=None)
        .select_related("invitation__distribution")
        .order_by("-id")
        .first()
    )
    if last is None or last.invitation.distribution.channel != Distribution.Channel.SMS:
        return
    if last.status in (SmsMessage.Status.UNDELIVERED, SmsMessage.Status.FAILED):  # never reached the phone
        return
    message.invitation = last.invitation  # recorded with the text
    invitation_record(
        invitation=last.invitation,
        kind=EventKind.OPTED_OUT,
        status=Invitation.Status.OPTED_OUT,
        detail="The number replied to the text with an opt-out keyword (STOP...): no more texts go to it.",
    )


def _handle(*, conversation: SmsConversation, message: SmsMessage) -> tuple[str, bool]:
    """(The text to answer `message` with, "" for none; whether a keyword or a session handler
    took it), after acting on it. `message` is not recorded yet."""
    if message.keyword == Keyword.OPT_OUT:
        changed = contacts_sms_opt_out(phone=conversation.phone, opted_out=True)
        for handler in SESSION_HANDLERS:
            handler.opted_out(conversation=conversation, message=message)
        if message.invitation is None:  # no session took it: the answer to an SMS invitation?
            _invitation_opted_out(conversation=conversation, message=message)
        # The conversation's id, not its phone: the log is kept beyond RETENTION_DAYS and erasure.
        logger.info("SMS conversation %s opted out of texts (%d contacts)", conversation.pk, changed)
        return (settings.SMS_STOP_REPLY if settings.SMS_ANSWER_KEYWORDS else ""), True
    if message.keyword == Keyword.OPT_IN:
        changed = contacts_sms_opt_out(phone=conversation.phone, opted_out=False)
        logger.info("SMS conversation %s opted back in to texts (%d contacts)", conversation.pk, changed)
        return (settings.SMS_START_REPLY if settings.SMS_ANSWER_KEYWORDS else ""), True
    if message.keyword == Keyword.HELP:
        if not settings.SMS_ANSWER_KEYWORDS:
            return "", True
        for handler in SESSION_HANDLERS:
            if help_text := handler.help_text(conversation=conversation):
                return help_text, True
        return settings.SMS_HELP_REPLY, True
    for handler in SESSION_HANDLERS:
        answer = handler.answer(conversation=conversation, message=message)
        if answer is not None:
            return answer, True
    if sms_number_opted_out(conversation=conversation):  # nothing may be texted to it
        return "", False
    return settings.SMS_NO_SESSION_REPLY, False
