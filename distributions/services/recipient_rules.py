"""Whether an invitation may go to its recipient now: opt-out, 12-hour duplicate, frequency rules.

Checked when the task creates the invitation (so Workflow Reporting shows the outcome at once)
and again when it is sent, under a lock on the contact: a delayed send must see an opt-out or a
message that went out meanwhile, and two workers must not both pass the duplicate check.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from directory.models import Membership
from distributions.models import FrequencyRule, Invitation

Status = Invitation.Status

DUPLICATE_WINDOW = timedelta(hours=12)
_TOKEN_MASK = "\x00invitation-token\x00"


@dataclass(frozen=True)
class Skip:
    status: str  # OPTED_OUT or EMAIL_SKIPPED
    detail: str


def content_digest(*, subject: str, text_body: str, html_body: str, token: str) -> str:
    """The message without its individual links: every form of a link carries the token, so masking
    the token makes two invitations of the same message compare equal."""
    content = "\x00".join((subject, text_body, html_body)).replace(token, _TOKEN_MASK)
    return hashlib.sha256(content.encode()).hexdigest()


def invitation_skip_reason(*, invitation: Invitation, now: datetime, mailing_list_id: int | None = None) -> Skip | None:
    """The first rule that stops this invitation, or None to send it.

    `mailing_list_id` is the list the task saved the contact to; it is known when the task runs
    only (a distribution does not record it), so a later send checks the directory-wide opt-out.
    """
    contact = invitation.contact
    if contact.unsubscribed:
        return Skip(Status.OPTED_OUT, f"{contact} has opted out of all email: not sent.")
    if (
        mailing_list_id is not None
        and Membership.objects.filter(contact=contact, mailing_list_id=mailing_list_id, unsubscribed=True).exists()
    ):
        return Skip(Status.OPTED_OUT, f"{contact} has opted out of this mailing list: not sent.")
    return _duplicate(invitation, now) or _over_frequency(invitation, now)


def _duplicate(invitation: Invitation, now: datetime) -> Skip | None:
    earlier = (
        Invitation.objects.filter(
            address=invitation.address,
            sent_at__gte=now - DUPLICATE_WINDOW,
            content_digest=invitation.content_digest,
        )
        .exclude(pk=invitation.pk)
        .order_by("-sent_at")
        .values_list("pk", "sent_at")
        .first()
    )
    if earlier is None:
        return None
    pk, sent_at = earlier
    return Skip(
        Status.EMAIL_SKIPPED,
        f"Duplicate of invitation {pk} sent at {sent_at:%Y-%m-%d %H:%M:%S} UTC: the same subject and body "
        f"go to {invitation.address} at most once in 12 hours.",
    )


def _over_frequency(invitation: Invitation, now: datetime) -> Skip | None:
    contact = invitation.contact
    for rule in FrequencyRule.objects.filter(directory_id=contact.directory_id).order_by("period_days", "pk"):
        since = now - timedelta(days=rule.period_days)
        count = Invitation.objects.filter(contact=contact, sent_at__gte=since).exclude(pk=invitation.pk).count()
        if count >= rule.max_messages:
            return Skip(
                Status.EMAIL_SKIPPED,
                f'Skipped by the frequency rule "{rule}" of directory {contact.directory}: '
                f"{count} messages went to this contact since {since:%Y-%m-%d %H:%M} UTC.",
            )
    return None
