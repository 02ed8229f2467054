"""Sending an invitation's email exactly once: now, after a delay, retried, or interrupted.

The claim. A conditional update sets `sent_at` only where it is null and the invitation is
Pending, and it COMMITS before the email backend is called. Whoever changed the row sends it, and
nobody else ever does: the schedule picks up unclaimed invitations only, a run retried after its
task succeeded never runs the task again, and a task that failed before committing claimed
nothing and sent nothing.

The window that is left: from the claim's commit to the commit of the outcome. A worker that
dies there leaves the invitation Pending with `sent_at` set. Invitations claimed together (a
batch of runs) are sent in id order, each outcome committed before the next message is handed
over, so of one claim only the first invitation without an outcome can have reached the server.
Once SEND_LEASE has passed, the schedule records that one as Email Failed ("interrupted ... may
have been sent") and never sends it again, and releases the claim's others, which were never
sent, to be sent as usual. So a crash after the mail server accepted a message and before its
status was saved never produces a second email; the price is that a crash after the claim and
before the server accepted the message loses that one email, visibly. The same holds when the
connection breaks mid-send (channels.email.Outcome.UNCERTAIN). Every attempt uses the same
Message-ID, so an ESP that deduplicates on it is a second guard.

On PostgreSQL an "Email Sent" outcome commits asynchronously (synchronous_commit off for that
one transaction): the next message is handed over without waiting for the disk. The record is
visible to every session at once and survives the worker's death, so the window above is the
same. Only a crash of the database server itself (or of its machine) can lose the outcomes
committed in the fraction of a second before it (at most three wal_writer_delay). So the reaper
treats a claim written before the server last started or recovered from a crash as wholly in doubt:
every invitation of it without an outcome is recorded as interrupted and never sent again.

Temporary failures (no connection, 4xx) release the claim and retry with exponential backoff
for RUN_RETRY_WINDOW_SECONDS, like workflow tasks; permanent ones (5xx) are Email Failed.
"""

import logging
import re
import time
import uuid
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from directory.models import Contact
from distributions.channels.email import Outcome, email_hand_off, invitation_email, invitation_message_id
from distributions.channels.phones import sms_phone_number
from distributions.models import Distribution, Invitation, SmsMessage, Survey
from distributions.services.invitation_channels import SmsSendEvent, channel_terms, is_sms
from distributions.services.quiet_hours import QuietUntil, quiet_hours_wait
from distributions.services.recipient_rules import invitation_skip_reasons
from distributions.services.sms import sms_message_send
from distributions.services.sms_sessions import (
    SmsSessionError,
    sms_session_end_unsent,
    sms_session_start,
    sms_session_text_gone,
)
from distributions.services.status import invitation_record
from distributions.services.tracking import esp_sent_event_key
from workflows.public_urls import public_url
from workflows.salesforce.values import InvalidValue
from workflows.tasks.registry import TaskError

logger = logging.getLogger(__name__)

Status = Invitation.Status

# Longer than any SMTP conversation can take (EMAIL_TIMEOUT per command), so a claim older than
# this belongs to a worker that died.
SEND_LEASE = timedelta(minutes=10)
FIRST_RETRY_DELAY = timedelta(minutes=1)
# Due invitations claimed and sent together by the schedule.
SEND_CHUNK = 50


def opt_out_url(token: str) -> str:
    return public_url("distributions:opt-out", args=[token])


def invitation_record_skip(*, invitation: Invitation, status: str, detail: str) -> None:
    """Record that `invitation` is not sent (`status`: opted out, or its channel's skipped status).
    A two-way survey's session, started by an earlier attempt that was put off, ends with it: it
    never becomes the number's open session, and the open session of an older survey goes on."""
    events = channel_terms(invitation.distribution.channel).events
    kind = events.OPTED_OUT if status == Status.OPTED_OUT else events.SKIPPED
    with transaction.atomic():
        invitation_record(invitation=invitation, kind=kind, status=status, detail=detail)
        if invitation.distribution.channel == Distribution.Channel.TWO_WAY_SMS:
            sms_session_end_unsent(invitation_id=invitation.pk, detail=detail)


def invitation_claim(*, invitation: Invitation, now: datetime) -> bool:
    """Take the right to send: only one caller ever gets True for an invitation.

    The caller must hold the contact's row lock and have checked the recipient rules in the same
    transaction, and must commit before sending.
    """
    return bool(invitations_claim(invitations=[invitation], now=now))


def invitations_claim(
    *, invitations: list[Invitation], now: datetime, isolate_failures: bool = False
) -> list[Invitation]:
    """`invitation_claim` for many in one statement, as one claim. -> those claimed (they get sent_at)

    A two-way invitation's session is started here (its first message becomes its text). When it
    cannot start, the exception propagates (a task's transaction rolls back and says why), or with
    `isolate_failures` (the schedule, claiming invitations of many tasks together) that invitation
    alone is SMS Failed and the others are claimed."""
    claim = uuid.uuid4()
    claimed = Invitation.objects.filter(
        pk__in=[invitation.pk for invitation in invitations], status=Status.PENDING, sent_at__isnull=True
    ).update(sent_at=now, claim=claim, updated_at=now)
    if claimed < len(invitations):  # some changed meanwhile (e.g. opted out on the survey page)
        ours = set(Invitation.objects.filter(claim=claim).values_list("pk", flat=True))
        invitations = [invitation for invitation in invitations if invitation.pk in ours]
    for invitation in invitations:
        invitation.sent_at, invitation.claim = now, claim
    return _two_way_sessions_start(invitations, isolate_failures=isolate_failures)


def _two_way_sessions_start(invitations: list[Invitation], *, isolate_failures: bool) -> list[Invitation]:
    """Start the session of each claimed two-way invitation, in the claim's transaction, and keep its
    first message as the invitation's text: sent like an SMS invitation's, exactly once. The
    session opens when the text goes (`_record`, `_record_interrupted`).
    -> the invitations to send (see `invitations_claim` for those whose session cannot start)"""
    started = []
    for invitation in invitations:
        if invitation.distribution.channel != Distribution.Channel.TWO_WAY_SMS:
            started.append(invitation)
            continue
        try:
            with transaction.atomic():  # a savepoint: what a failed start wrote is undone
                invitation.text_body = sms_session_start(invitation=invitation)
        except Exception as error:
            if not isolate_failures:
                if isinstance(error, SmsSessionError):
                    raise TaskError(f"The two-way SMS survey could not start: {error}") from None
                raise
            logger.exception("The two-way SMS session of invitation %s could not start", invitation.pk)
            _release(invitation, send_after=invitation.send_after)
            invitation_record(
                invitation=invitation,
                kind=SmsSendEvent.FAILED,
                status=Status.SMS_FAILED,
                detail=f"Not sent: the two-way survey could not start ({error or type(error).__name__}).",
            )
            continue
        Invitation.objects.filter(pk=invitation.pk).update(text_body=invitation.text_body)
        started.append(invitation)
    return started


def invitation_claim_due(*, invitation_id: int, now: datetime | None = None) -> Invitation | None:
    """Check the recipient rules again and claim a due invitation. -> the claimed invitation, or None."""
    claimed = invitations_claim_due(invitation_ids=[invitation_id], now=now)
    return claimed[0] if claimed else None


def invitations_claim_due(*, invitation_ids: list[int], now: datetime | None = None) -> list[Invitation]:
    """Check the recipient rules again, address each to its contact's current email, and claim, as
    one claim, those of these invitations that are still due. -> the claimed invitations, in id
    order (the order to send them in)."""
    now = now or timezone.now()
    contact_ids = set(Invitation.objects.filter(pk__in=invitation_ids).values_list("contact_id", flat=True))
    with transaction.atomic():
        # One sender per contact at a time: the duplicate and frequency checks see each other's
        # claims. Locked in id order, so two schedulers never wait on each other crosswise.
        contacts = Contact.objects.select_for_update().order_by("pk").in_bulk(contact_ids)
        due = [
            invitation
            for invitation in Invitation.objects.select_related("distribution__survey").filter(pk__in=invitation_ids)
            if invitation.status == Status.PENDING
            and invitation.sent_at is None
            and (invitation.send_after is None or invitation.send_after <= now)
        ]
        due.sort(key=lambda invitation: invitation.pk)
        for invitation in due:
            invitation.contact = contacts[invitation.contact_id]
        due = _readdressed(_outside_quiet_hours(_of_active_surveys(due), now))
        to_send = []
        for invitation, skip in zip(due, invitation_skip_reasons(invitations=due, now=now), strict=True):
            if skip is not None:
                invitation_record_skip(invitation=invitation, status=skip.status, detail=skip.detail)
            else:
                to_send.append(invitation)
        for invitation in to_send:
            # Made before Message-IDs were stored at creation (emails only: texts have none).
            if not invitation.message_id and not is_sms(invitation.distribution.channel):
                invitation.message_id = invitation_message_id(
                    token=invitation.token, from_email=invitation.distribution.from_email
                )
                Invitation.objects.filter(pk=invitation.pk).update(message_id=invitation.message_id)
        return invitations_claim(invitations=to_send, now=now, isolate_failures=True)


def invitation_put_off_for_quiet_hours(*, invitation: Invitation, at: datetime) -> QuietUntil | None:
    """When `invitation` is a text due at `at` in its recipient's quiet hours (SMS_QUIET_HOURS):
    put it off until they end (its send_after), with an event saying why. -> the wait, or None
    when it may go at `at`."""
    wait = is_sms(invitation.distribution.channel) and quiet_hours_wait(phone=invitation.address, at=at)
    if not wait:
        return None
    expires_at = _expiry_moved(invitation, send_after=wait.until)
    Invitation.objects.filter(pk=invitation.pk).update(
        send_after=wait.until, expires_at=expires_at, updated_at=timezone.now()
    )
    invitation.send_after, invitation.expires_at = wait.until, expires_at
    invitation_record(invitation=invitation, kind=SmsSendEvent.QUIET_HOURS, detail=wait.detail)
    return wait


def _outside_quiet_hours(invitations: list[Invitation], now: datetime) -> list[Invitation]:
    """The invitations that may go now; texts due in their recipient's quiet hours are put off."""
    return [i for i in invitations if not invitation_put_off_for_quiet_hours(invitation=i, at=now)]


def _of_active_surveys(invitations: list[Invitation]) -> list[Invitation]:
    """The invitations whose survey is active now; the others are skipped, saying why.

    A survey is sent only while it is active (MISSION.md). An invitation whose send was delayed,
    put off or retried may fall due after its survey was closed or paused: its link would only
    say the survey is not open, so it is not sent (a later event sends a new one once the survey
    is active again)."""
    active = []
    for invitation in invitations:
        survey = invitation.distribution.survey
        if survey.status == Survey.Status.ACTIVE:
            active.append(invitation)
            continue
        invitation_record_skip(
            invitation=invitation,
            status=channel_terms(invitation.distribution.channel).skipped,
            detail=f'Not sent: the survey "{survey}" was {survey.get_status_display().lower()} when this invitation '
            "fell due. Activate the survey to send to this person again.",
        )
    return active


def _current_address(invitation: Invitation) -> tuple[str, str]:
    """The address the invitation's contact has now on its channel, or "" and why there is none."""
    contact = invitation.contact
    if not is_sms(invitation.distribution.channel):
        return contact.email, "no email address any more"
    if not contact.phone:
        return "", "no phone number any more"
    try:
        return sms_phone_number(contact.phone), ""
    except InvalidValue as error:
        return "", f"no phone number a text can go to any more ({error})"


def _readdressed(invitations: list[Invitation]) -> list[Invitation]:
    """The invitations addressed to their contact's email (a text's: phone) as it is now. -> those
    that still have one

    An invitation keeps the address its contact had when it was created; when its send is
    delayed or retried, the address may have been corrected since, and the old one may reach
    someone else. The contacts must be freshly read, under their row lock.
    """
    addressed = []
    for invitation in invitations:
        address, missing = _current_address(invitation)
        if address == invitation.address:
            addressed.append(invitation)
            continue
        terms = channel_terms(invitation.distribution.channel)
        if not address:
            invitation_record_skip(
                invitation=invitation,
                status=terms.skipped,
                detail=f"Not sent: {invitation.contact} has {missing} (it was {invitation.address}).",
            )
            continue
        detail = (
            f"The contact's {terms.address} changed from {invitation.address} to {address} before sending: "
            f"sent to {address}."
        )
        Invitation.objects.filter(pk=invitation.pk).update(address=address, updated_at=timezone.now())
        invitation.address = address
        invitation_record(invitation=invitation, kind=terms.events.READDRESSED, detail=detail)
        addressed.append(invitation)
    return addressed


def invitations_deliver(*, invitations: list[Invitation], connection: BaseEmailBackend | None = None) -> list[Outcome]:
    """Hand claimed invitations to their channel, each once, in id order, and record what happened
    to each: emails over one connection to the email backend, texts to SMS_BACKEND. Only the
    caller whose claim succeeded may call this, after the claim committed.

    Each outcome is committed before the next message is handed over, so of a claim whose worker
    died, only the first invitation without an outcome can have been on the wire (see
    `invitations_reap_interrupted`).
    """
    own_connection = connection is None
    connection = connection or get_connection(fail_silently=False)
    backend = f"{type(connection).__module__}.{type(connection).__qualname__}"
    outcomes = []
    emails = 0
    try:
        for invitation in sorted(invitations, key=lambda invitation: invitation.pk):
            if is_sms(invitation.distribution.channel):
                outcomes.append(_text(invitation))
                continue
            message = invitation_email(invitation=invitation, opt_out_url=opt_out_url(invitation.token))
            # A session this call used a moment ago is alive; only one it was given may have idled out.
            hand_off = email_hand_off(message=message, connection=connection, probe_session=emails == 0)
            emails += 1
            outcomes.append(hand_off.outcome)
            if hand_off.outcome != Outcome.ACCEPTED:  # the server may have dropped the session
                _close_quietly(connection)
            _record(
                invitation,
                hand_off.outcome,
                hand_off.detail,
                data={"message_id": invitation.message_id, "backend": backend},
                retry_after=hand_off.retry_after,
                esp_message=(hand_off.esp_name, hand_off.esp_message_id),
            )
    finally:
        if own_connection:
            _close_quietly(connection)
    return outcomes


def _text(invitation: Invitation) -> Outcome:
    """Send a claimed invitation's text (services/sms.py writes it to the number's conversation)."""
    sent = sms_message_send(to=invitation.address, body=invitation.text_body, invitation=invitation)
    message = sent.message
    data = {"sms_message_id": message.pk, "message_sid": message.message_sid, "provider": message.provider}
    if message.error_code:
        data["error_code"] = message.error_code
    _record(invitation, sent.outcome, message.status_detail, data=data)
    return sent.outcome


def _record(
    invitation: Invitation,
    outcome: Outcome,
    detail: str,
    *,
    data: dict,
    retry_after: timedelta | None = None,
    esp_message: tuple[str, str] = ("", ""),
) -> None:
    now = timezone.now()
    terms = channel_terms(invitation.distribution.channel)
    two_way = invitation.distribution.channel == Distribution.Channel.TWO_WAY_SMS
    if outcome == Outcome.ACCEPTED and not two_way:  # one transaction of its own (invitation_record is atomic)
        esp_name, esp_message_id = esp_message
        invitation_record(
            invitation=invitation,
            kind=terms.events.SENT,
            status=terms.sent,
            data=data,
            asynchronous_commit=True,
            # The ESP's id of the message, for its tracking events that report only that id.
            **(esp_sent_event_key(esp_name=esp_name, esp_message_id=esp_message_id) if esp_message_id else {}),
        )
        return
    with transaction.atomic():
        # A two-way survey's text went, or may have arrived: its session opens with the record.
        # First: the conversation's row is locked before the invitation's, as a reply locks them.
        if two_way and outcome in (Outcome.ACCEPTED, Outcome.UNCERTAIN):
            sms_session_text_gone(invitation_id=invitation.pk)
        if outcome == Outcome.ACCEPTED:
            invitation_record(invitation=invitation, kind=terms.events.SENT, status=terms.sent, data=data)
        elif outcome == Outcome.UNCERTAIN:
            _log_not_sent(invitation, "failed, may have been sent", detail)
            invitation_record(
                invitation=invitation, kind=terms.events.FAILED, status=terms.failed, detail=detail, data=data
            )
        elif outcome == Outcome.TEMPORARY and (retry_at := _retry_at(invitation, now, retry_after)) is not None:
            _release(invitation, send_after=retry_at)
            _log_not_sent(invitation, f"not sent, retrying at {retry_at:%Y-%m-%d %H:%M:%S} UTC", detail)
            invitation_record(
                invitation=invitation,
                kind=terms.events.DEFERRED,
                detail=f"{detail}. Retrying at {retry_at:%Y-%m-%d %H:%M:%S} UTC.",
                data=data,
            )
        else:
            if outcome == Outcome.TEMPORARY:
                hours = settings.RUN_RETRY_WINDOW_SECONDS // 3600
                detail = f"Gave up after retrying for {hours} hours: {detail}"
            _log_not_sent(invitation, "failed", detail)
            _release(invitation, send_after=invitation.send_after)  # not sent: it counts for no rule
            invitation_record(
                invitation=invitation, kind=terms.events.FAILED, status=terms.failed, detail=detail, data=data
            )
            if two_way:  # the number's open session, of an older survey, goes on
                sms_session_end_unsent(
                    invitation_id=invitation.pk, detail=f"The survey's text could not be sent: {detail}".rstrip(": ")
                )


# Addresses and phone numbers in a provider's answer ("550 <ada@example.com>: no such user"): kept
# out of the log, which a deleted contact's erasure cannot reach; the delivery history has them.
_PERSONAL = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+|\+\d[\d ().-]{6,}\d")


def _log_not_sent(invitation: Invitation, what: str, detail: str) -> None:
    """One warning line per invitation a provider did not take (the mail server unreachable or
    refusing, Twilio failing), so whoever watches the workers' log sees a provider outage as it
    happens, not only on each invitation's delivery history. Addresses and numbers are left out."""
    logger.warning(
        "Invitation %s (%s) %s: %s",
        invitation.pk,
        invitation.distribution.channel,
        what,
        _PERSONAL.sub("<address>", detail) or "no detail",
    )


def _retry_at(invitation: Invitation, now: datetime, retry_after: timedelta | None = None) -> datetime | None:
    """When to try again after a temporary failure, or None once the retry window is used up: the
    backoff's delay, or the longer `retry_after` the provider asked for (an ESP's Retry-After), so
    a rate-limited ESP is not called again before it said it would take the message."""
    deferrals = list(
        invitation.events.filter(kind=channel_terms(invitation.distribution.channel).events.DEFERRED)
        .order_by("occurred_at")
        .values_list("occurred_at", flat=True)
    )
    first_failure = deferrals[0] if deferrals else now
    if now - first_failure >= timedelta(seconds=settings.RUN_RETRY_WINDOW_SECONDS):
        return None
    delay = min(FIRST_RETRY_DELAY * 2 ** len(deferrals), timedelta(seconds=settings.RUN_RETRY_MAX_DELAY_SECONDS))
    return now + max(delay, retry_after or timedelta(0))


def _release(invitation: Invitation, *, send_after: datetime | None) -> None:
    expires_at = _expiry_moved(invitation, send_after=send_after)
    Invitation.objects.filter(pk=invitation.pk, sent_at=invitation.sent_at).update(
        sent_at=None, claim=None, send_after=send_after, expires_at=expires_at, updated_at=timezone.now()
    )
    invitation.sent_at, invitation.claim, invitation.send_after = None, None, send_after
    invitation.expires_at = expires_at


def _expiry_moved(invitation: Invitation, *, send_after: datetime | None) -> datetime | None:
    """The invitation's link expiry when it is put off from its send_after to `send_after` (quiet
    hours, a retry): later by as much, so that the link still works the days the task set after
    sending (distributions/tasks.py, link_expiration_days). -> None for a link that never expires."""
    if invitation.expires_at is None or invitation.send_after is None or send_after is None:
        return invitation.expires_at
    return invitation.expires_at + max(send_after - invitation.send_after, timedelta(0))


def _close_quietly(connection: BaseEmailBackend) -> None:
    try:
        connection.close()
    except Exception:  # the message's fate is decided; a failing QUIT changes nothing
        logger.warning("Closing the email connection failed", exc_info=True)


def invitations_reap_interrupted(*, now: datetime | None = None) -> int:
    """Invitations claimed longer than SEND_LEASE ago with no outcome: their worker died mid-send.

    Of each claim, the first (in id order, the sending order) may have been sent and is recorded
    as interrupted (a text whose row holds the provider's message SID was sent, and is recorded
    SMS Sent); the claim's others were never handed over and are released to be sent. A claim
    written before the database server last started or recovered may have lost outcomes committed
    asynchronously (see the module's docstring): all of its invitations without an outcome are
    recorded as interrupted. -> invitations recorded as interrupted (or, texts, as sent)
    """
    now = now or timezone.now()
    stuck = Invitation.objects.select_related("distribution").filter(
        status=Status.PENDING, sent_at__lt=now - SEND_LEASE
    )
    server_started = database_server_started_at()
    reaped = 0
    for _claim, claimed in groupby(stuck.order_by("sent_at", "claim", "pk")[:1000], key=lambda i: (i.sent_at, i.claim)):
        first, *never_sent = claimed
        in_doubt = [first]
        # updated_at: when the claim was written (sent_at is the claim's time as the worker saw it).
        if server_started is not None and min(i.updated_at for i in [first, *never_sent]) < server_started:
            in_doubt, never_sent = [first, *never_sent], []
        for invitation in in_doubt:
            if _record_interrupted(invitation):
                reaped += 1
        for invitation in never_sent:
            with transaction.atomic():
                claimed_at = invitation.sent_at
                _release(invitation, send_after=invitation.send_after)
                invitation_record(
                    invitation=invitation,
                    kind=channel_terms(invitation.distribution.channel).events.RELEASED,
                    detail=f"Not sent: the worker stopped before its turn (claimed at {claimed_at:%Y-%m-%d %H:%M:%S} "
                    "UTC, with others sent before it). It is sent again as usual.",
                )
    return reaped


def _record_interrupted(invitation: Invitation) -> bool:
    """Record what is known of a claimed invitation whose worker stopped: a text the provider
    accepted (its row has the message SID) is SMS Sent; anything else may have been sent, and is
    recorded failed with why, never sent again. Either way a two-way survey's text may have
    arrived: its session opens with the record."""
    if invitation.distribution.channel == Distribution.Channel.TWO_WAY_SMS:
        with transaction.atomic():  # the conversation's row first, as a reply locks them
            sms_session_text_gone(invitation_id=invitation.pk)
            return _record_interrupted_status(invitation)
    return _record_interrupted_status(invitation)


def _record_interrupted_status(invitation: Invitation) -> bool:
    terms = channel_terms(invitation.distribution.channel)
    accepted = _text_accepted(invitation) if is_sms(invitation.distribution.channel) else None
    if accepted is not None:
        detail = (
            f"The worker stopped after the SMS provider accepted this text ({accepted.message_sid}) and before "
            "recording it: recorded now."
        )
        data = {"sms_message_id": accepted.pk, "message_sid": accepted.message_sid, "provider": accepted.provider}
        return invitation_record(
            invitation=invitation, kind=terms.events.SENT, status=terms.sent, detail=detail, data=data
        )
    return invitation_record(
        invitation=invitation,
        kind=terms.events.INTERRUPTED,
        status=terms.failed,
        detail=_interrupted_detail(invitation),
    )


def _text_accepted(invitation: Invitation) -> SmsMessage | None:
    """The invitation's text as the provider accepted it (it has a message SID), if it did."""
    return (
        SmsMessage.objects.filter(invitation_id=invitation.pk, direction=SmsMessage.Direction.OUTBOUND)
        .exclude(message_sid="")
        .exclude(status=SmsMessage.Status.FAILED)
        .first()
    )


def _interrupted_detail(invitation: Invitation) -> str:
    if is_sms(invitation.distribution.channel):
        what, answer = "text", "the SMS provider's answer"
        where = (
            f"It may have been sent, so it is not sent again; the SMS conversation with {invitation.address} "
            "shows whether the provider took it."
        )
    else:
        what, answer = "email", "the mail server's answer"
        where = (
            f"It may have been sent (Message-ID {invitation.message_id}), so it is not sent again; check the "
            "recipient's inbox or the mail log."
        )
    return (
        f"Interrupted: the worker stopped after claiming this {what} at "
        f"{invitation.sent_at:%Y-%m-%d %H:%M:%S} UTC and before recording {answer}. {where}"
    )


def database_server_started_at() -> datetime | None:
    """When the PostgreSQL server last started or recovered from a crash: the later of its start
    and the reset of its shared statistics, which crash recovery resets (and an administrator may
    reset too, which only makes the reaper more careful). None elsewhere: no outcome is committed
    asynchronously there."""
    if db_connection.vendor != "postgresql":
        return None
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT GREATEST(pg_postmaster_start_time(), (SELECT stats_reset FROM pg_stat_bgwriter))")
        return cursor.fetchone()[0]


def _due_ids(*, ids: list[int] | None, now: datetime, limit: int) -> list[int]:
    due = Invitation.objects.filter(
        status=Status.PENDING,
        sent_at__isnull=True,
        send_after__lte=now,
    )
    if ids is not None:
        due = due.filter(pk__in=ids)
    return list(due.order_by("send_after", "pk").values_list("pk", flat=True)[:limit])


def invitations_send_due(*, ids: list[int] | None = None, max_invitations: int = 500, max_seconds: float = 60.0) -> int:
    """Send due pending invitations (those of `ids` only, if given) over one connection. -> sent.

    Safe to run anywhere, any number of times at once: each invitation is claimed before it is sent.
    They are claimed SEND_CHUNK at a time, each chunk sent before the next is claimed. The share of
    work keeps one job well inside django-q2's timeout; the next run takes the rest.
    """
    invitations_reap_interrupted()
    deadline = time.monotonic() + max_seconds
    due_ids = _due_ids(ids=ids, now=timezone.now(), limit=max_invitations)
    connection = get_connection(fail_silently=False)
    sent = 0
    try:
        for start in range(0, len(due_ids), SEND_CHUNK):
            if time.monotonic() > deadline:
                break
            claimed = invitations_claim_due(invitation_ids=due_ids[start : start + SEND_CHUNK])
            outcomes = invitations_deliver(invitations=claimed, connection=connection)
            sent += outcomes.count(Outcome.ACCEPTED)
    finally:
        _close_quietly(connection)
    return sent
