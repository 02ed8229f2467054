"""Purging old texts: SMS messages, ended two-way SMS survey sessions, and the conversations left
empty, after RETENTION_DAYS as the workflow history is (workflows.services.retention). A text holds
the phone it went to or came from and its body (a contact's name, their answers); the invitation
keeps its status, and the response its answers, after the texts that made them are gone.

A conversation with an open session keeps its texts: the session still needs them, and an open
session is at most its survey's expiry old. A number's last carrier keyword stays when it is an
opt-out (STOP...): it is what keeps the number from being texted again, also to a contact created
or given the number later (services/recipient_rules.py), until a START follows it. A conversation
goes once it has neither texts nor sessions; its row is locked first, as every writer locks it
(services/sms.py, sms_conversation_locked) before adding a text, so a text arriving meanwhile is
never lost.
"""

import logging
import time
from collections import Counter
from datetime import datetime

from django.db.models import Exists, OuterRef, Q

from distributions.models import SmsConversation, SmsMessage, SmsSession
from workflows.services.retention import MAX_SECONDS, old_rows_purge, retention_cutoff

logger = logging.getLogger(__name__)


def texts_purge(*, now: datetime | None = None, batch_size: int = 1000, max_seconds: float = MAX_SECONDS) -> dict:
    """Delete texts, ended sessions and empty conversations older than RETENTION_DAYS.

    -> rows deleted per model label, e.g. {"distributions.SmsMessage": 12}."""
    cutoff = retention_cutoff(now)
    deadline = time.monotonic() + max_seconds
    counts: Counter[str] = Counter()
    open_session = SmsSession.objects.filter(conversation=OuterRef("conversation"), state=SmsSession.State.OPEN)
    steps = [
        (SmsMessage, "created_at", ~Exists(open_session) & ~texts_deciding_opt_out(), False),
        (SmsSession, "created_at", ~Q(state=SmsSession.State.OPEN) & Q(ended_at__lt=cutoff), False),
        (
            SmsConversation,
            "created_at",
            ~Exists(SmsMessage.objects.filter(conversation=OuterRef("pk")))
            & ~Exists(SmsSession.objects.filter(conversation=OuterRef("pk"))),
            True,
        ),
    ]
    for model, stamp, deletable, lock in steps:
        if not old_rows_purge(
            model,
            stamp,
            deletable,
            cutoff=cutoff,
            batch_size=batch_size,
            deadline=deadline,
            counts=counts,
            lock=lock,
        ):
            logger.info("Texts purge ran out of time at %s; the next purge goes on from there.", model.__name__)
            break
    return {label: count for label, count in counts.items() if count}


def texts_deciding_opt_out() -> Q:
    """The texts that are their number's last carrier keyword (in id order, as the opt-out rule
    reads them) and an opt-out."""
    keywords = (SmsMessage.Keyword.OPT_OUT, SmsMessage.Keyword.OPT_IN)
    later = SmsMessage.objects.filter(
        conversation=OuterRef("conversation"),
        direction=SmsMessage.Direction.INBOUND,
        keyword__in=keywords,
        pk__gt=OuterRef("pk"),
    )
    return Q(direction=SmsMessage.Direction.INBOUND, keyword=SmsMessage.Keyword.OPT_OUT) & ~Exists(later)
