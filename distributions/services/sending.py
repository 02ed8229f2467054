"""Distribute a survey from a workflow task, by email invitation, SMS invitation or two-way SMS
survey: check, save the contact, invite, render, send.

Everything up to claiming the send happens in the task's transaction, so a task that fails
leaves nothing behind and a task that succeeded is never run again. The email goes out right
after that transaction commits (from a worker's second thread, while its next batch executes:
workflows/services/execution/background.py), or later from the schedule when the task asked for
a delay; services/delivery.py explains why, and the one window that is left.
"""

import functools
import hashlib
import html
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.html import strip_tags
from email_validator import EmailNotValidError, validate_email

from directory.models import Contact
from distributions.channels.email import invitation_message_id
from distributions.channels.phones import sms_phone_number
from distributions.models import Distribution, Invitation, SenderDomain, Survey, new_invitation_token, new_short_code
from distributions.selectors import survey_link, survey_may_distribute, survey_short_link
from distributions.services.delivery import (
    invitation_put_off_for_quiet_hours,
    invitation_record_skip,
    invitations_claim,
    invitations_deliver,
    opt_out_url,
)
from distributions.services.invitation_channels import is_sms
from distributions.services.recipient_rules import content_digest, invitation_skip_reasons
from distributions.services.responses import invitation_never_sent
from distributions.services.sms_sessions import survey_sms_askable_any
from workflows.piping import contact_fields, tokens
from workflows.salesforce.values import InvalidValue
from workflows.services.execution.background import after_commit_work, after_commit_work_wait
from workflows.tasks.contacts import SavedContact, task_contacts_save
from workflows.tasks.context import TaskContext
from workflows.tasks.registry import TaskError, TemporaryTaskError

Status = Invitation.Status
Channel = Distribution.Channel


@dataclass(frozen=True)
class Sender:
    from_email: str
    from_name: str
    reply_to: str


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text_body: str
    html_body: str


@dataclass(frozen=True)
class DistributedInvitation:
    invitation: Invitation
    outcome: str

    def outputs(self) -> dict[str, str]:
        """The task's outputs; a text's also say its channel ("SMS", "Two-way SMS") and phone, and
        its SurveyLink is the short link the text carries. A skipped invitation's SurveyLink is
        empty: its link takes no answers (services/responses.py), and no later task may pass it on."""
        invitation = self.invitation
        channel = invitation.distribution.channel
        if invitation_never_sent(invitation):
            link = ""
        elif is_sms(channel):
            link = survey_short_link(invitation.short_code)
        else:
            link = survey_link(invitation.token)
        outputs = {
            "ContactId": str(invitation.contact_id),
            "DistributionId": str(invitation.distribution_id),
            "InvitationId": str(invitation.pk),
            "SurveyLink": link,
            "Outcome": self.outcome,
        }
        if is_sms(channel):
            outputs = {**outputs, "Channel": Channel(channel).label, "Phone": invitation.address}
        return outputs


def surveys_distribute(
    *,
    contexts: list[TaskContext],
    survey_id: int,
    link_expiration: timedelta | None,
    send_delay: timedelta,
    channel: str = Channel.EMAIL,
) -> list:
    """Run inside the task's transaction, for the runs of one task at once. `channel`: a
    Distribution.Channel (the task's method). -> per context, its DistributedInvitation or the
    TaskError saying what the admin must fix; a recipient who must not get it (opted out,
    duplicate, frequency rule) is an invitation status instead.

    A context that fails before anything is written gets its TaskError and leaves nothing behind
    (a text's missing or unusable phone is found before the contact is saved). One that fails
    after the contacts were saved (its sender) raises the TaskError: the caller rolls back, and a
    batch's runs are then executed one by one."""
    try:
        survey = _survey(survey_id)
        _check_active(survey)
        _check_can_distribute(survey, owner_id=contexts[0].workflow.owner_id)
    except TaskError as error:
        return [error] * len(contexts)
    phones = [_sms_phone(context) for context in contexts] if is_sms(channel) else [""] * len(contexts)
    reachable = [context for context, phone in zip(contexts, phones) if not isinstance(phone, TaskError)]
    # A text needs no email: an empty one is saved as none (the directory's dedupe rules skip it).
    saved_results = iter(task_contacts_save(reachable, email_required=not is_sms(channel)) if reachable else [])
    results = [phone if isinstance(phone, TaskError) else next(saved_results) for phone in phones]
    phone_of = {id(context): phone for context, phone in zip(contexts, phones)}
    saved = [(context, result) for context, result in zip(contexts, results) if isinstance(result, SavedContact)]
    if not saved:
        return results
    # A fresh read under the row locks, in id order so that two workers never wait on each other
    # crosswise: an opt-out committed a moment ago must count.
    locked = Contact.objects.select_for_update().order_by("pk").in_bulk([result.contact.pk for _c, result in saved])
    now = timezone.now()
    send_after = now + send_delay
    sender_domains = _SenderDomains()
    invitations = []
    for context, result in saved:
        contact = locked[result.contact.pk]
        context.sources = replace(context.sources, contact=contact_fields(contact), embedded_data=contact.embedded_data)
        if is_sms(channel):
            invitation = _text_invitation(context, survey, channel, phone_of[id(context)], contact, send_after)
        else:
            invitation = _invitation(context, survey, _sender(context, sender_domains), contact, send_after)
        invitation.expires_at = send_after + link_expiration if link_expiration else None
        invitations.append(invitation)
    # Plain inserts: the unique constraints make each exactly once per task run. A task's rows
    # commit with its success record and a failed attempt commits nothing, so the rows never exist
    # yet here; a concurrent attempt at the same run (a worker presumed dead) hits the constraint,
    # and the execution engine rolls this attempt back as "taken over" (IntegrityError -> RunTaken).
    Distribution.objects.bulk_create([invitation.distribution for invitation in invitations])
    Invitation.objects.bulk_create(invitations)  # each takes its distribution's id, now that it has one

    mailing_list_id = saved[0][1].mailing_list.pk
    skips = invitation_skip_reasons(invitations=invitations, now=now, mailing_list_id=mailing_list_id)
    to_send, outcomes = [], []
    for invitation, skip in zip(invitations, skips, strict=True):
        if skip is not None:
            invitation_record_skip(invitation=invitation, status=skip.status, detail=skip.detail)
            outcomes.append(f"{Status(skip.status).label}: {skip.detail}")
        elif wait := invitation_put_off_for_quiet_hours(invitation=invitation, at=invitation.send_after):
            outcomes.append(f"Scheduled for {wait.until:%Y-%m-%d %H:%M} UTC. {wait.detail}")
        elif send_after > now:
            outcomes.append(f"Scheduled for {send_after:%Y-%m-%d %H:%M} UTC")
        else:
            to_send.append(invitation)
            outcomes.append("Sending now")
    if to_send:
        # The previous batch's emails, sent meanwhile, all have their outcomes before this claim
        # can commit: one claim of this worker at a time is left in doubt should it die.
        after_commit_work_wait()
    if len(invitations_claim(invitations=to_send, now=now)) != len(to_send):
        raise TemporaryTaskError("Another worker changed these invitations while they were being claimed.")
    if to_send:

        def send_claimed_invitations():
            invitations_deliver(invitations=to_send)

        # After commit: the claims must be durable before the backend is called (see services/delivery.py).
        after_commit_work(send_claimed_invitations)
    distributed = map(DistributedInvitation, invitations, outcomes)
    return [next(distributed) if isinstance(result, SavedContact) else result for result in results]


def _sms_phone(context: TaskContext) -> str | TaskError:
    """The phone a text goes to, in E.164, or the TaskError naming the piped field and what it gave."""
    source = context.config.get("phone") or ""
    if "phone" in context.overrides and not context.overrides["phone"]:
        # A test event with a test address: that address is an email, and the event's phone is a
        # real person's, so nothing is texted.
        return TaskError(
            f"Not texted: this test event sends to the test address {context.overrides.get('email') or ''}, "
            "an email address a text cannot go to. Test an SMS method with “send to the people in the event”, "
            "with your own phone in the event."
        )
    value = context.pipe("phone")
    if not value:
        where = f"Phone (from {source})" if source else "Phone (not set in the task)"
        return TaskError(f"{where} is empty: an SMS invitation needs the contact's mobile number.")
    try:
        return sms_phone_number(value)
    except InvalidValue as error:
        return TaskError(f"Phone {value!r} (from {source}) is not a number a text can go to: {error}")


def _text_invitation(
    context: TaskContext, survey: Survey, channel: str, phone: str, contact: Contact, send_after: datetime
) -> Invitation:
    """The run's text distribution and its one invitation, its SMS invitation text rendered (a
    two-way survey's first message is made when it is claimed, with its session), not saved yet."""
    token, short_code = new_invitation_token(), new_short_code()
    if channel == Channel.TWO_WAY_SMS:
        text = ""  # the session's first message, made when the invitation is claimed
        # Outside the 12-hour duplicate rule: a new two-way invitation to a number is how its open
        # session is replaced (its text, once gone, closes the older one), even for the same survey.
        digest = hashlib.sha256(f"two-way survey session {token}".encode()).hexdigest()
    else:
        context.sources = replace(context.sources, links={"SurveyLink": survey_short_link(short_code)})
        text = context.pipe("sms_text", for_reader=True)
        digest = content_digest(subject="", text_body=text, html_body="", token=token, short_code=short_code)
    distribution = Distribution(survey=survey, run_id=context.run_id, task_position=context.position, channel=channel)
    return Invitation(
        distribution=distribution,
        contact=contact,
        token=token,
        short_code=short_code,
        address=phone,
        text_body=text,
        content_digest=digest,
        send_after=send_after,
    )


def _invitation(
    context: TaskContext, survey: Survey, sender: Sender, contact: Contact, send_after: datetime
) -> Invitation:
    """The run's email distribution and its one invitation, rendered, not saved yet."""
    token = new_invitation_token()
    message = _render(context, token)
    distribution = Distribution(
        survey=survey,
        run_id=context.run_id,
        task_position=context.position,
        channel=Distribution.Channel.EMAIL,
        subject=message.subject,
        **vars(sender),
    )
    return Invitation(
        distribution=distribution,
        contact=contact,
        token=token,
        address=contact.email,
        **vars(message),
        content_digest=content_digest(**vars(message), token=token),
        message_id=invitation_message_id(token=token, from_email=sender.from_email),
        send_after=send_after,
    )


def _survey(survey_id) -> Survey:
    if not isinstance(survey_id, int):
        # A config saved when tasks named their survey, whose name no single survey had any more
        # when the link became an id (distributions migration 0007).
        raise TaskError(
            f'This task names the survey "{survey_id}", which no single survey is called: '
            "choose the survey in the task."
        )
    survey = Survey.objects.filter(pk=survey_id).first()
    if survey is None:
        raise TaskError("The task's survey was deleted: choose another survey in the task.")
    return survey


def _check_active(survey: Survey) -> None:
    if survey.status != Survey.Status.ACTIVE:
        raise TaskError(
            f'Survey "{survey}" is not active (it is {survey.get_status_display().lower()}): '
            "activate the survey to distribute it."
        )


def distribute_config_problems(*, config: dict, owner, channel: str = Channel.EMAIL) -> list[str]:
    """What would make a distribute task with this (valid) config fail when it runs, as the run's
    error messages: the survey missing or not active, the owner not allowed to distribute it, a
    literal From or Reply-To address outside the verified sender domains (email), a two-way SMS
    survey without a question a text can ask. Piped addresses are known only at run time and are not checked.
    -> [] when nothing is wrong yet."""
    problems = []

    def check(step, *args, **kwargs):
        try:
            return step(*args, **kwargs)
        except TaskError as error:
            problems.append(str(error))
            return None

    survey = check(_survey, config.get("survey"))
    if survey is not None:
        check(_check_active, survey)
        check(_check_can_distribute, survey, owner_id=owner.pk)
    if channel == Channel.TWO_WAY_SMS and survey is not None and not survey_sms_askable_any(survey=survey):
        problems.append(
            f"The survey “{survey.name}” has no question that can be asked by text: "
            "add a multiple-choice, rating or text question."
        )
    if is_sms(channel):
        return problems
    domains = _SenderDomains()
    from_email = config.get("from_email") or ""
    if not tokens(from_email):
        default_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
        address = check(_address, from_email or default_address, label="From address", source=from_email or None)
        if address:
            check(_check_sender_domain, address, domains, label="From address")
    reply_to = config.get("reply_to") or ""
    if reply_to and not tokens(reply_to):
        address = check(_address, reply_to, label="Reply-To address", source="reply_to")
        if address and address.lower() != (owner.email or "").lower():
            check(_check_sender_domain, address, domains, label="Reply-To address", owner_email=owner.email or "")
    return problems


def _check_can_distribute(survey: Survey, *, owner_id: int) -> None:
    if survey_may_distribute(survey=survey, user_id=owner_id):
        return
    owner = get_user_model().objects.get(pk=owner_id)
    user, survey_owner = owner.get_username(), survey.owner.get_username()
    raise TaskError(
        f'The workflow owner {user} may not distribute survey "{survey}", which belongs to {survey_owner}: '
        f"ask {survey_owner} to add {user} as a collaborator with the distribute permission, "
        f"or make {survey_owner} the owner of this workflow."
    )


class _SenderDomains:
    """Sender domains read once per domain, for all the runs of a batch."""

    def __init__(self):
        self._by_name: dict[str, SenderDomain | None] = {}

    def get(self, domain: str) -> SenderDomain | None:
        if domain not in self._by_name:
            # A verified one first: rows saved before the admin refused twins differing by case.
            matching = SenderDomain.objects.filter(domain__iexact=domain).order_by("-verified", "pk")
            self._by_name[domain] = matching.first()
        return self._by_name[domain]


def _sender(context: TaskContext, domains: _SenderDomains) -> Sender:
    default_name, default_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    piped_from = context.pipe("from_email")
    from_email = _address(
        piped_from or default_address, label="From address", source=context.config.get("from_email") or None
    )
    _check_sender_domain(from_email, domains, label="From address")
    reply_to = context.pipe("reply_to")
    if reply_to:
        reply_to = _address(reply_to, label="Reply-To address", source=context.config.get("reply_to"))
        owner_email = context.workflow.owner.email or ""
        if reply_to.lower() != owner_email.lower():
            _check_sender_domain(reply_to, domains, label="Reply-To address", owner_email=owner_email)
    from_name = _one_line(context.pipe("from_name", for_reader=True)) or ("" if piped_from else default_name)
    return Sender(from_email=from_email, from_name=from_name, reply_to=reply_to)


@functools.lru_cache(maxsize=1024)
def _normalized_address(value: str) -> str:
    return validate_email(value, check_deliverability=False).normalized


def _address(value: str, *, label: str, source: str | None) -> str:
    """`value` normalized; `source` is the config text it was piped from (None: the default sender)."""
    try:
        return _normalized_address(value)
    except EmailNotValidError as error:
        source = source or "DEFAULT_FROM_EMAIL in the settings"
        raise TaskError(f"{label} {value!r} (from {source}) is not a valid email address: {error}") from None


def _check_sender_domain(address: str, domains: _SenderDomains, *, label: str, owner_email: str | None = None) -> None:
    domain = address.rpartition("@")[2].lower()
    sender_domain = domains.get(domain)
    if sender_domain is not None and sender_domain.verified:
        return
    what = "is not verified yet" if sender_domain is not None else "is not a sender domain"
    neither = "" if owner_email is None else f", and it is not the workflow owner's own email ({owner_email or 'none'})"
    raise TaskError(
        f"{label} {address}: its domain {domain} {what}{neither}. Add {domain} under "
        f"Surveys → Sender domains and mark it verified, or use an address of a verified domain."
    )


def _render(context: TaskContext, token: str) -> RenderedMessage:
    context.sources = replace(
        context.sources, links={"SurveyLink": survey_link(token), "OptOutLink": opt_out_url(token)}
    )
    html_body = context.pipe("html_body", html=True)
    return RenderedMessage(
        subject=_one_line(context.pipe("subject", for_reader=True)),
        text_body=context.pipe("text_body", for_reader=True) or text_from_html(html_body),
        html_body=html_body,
    )


# Control characters (C0, DEL, C1) that are not white space: nothing a reader can show.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f\x80-\x84\x86-\x9f]")


def _one_line(text: str) -> str:
    """Text for a header (Subject, From name): a line break would be refused by the email framework
    when sending, and a control character shows as nothing, or as a defect, in a mail reader."""
    return " ".join(_CONTROL.sub("", text).split())


_ANCHOR = re.compile(r"""<a\s[^>]*?href\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a>""", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<br\s*/?>|</p\s*>|</div\s*>|</li\s*>|</h[1-6]\s*>", re.IGNORECASE)


def text_from_html(html_body: str) -> str:
    """The text part for a message written in HTML only: links keep their URL, blocks their breaks."""
    text = _ANCHOR.sub(lambda match: f"{strip_tags(match[2]).strip()} ({match[1]})", html_body)
    text = html.unescape(strip_tags(_BREAK.sub("\n", text)))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
