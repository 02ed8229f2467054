"""Whether an invitation may go to its recipient now: opt-out, 12-hour duplicate, frequency rules.

Checked when the task creates the invitation (so Workflow Reporting shows the outcome at once)
and again when it is sent, under a lock on the contact: a delayed send must see an opt-out or a
message that went out meanwhile, and two workers must not both pass the duplicate check.

The checks take a list of invitations and read the database once per rule, not once per
invitation: a batch of runs checks its invitations together. Within a list, an invitation that
passes and is due counts as sent for the ones after it, as if each had been claimed before the
next was checked.
"""

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count

from directory.models import Membership
from distributions.models import MAX_FREQUENCY_PERIOD_DAYS, FrequencyRule, Invitation, SmsMessage
from distributions.services.invitation_channels import channel_terms, is_sms

Status = Invitation.Status

DUPLICATE_WINDOW = timedelta(hours=12)
_TOKEN_MASK = "\x00invitation-token\x00"


@dataclass(frozen=True)
class Skip:
    status: str  # OPTED_OUT, or the channel's skipped status (EMAIL_SKIPPED, SMS_SKIPPED)
    detail: str


def content_digest(*, subject: str, text_body: str, html_body: str, token: str, short_code: str = "") -> str:
    """The message without its individual links: every form of a link carries the token (a text's
    short link, its short code), so masking them makes two invitations of the same message
    compare equal."""
    content = "\x00".join((subject, text_body, html_body)).replace(token, _TOKEN_MASK)
    if short_code:
        content = content.replace(short_code, _TOKEN_MASK)
    return hashlib.sha256(content.encode()).hexdigest()


def invitation_skip_reasons(
    *, invitations: list[Invitation], now: datetime, mailing_list_id: int | None = None
) -> list[Skip | None]:
    """Per invitation, in order, the first rule that stops it, or None to send it.

    `mailing_list_id` is the list the task saved the contacts to; it is known when the task runs
    only (a distribution does not record it), so a later send checks the directory-wide opt-out.
    """
    if not invitations:
        return []
    ids = [invitation.pk for invitation in invitations]
    list_opt_outs = _list_opt_outs(invitations, mailing_list_id)
    numbers_opted_out = _numbers_opted_out(invitations)
    earlier_sends = _earlier_sends(invitations, now, ids)
    frequency = _FrequencyRules(invitations, now, ids)
    reasons = []
    for invitation in invitations:
        contact = invitation.contact
        texted = is_sms(invitation.distribution.channel)
        if contact.unsubscribed:  # every channel (directory.models.Contact)
            everything = "every message" if texted else "all email"
            reason = Skip(Status.OPTED_OUT, f"{contact} has opted out of {everything}: not sent.")
        elif texted and contact.sms_opted_out:
            reason = Skip(Status.OPTED_OUT, f"{contact} has opted out of texts (replied STOP): not sent.")
        elif texted and invitation.address in numbers_opted_out:
            reason = Skip(Status.OPTED_OUT, f"{invitation.address} has opted out of texts (replied STOP): not sent.")
        elif contact.pk in list_opt_outs:
            reason = Skip(Status.OPTED_OUT, f"{contact} has opted out of this mailing list: not sent.")
        else:
            reason = _duplicate(invitation, earlier_sends) or frequency.over(invitation)
        reasons.append(reason)
        if reason is None and (invitation.send_after is None or invitation.send_after <= now):
            earlier_sends[(invitation.address, invitation.content_digest)] = (invitation.pk, now)
            frequency.count_sent(invitation)
    return reasons


def _list_opt_outs(invitations: list[Invitation], mailing_list_id: int | None) -> set[int]:
    if mailing_list_id is None:
        return set()
    return set(
        Membership.objects.filter(
            contact_id__in={invitation.contact_id for invitation in invitations},
            mailing_list_id=mailing_list_id,
            unsubscribed=True,
        ).values_list("contact_id", flat=True)
    )


def _numbers_opted_out(invitations: list[Invitation]) -> set[str]:
    """The numbers (E.164) of these texts whose last carrier keyword was an opt-out (STOP...),
    not an opt-in (START). The number opted out, not only the contacts that had it then: a
    contact created or given the number since must not be texted either."""
    phones = {i.address for i in invitations if i.address and is_sms(i.distribution.channel)}
    if not phones:
        return set()
    keywords = (
        SmsMessage.objects.filter(
            conversation__phone__in=phones,
            direction=SmsMessage.Direction.INBOUND,
            keyword__in=[SmsMessage.Keyword.OPT_OUT, SmsMessage.Keyword.OPT_IN],
        )
        .order_by("id")
        .values_list("conversation__phone", "keyword")
    )
    last = dict(keywords)  # in id order: the last keyword of each number wins
    return {phone for phone, keyword in last.items() if keyword == SmsMessage.Keyword.OPT_OUT}


def _earlier_sends(invitations: list[Invitation], now: datetime, ids: list[int]) -> dict[tuple, tuple]:
    """(address, content digest) -> (invitation id, sent at) of the latest send in the window."""
    sends = (
        Invitation.objects.filter(
            address__in={invitation.address for invitation in invitations},
            content_digest__in={invitation.content_digest for invitation in invitations},
            sent_at__gte=now - DUPLICATE_WINDOW,
        )
        .exclude(pk__in=ids)
        .order_by("sent_at")
        .values_list("address", "content_digest", "pk", "sent_at")
    )
    return {(address, digest): (pk, sent_at) for address, digest, pk, sent_at in sends}


def _duplicate(invitation: Invitation, earlier_sends: dict[tuple, tuple]) -> Skip | None:
    earlier = earlier_sends.get((invitation.address, invitation.content_digest))
    if earlier is None:
        return None
    pk, sent_at = earlier
    what = "text" if is_sms(invitation.distribution.channel) else "subject and body"
    return Skip(
        channel_terms(invitation.distribution.channel).skipped,
        f"Duplicate of invitation {pk} sent at {sent_at:%Y-%m-%d %H:%M:%S} UTC: the same {what} "
        f"go{'es' if what == 'text' else ''} to {invitation.address} at most once in 12 hours.",
    )


class _FrequencyRules:
    """The directories' rules, with per contact the messages each rule's period has seen."""

    def __init__(self, invitations: list[Invitation], now: datetime, ids: list[int]):
        contact_ids = {invitation.contact_id for invitation in invitations}
        directory_ids = {invitation.contact.directory_id for invitation in invitations}
        self.rules = defaultdict(list)
        self.sent: dict[int, Counter] = {}
        for rule in FrequencyRule.objects.filter(directory_id__in=directory_ids).order_by("period_days", "pk"):
            # A rule saved before periods were capped may reach past the dates a datetime holds.
            since = now - timedelta(days=min(rule.period_days, MAX_FREQUENCY_PERIOD_DAYS))
            self.rules[rule.directory_id].append((rule, since))
            counts = (
                Invitation.objects.filter(contact_id__in=contact_ids, sent_at__gte=since)
                .exclude(pk__in=ids)
                .values("contact_id")
                .annotate(n=Count("id"))
                .values_list("contact_id", "n")
            )
            self.sent[rule.pk] = Counter(dict(counts))

    def over(self, invitation: Invitation) -> Skip | None:
        contact = invitation.contact
        for rule, since in self.rules[contact.directory_id]:
            count = self.sent[rule.pk][contact.pk]
            if count >= rule.max_messages:
                return Skip(
                    channel_terms(invitation.distribution.channel).skipped,
                    f'Skipped by the frequency rule "{rule}" of directory {contact.directory}: '
                    f"{count} messages went to this contact since {since:%Y-%m-%d %H:%M} UTC.",
                )
        return None

    def count_sent(self, invitation: Invitation) -> None:
        for rule, _since in self.rules[invitation.contact.directory_id]:
            self.sent[rule.pk][invitation.contact_id] += 1
