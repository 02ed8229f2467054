"""Two-way SMS surveys: the survey asked one question per text, answered by replying.

A session (SmsSession) ties an invitation to its number's conversation. It is started inside the
transaction that claims the invitation (`sms_session_start`, which gives the first text), waiting
for that text to go: the number's open session, if any, keeps taking its replies meanwhile. Once
the text has been handed to the provider, or its hand-off is in doubt (it may have arrived), it
becomes the number's open session (`sms_session_text_gone`); a text that fails for good or is not
sent ends it (`sms_session_end_unsent`), and the number's open session goes on. It is then
moved by inbound texts (`SurveySmsSessions`, registered in sms_inbound's SESSION_HANDLERS) and
by the expiry job (`sms_sessions_expire`). Every change happens with the conversation's row
locked (services/sms.py), so two texts from one number are answered one after the other.

Replies: multiple choice takes the option's number or its text (case, accents and surrounding
punctuation ignored), a rating a whole number from 0 to 10, text entry any text. A valid reply is
saved in the invitation's Response (the shapes of services/answers.py, as the survey page saves
them; the first one starts the response, Survey Started) and the next question is asked. A reply
that answers nothing asks the question again with a hint, Survey.sms_invalid_reply_limit times;
then the survey moves on or ends (Survey.sms_after_invalid_replies). The last answer finishes the
response (Survey Finished) and is answered with Survey.sms_thank_you, if any.

A session also ends when the number opts out (STOP: Opted Out), when a newer two-way invitation's
text goes to the number (Survey Partially Finished) or when no reply came for
Survey.sms_session_expiry_hours (Session Expired). Answers given so far stay in a response that
is not finished.
"""

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone

from distributions.channels.phones import sms_phone_number, sms_sender_number
from distributions.models import (
    Invitation,
    Question,
    Response,
    SmsAfterInvalidReplies,
    SmsConversation,
    SmsMessage,
    SmsSession,
    Survey,
)
from distributions.services.answers import RATING_MAX, RATING_MIN, answer_check
from distributions.services.piped_text import invitation_piping_sources
from distributions.services.responses import (
    UNAVAILABLE_MESSAGES,
    Availability,
    EventKind,
    declared_embedded_data,
    survey_availability,
)
from distributions.services.sms import sms_conversation_locked
from distributions.services.status import invitation_record
from workflows.piping import render

logger = logging.getLogger(__name__)

State = SmsSession.State
Status = Invitation.Status
Kind = Question.Kind

# The kinds a text can ask; any other kind is skipped by a two-way SMS survey.
SMS_KINDS = (Kind.MULTIPLE_CHOICE, Kind.RATING, Kind.TEXT)
# Around a reply, what people add without meaning anything ("2.", "Good!", "(3)").
_PUNCTUATION = " \t\r\n.!?¡¿,;:\"'()[]"
# What makes a digit an emoji keycap: the emoji presentation selector, the combining keycap.
_KEYCAP_MARKS = "\ufe0f\u20e3"

HINTS = {
    Kind.MULTIPLE_CHOICE: "Please reply with the number of one of the options.",
    Kind.RATING: f"Please reply with a number from {RATING_MIN} to {RATING_MAX}.",
    Kind.TEXT: "Please reply with your answer.",
}
ENDED_AFTER_INVALID_REPLIES = "We could not read your answer, so the survey has ended. Thank you for your time."


class SmsSessionError(ValueError):
    """A two-way SMS survey cannot be started for the invitation (the message says why)."""


class SessionEvent:
    """DeliveryEvent kinds of a session's end, beside services/responses.py's EventKind."""

    CLOSED = "sms_session_closed"
    EXPIRED = "session_expired"
    ENDED = "sms_session_ended"


@dataclass(frozen=True)
class Askable:
    """Whether a question can be asked by text, and if not why (for the admin)."""

    yes: bool
    reason: str = ""


def question_sms_askable(question: Question) -> Askable:
    """Whether a two-way SMS survey asks `question` (others are skipped)."""
    if question.kind not in SMS_KINDS:
        return Askable(False, f"A {question.get_kind_display().lower()} question cannot be answered by text.")
    if question.kind == Kind.MULTIPLE_CHOICE and not question.choice_list():
        return Askable(False, "It has no options to reply with.")
    return Askable(True)


def survey_sms_unaskable(*, survey: Survey) -> list[tuple[Question, str]]:
    """The survey's questions a two-way SMS survey skips, each with the reason, in order."""
    found = []
    for question in survey.questions.all():
        askable = question_sms_askable(question)
        if not askable.yes:
            found.append((question, askable.reason))
    return found


def survey_sms_askable_any(*, survey: Survey) -> bool:
    """Whether a two-way SMS survey of `survey` has at least one question to ask."""
    return any(question_sms_askable(question).yes for question in survey.questions.all())


# --- starting ---------------------------------------------------------------------------------


def sms_session_start(*, invitation: Invitation) -> str:
    """Start the two-way SMS survey of `invitation` -> the text to send as the invitation: the
    survey's SMS introduction, if any, and its first question that can be asked by text.

    Call inside the transaction that claims the invitation (it locks the number's conversation
    until that transaction ends). The session waits for its text: the number's open session, of
    another invitation, is closed only when this text goes (`sms_session_text_gone`), so a text
    that never goes takes nothing from it. Called again for the same invitation (a retried send),
    it changes nothing and gives the same text.

    Raises SmsSessionError when the invitation has no phone number a text can go to, the survey
    has no question that can be asked by text, or the invitation's session ended before its text
    went (a send put off to be retried, meanwhile replaced by a newer survey to the number): sent
    now, its question would be answered into the number's open session, another survey's.
    """
    try:
        if invitation.address:
            # Checked by the sender already; read as inbound texts' senders are, so that the
            # replies find the same conversation.
            phone = sms_sender_number(invitation.address)
        else:
            phone = sms_phone_number(invitation.contact.phone if invitation.contact else "")
    except ValueError as error:
        raise SmsSessionError(f"No phone number to text the survey to: {error}") from error
    survey = invitation.distribution.survey
    first = _next_question(survey)
    if first is None:
        raise SmsSessionError(f"The survey “{survey.name}” has no question that can be asked by text.")
    now = timezone.now()
    with transaction.atomic():
        conversation = sms_conversation_locked(phone=phone)
        session = SmsSession.objects.filter(invitation=invitation).first()
        if session is not None and session.state not in (State.WAITING, State.OPEN):
            raise SmsSessionError(f"its session ended before the text went: {session.state_detail or session.state}")
        if session is not None:
            # A retried send: its hours without a reply start when the text goes, not when the
            # attempt that was put off claimed it.
            session.last_activity_at, session.expires_at = now, now + timedelta(hours=survey.sms_session_expiry_hours)
            session.save(update_fields=["last_activity_at", "expires_at"])
        if session is None:
            session = SmsSession.objects.create(
                invitation=invitation,
                conversation=conversation,
                question=first,
                state=State.WAITING,
                last_activity_at=now,
                expires_at=now + timedelta(hours=survey.sms_session_expiry_hours),
            )
    question = _ask(session, first)
    introduction = _piped(survey.sms_introduction, invitation).strip()
    return f"{introduction}\n\n{question}" if introduction else question


def sms_session_text_gone(*, invitation_id: int) -> bool:
    """The invitation's text was handed to the provider, or its hand-off is in doubt (it may have
    arrived): its waiting session becomes the number's open session. -> whether it did.

    The number's open session, of another invitation, is closed first ("A newer two-way SMS survey
    was sent to the number.", Survey Partially Finished when it had answers), and so is an older
    waiting one whose text was put off to be retried: sent after this one, its question would be
    answered into this survey. An older waiting one being sent right now is left to its own
    outcome (sent, it replaces this one). Nothing happens when the invitation has no waiting
    session (already open: a status recorded twice; ended: its text failed or was skipped).
    Call it in the transaction that records the hand-off.
    """
    phone = (
        SmsSession.objects.filter(invitation_id=invitation_id, state=State.WAITING)
        .values_list("conversation__phone", flat=True)
        .first()
    )
    if phone is None:
        return False
    with transaction.atomic():
        conversation = sms_conversation_locked(phone=phone)
        session = SmsSession.objects.filter(invitation_id=invitation_id, state=State.WAITING).first()
        if session is None:
            return False
        now = timezone.now()
        put_off = Q(state=State.WAITING, pk__lt=session.pk, invitation__sent_at__isnull=True)
        replaced = SmsSession.objects.filter(Q(state=State.OPEN) | put_off, conversation=conversation)
        for older in replaced.select_related("invitation").order_by("pk"):
            _end(older, state=State.CLOSED, detail="A newer two-way SMS survey was sent to the number.", now=now)
        session.state = State.OPEN
        session.save(update_fields=["state"])
    return True


# --- replies ----------------------------------------------------------------------------------


class SurveySmsSessions:
    """The SmsSessionHandler (services/sms_inbound.py) of two-way SMS surveys: registered once,
    as SURVEY_SESSIONS, by the app's ready()."""

    def answer(self, *, conversation: SmsConversation, message: SmsMessage) -> str | None:
        session = _open_session(conversation)
        if session is None:
            return None
        now = timezone.now()
        if _expired(session, now=now):  # the expiry job has not come by yet
            _expire(session, now=now)
            return None
        message.invitation = session.invitation  # recorded with the text
        availability = survey_availability(
            invitation=session.invitation, now=now, response=_response(session.invitation)
        )
        if availability != Availability.OPEN:
            _end(session, state=State.CLOSED, detail=f"The survey could not take answers ({availability}).", now=now)
            return UNAVAILABLE_MESSAGES[availability]
        return _reply(session, message.body, now=now)

    def help_text(self, *, conversation: SmsConversation) -> str | None:
        session = _open_session(conversation)
        if session is None:
            return None
        if _expired(session, now=timezone.now()):  # as for an answer: no survey to help with any more
            _expire(session, now=timezone.now())
            return None
        title = session.invitation.distribution.survey.title_for_respondents
        return f"{title}: reply to each question to answer the survey. Reply STOP to unsubscribe."

    def opted_out(self, *, conversation: SmsConversation, message: SmsMessage) -> None:
        session = _open_session(conversation)
        if session is None:
            return
        message.invitation = session.invitation  # recorded with the text
        _end(session, state=State.STOPPED, detail="The number opted out of texts.", now=timezone.now())


SURVEY_SESSIONS = SurveySmsSessions()


def _open_session(conversation: SmsConversation) -> SmsSession | None:
    # The tables every reply needs, and no more: PostgreSQL's planning time grows fast with the
    # tables joined (seven took it ten times as long as the statement ran). The question asked
    # comes with the ones after it (_questions_from); the contact only when a text pipes its
    # fields or the first answer records its embedded data.
    # get(), not first(): at most one session is open (sms_session_open_once), and ordering the
    # five tables' columns was a fifth of the Python of a reply.
    try:
        return SmsSession.objects.select_related("invitation__distribution__survey", "invitation__response").get(
            conversation=conversation, state=State.OPEN
        )
    except SmsSession.DoesNotExist:
        return None


# Read with the question asked: the questions after it, enough for the next one in one statement.
_READ_AHEAD = 4


@dataclass(frozen=True)
class _Page:
    """Questions already read after the one asked, in order; `full`: more may follow them."""

    questions: list[Question]
    full: bool


# The survey's order is (position, id), compared as a row (PostgreSQL, and SQLite since 3.15).
# Written out: the ORM's form of it (a subquery twice in an OR) cost ten times the Python.
_QUESTIONS = Question._meta.db_table
_QUESTIONS_FROM = (
    f"SELECT question.* FROM {_QUESTIONS} question, (SELECT position, id FROM {_QUESTIONS} WHERE id = %s) asked"
    " WHERE question.survey_id = %s AND (question.position, question.id) >= (asked.position, asked.id)"
    " ORDER BY question.position, question.id LIMIT %s"
)


def _questions_from(session: SmsSession, survey: Survey) -> list[Question]:
    """The session's question (the one asked last) and the _READ_AHEAD questions after it, in the
    survey's order, in one statement; [] when it has none or it was deleted since it was asked."""
    if session.question_id is None:
        return []
    page = list(Question.objects.raw(_QUESTIONS_FROM, [session.question_id, survey.pk, 1 + _READ_AHEAD]))
    return page if page and page[0].pk == session.question_id else []


def _reply(session: SmsSession, body: str, *, now) -> str:
    """Take `body` as the answer to the session's question -> the next text."""
    survey = session.invitation.distribution.survey
    page = _questions_from(session, survey)
    if not page:  # deleted since it was asked
        return _ask_after(session, previous=None, now=now)
    question, following = page[0], _Page(page[1:], full=len(page) > _READ_AHEAD)
    session.question = question
    if not question_sms_askable(question).yes:  # changed since it was asked
        return _ask_after(session, previous=question, following=following, now=now)
    value = sms_answer_value(question, body)
    if value is None:
        if session.reasks < survey.sms_invalid_reply_limit:
            session.reasks += 1
            _touch(session, now=now)
            return f"{HINTS[question.kind]}\n\n{_ask(session, question)}"
        if survey.sms_after_invalid_replies == SmsAfterInvalidReplies.END:
            _end(session, state=State.CLOSED, detail="No valid answer after the re-asks.", now=now)
            return ENDED_AFTER_INVALID_REPLIES
        return _ask_after(session, previous=question, following=following, now=now)
    _answer_save(session.invitation, question=question, value=value)
    return _ask_after(session, previous=question, following=following, now=now)


def _ask_after(session: SmsSession, *, previous: Question | None, now, following: _Page | None = None) -> str:
    """Ask the question after `previous`, or finish the survey when there is none. Without
    `previous` (deleted since it was asked), the first question not answered yet. `following`:
    the questions after `previous`, read with it."""
    survey = session.invitation.distribution.survey
    if previous is not None:
        question = _next_question(survey, after=previous, following=following)
    else:
        response = _response(session.invitation)
        question = _next_question(survey, answered=response.answers if response is not None else {})
    if question is None:
        _end(session, state=State.FINISHED, detail="", now=now)
        return _piped(survey.sms_thank_you, session.invitation).strip()
    session.question, session.reasks = question, 0
    _touch(session, now=now)
    return _ask(session, question)


def _touch(session: SmsSession, *, now) -> None:
    hours = session.invitation.distribution.survey.sms_session_expiry_hours
    session.last_activity_at, session.expires_at = now, now + timedelta(hours=hours)
    session.save(update_fields=["question", "reasks", "last_activity_at", "expires_at"])


def sms_answer_value(question: Question, body: str):
    """The answer a reply gives to `question`, in the stored shape of services/answers.py, or
    None when it does not answer it. Multiple choice: the option's number ("2"), or else its text
    ("good", "Très bien" for "tres bien"); rating: "0".."10"; text entry: any text."""
    # Invisible format characters (a zero-width space, a word joiner) a keyboard left are not part
    # of a choice or a rating: "2\u200b" is "2". A text entry keeps them (emoji join with them).
    visible = "".join(char for char in body if unicodedata.category(char) != "Cf").strip()
    text = body.strip()
    if question.kind == Kind.MULTIPLE_CHOICE:
        options = question.choice_list()
        number = _number_reply(visible)
        # The text asks for an option's number, so a number in range is one even when an option
        # reads as another number (options "2", "1": "1" is the first, as listed).
        if not (number.isascii() and number.isdigit() and 1 <= int(number) <= len(options)):
            reply = _folded(visible)
            folded = [_folded(option) for option in options]
            number = str(folded.index(reply) + 1) if reply in folded else _listed_option(reply, folded) or number
        text = number
    elif question.kind == Kind.RATING:
        text = _number_reply(visible)
    elif not visible:
        return None
    value, error = answer_check(question, text)
    return None if error else value


# An option copied as the text lists it: "2. Good" (or "2) Good", "2 - Good", "2 Good").
_LISTED = re.compile(r"(\d{1,3})\s*[.):-]?\s+(.+)")


def _listed_option(reply: str, folded: list[str]) -> str:
    """The number of the option `reply` (folded) copies with its number, as the text lists it, or ""
    when the number and the text are not of one option."""
    listed = _LISTED.fullmatch(reply)
    if listed is None:
        return ""
    number = int(listed[1])
    return str(number) if 1 <= number <= len(folded) and folded[number - 1] == listed[2] else ""


def _number_reply(text: str) -> str:
    """A reply read as a number is written: "#2", "2️⃣" (an emoji keyboard's keycap) and "２" (a
    full-width digit, as Chinese and Japanese keyboards type it) are "2"; other text is returned
    without its surrounding punctuation."""
    plain = unicodedata.normalize("NFKC", text)
    plain = "".join(char for char in plain if char not in _KEYCAP_MARKS).strip(_PUNCTUATION)
    if plain.startswith("#") and plain[1:].strip().isdigit():
        return plain[1:].strip()
    return plain


def _folded(text: str) -> str:
    """`text` without case, accents or surrounding punctuation, its spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.strip(_PUNCTUATION))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(plain.casefold().split())


def _answer_save(invitation: Invitation, *, question: Question, value) -> None:
    """Save one answer in the invitation's response; the first one starts it (Survey Started),
    recording the contact's embedded data as the survey page does."""
    response = _response(invitation)
    if response is None:
        survey = invitation.distribution.survey
        # The declared fields first, read once: without any, the contact need not be read.
        prefetch_related_objects([survey], "fields")
        declared = declared_embedded_data(survey=survey, contact=invitation.contact) if survey.fields.all() else {}
        Response.objects.create(
            invitation=invitation, survey=survey, answers={str(question.pk): value}, embedded_data=declared
        )
        invitation_record(invitation=invitation, kind=EventKind.STARTED, status=Status.SURVEY_STARTED)
        return
    response.answers = {**response.answers, str(question.pk): value}
    response.save(update_fields=["answers", "updated_at"])


def _response(invitation: Invitation) -> Response | None:
    """The invitation's response (read with the session, or created since), or None."""
    try:
        return invitation.response
    except Response.DoesNotExist:
        return None


# --- asking -----------------------------------------------------------------------------------


def _next_question(
    survey: Survey, *, after: Question | None = None, answered=(), following: _Page | None = None
) -> Question | None:
    """The survey's first question a text can ask, after `after` (in the survey's order) and not
    in `answered` (question ids as strings), or None. `following`: the questions after `after`,
    read already; the rest is read only when none of them can be asked. Reads a few questions at
    a time: a reply costs the same however long the survey."""
    batch = 4
    page, full = (following.questions, following.full) if following is not None else (None, True)
    while True:
        if page is None:
            questions = survey.questions.order_by("position", "id")
            if after is not None:
                questions = questions.filter(
                    Q(position__gt=after.position) | Q(position=after.position, pk__gt=after.pk)
                )
            page = list(questions[:batch])
            full = len(page) == batch
            batch *= 4
        for question in page:
            if str(question.pk) not in answered and question_sms_askable(question).yes:
                return question
        if not full or not page:
            return None
        after, page = page[-1], None


def _ask(session: SmsSession, question: Question) -> str:
    """The text that asks `question`, its piped text filled for the session's contact."""
    text = _piped(question.text, session.invitation).strip()
    if question.kind == Kind.MULTIPLE_CHOICE:
        options = "\n".join(f"{number}. {option}" for number, option in enumerate(question.choice_list(), start=1))
        return f"{text}\n{options}\nReply with a number."
    if question.kind == Kind.RATING:
        return f"{text}\nReply with a number from {RATING_MIN} to {RATING_MAX}."
    return text


def _piped(template: str, invitation: Invitation) -> str:
    # Without "${" a template has nothing to fill: its text is the answer, and the contact is not read.
    if not template or "${" not in template or invitation.contact_id is None or invitation.contact is None:
        return template
    return render(template, invitation_piping_sources(invitation, absolute_links=True), for_reader=True).text


# --- ending -----------------------------------------------------------------------------------


def sms_sessions_expire(*, now=None) -> int:
    """Expire the open sessions whose expiry time has passed -> how many were expired.

    Each is expired in its own transaction with its conversation locked, so a reply arriving at
    the same time is handled before (and the session lives on) or after (no session is open). A
    session whose text has not gone yet (waiting for it, or, opened before sessions waited, its
    invitation still pending) does not expire: its time starts when the text goes."""
    now = now or timezone.now()
    due = (
        SmsSession.objects.filter(state=State.OPEN, expires_at__lte=now)
        .exclude(invitation__status=Status.PENDING)
        .values_list("pk", "conversation__phone")
    )
    expired = 0
    for pk, phone in list(due.iterator()):
        with transaction.atomic():
            sms_conversation_locked(phone=phone)
            session = SmsSession.objects.filter(pk=pk, state=State.OPEN, expires_at__lte=now).first()
            if session is not None and _expired(session, now=now):
                _expire(session, now=now)
                expired += 1
    return expired


def sms_session_end_unsent(*, invitation_id: int, detail: str) -> bool:
    """End the two-way SMS session of an invitation whose text never reached the phone: the
    provider refused it, or reported it undelivered or failed, or it was not sent (skipped, opted
    out). -> whether a session was ended.

    A session still waiting for its text ends without touching the number's open session, which
    goes on taking its replies. Left open, the number's next text (an answer to another survey, a
    "hello") would be taken as an answer to a question it never received, and the expiry job would
    turn SMS Failed into Session Expired. A session with answers is left alone: its text did
    arrive. Call it in the transaction that records the failure.
    """
    not_ended = (State.WAITING, State.OPEN)
    phone = (
        SmsSession.objects.filter(invitation_id=invitation_id, state__in=not_ended)
        .values_list("conversation__phone", flat=True)
        .first()
    )
    if phone is None:
        return False
    with transaction.atomic():
        sms_conversation_locked(phone=phone)
        session = (
            SmsSession.objects.filter(invitation_id=invitation_id, state__in=not_ended)
            .select_related("invitation__response")
            .first()
        )
        if session is None or _response(session.invitation) is not None:
            return False
        _end(session, state=State.CLOSED, detail=detail, now=timezone.now())
    return True


def _expired(session: SmsSession, *, now) -> bool:
    """Whether `session` is past its expiry time, its text having gone (see sms_sessions_expire)."""
    return session.expires_at <= now and session.invitation.status != Status.PENDING


def _expire(session: SmsSession, *, now) -> None:
    hours = session.invitation.distribution.survey.sms_session_expiry_hours
    _end(session, state=State.EXPIRED, detail=f"No reply for {hours} hours.", now=now)


def _end(session: SmsSession, *, state: str, detail: str, now) -> None:
    """End `session` in `state` and record what it means for the invitation. Answers given stay
    in the response; only a finished session finishes it."""
    session.state, session.state_detail, session.ended_at = state, detail, now
    session.save(update_fields=["state", "state_detail", "ended_at"])
    invitation = session.invitation
    response = _response(invitation)
    if state == State.FINISHED:
        if response is not None:
            response.finished_at = now
            response.save(update_fields=["finished_at", "updated_at"])
            invitation_record(invitation=invitation, kind=EventKind.FINISHED, status=Status.SURVEY_FINISHED)
        else:  # every question was skipped after invalid replies: nothing to keep
            invitation_record(invitation=invitation, kind=SessionEvent.ENDED, detail="No question was answered.")
        return
    if state == State.EXPIRED:
        # A text whose hand-off was uncertain is SMS Failed with its session left open (it may have
        # arrived); unanswered, it stays SMS Failed: Session Expired would count it as sent.
        unsent = invitation.status == Status.SMS_FAILED and response is None
        status = None if unsent else Status.SESSION_EXPIRED
        invitation_record(invitation=invitation, kind=SessionEvent.EXPIRED, status=status, detail=detail)
        return
    if state == State.STOPPED:
        invitation_record(invitation=invitation, kind=EventKind.OPTED_OUT, status=Status.OPTED_OUT, detail=detail)
    if response is not None:
        invitation_record(
            invitation=invitation,
            kind=EventKind.PARTIALLY_FINISHED,
            status=Status.SURVEY_PARTIALLY_FINISHED,
            detail=detail,
        )
    elif state != State.STOPPED:
        kind = SessionEvent.CLOSED if state == State.CLOSED else SessionEvent.ENDED
        invitation_record(invitation=invitation, kind=kind, detail=detail)
