"""Reads of surveys and distributions for the admin."""

import hmac
import re

from django.contrib.auth import get_user_model
from django.db.models import Count, OuterRef, Q, Subquery

from directory.models import Contact
from directory.selectors import contact_embedded_data_names, embedded_data_case_clashes
from distributions.models import (
    Collaborator,
    DeliveryEvent,
    Distribution,
    Invitation,
    Response,
    SmsConversation,
    SmsMessage,
    Survey,
    new_invitation_token,
    new_short_code,
)
from distributions.services.answers import answer_display
from workflows.models import token_digest
from workflows.public_urls import public_url

Status = Invitation.Status

# DeliveryEvent kinds that mean the recipient opened the email (anymail's event types; a click implies an open).
OPEN_EVENT_KINDS = ("opened", "clicked")

# Statuses are forward-only, so a count means "got at least this far": a finished survey was also
# sent, opened and started, a bounced email was sent. Counted by status, not by `sent_at`: sending
# sets sent_at when it claims the invitation, before the mail server has answered.
FAILED = (Status.EMAIL_FAILED, Status.EMAIL_BLOCKED, Status.SMS_FAILED)
BOUNCED = (Status.EMAIL_HARD_BOUNCE, Status.EMAIL_SOFT_BOUNCE)
SKIPPED = (Status.EMAIL_SKIPPED, Status.SMS_SKIPPED, Status.OPTED_OUT)
STARTED = (Status.SURVEY_STARTED, Status.SURVEY_PARTIALLY_FINISHED, Status.SURVEY_FINISHED)
OPENED = (Status.EMAIL_OPENED, *STARTED)
SENT = (
    Status.EMAIL_SENT,
    Status.SMS_SENT,
    Status.SMS_DELIVERED,
    Status.EMAIL_COMPLAINT,
    Status.LINK_EXPIRED,
    Status.SESSION_EXPIRED,
    *BOUNCED,
    *OPENED,
)


def opted_out_after_sending(prefix: str = "") -> Q:
    """Opted Out invitations whose message went out: the recipient opted out from it (its opt-out
    link, the mailbox's unsubscribe button, STOP in answer to the text). They count as sent, not
    as skipped. An invitation the recipient rules skipped as opted out was never claimed, so it
    has no `sent_at`; one claimed keeps its `sent_at` (a send put off for later clears it).
    `prefix`: the lookup path to the invitation, e.g. "invitations__"."""
    return Q(**{f"{prefix}status": Status.OPTED_OUT, f"{prefix}sent_at__isnull": False})


def invitations_sent(prefix: str = "") -> Q:
    """Invitations whose message went out: a status in SENT, or opted out after sending."""
    return Q(**{f"{prefix}status__in": SENT}) | opted_out_after_sending(prefix)


def invitations_skipped(prefix: str = "") -> Q:
    """Invitations not sent because of a rule: a status in SKIPPED, except opted out after sending."""
    rules = [status for status in SKIPPED if status != Status.OPTED_OUT]
    return Q(**{f"{prefix}status__in": rules}) | Q(**{f"{prefix}status": Status.OPTED_OUT, f"{prefix}sent_at": None})


def survey_field_case_clashes(*, survey: Survey, contact_names: set[str] | None = None) -> dict[str, list[str]]:
    """Declared field name -> the other spellings (contacts' or other declared fields') that differ only by case.

    A response records a contact's value only under the exact declared name, so such a field stays empty.
    """
    declared = set(survey.fields.values_list("name", flat=True))
    if contact_names is None:
        contact_names = contact_embedded_data_names()
    clashing = {first.lower() for first, _ in embedded_data_case_clashes(declared | contact_names)}
    spellings: dict[str, set[str]] = {}
    for name in declared | contact_names:
        if name.lower() in clashing:
            spellings.setdefault(name.lower(), set()).add(name)
    return {name: sorted(spellings[name.lower()] - {name}) for name in sorted(declared) if name.lower() in clashing}


def distributions_with_counts(*, survey: Survey, offset: int, limit: int) -> list[Distribution]:
    """One page of the survey's distributions, newest first, each with its invitation counts.

    One query: the page's ids come from a LIMIT subquery on the (survey, -created_at) index, so the
    counts are grouped over those distributions' invitations only, not over the whole survey.
    """
    page_ids = (
        Distribution.objects.filter(survey=survey).order_by("-created_at", "-id").values("id")[offset : offset + limit]
    )
    return list(_with_counts(Distribution.objects.filter(id__in=page_ids)).order_by("-created_at", "-id"))


def distributions_page(*, survey: Survey, after_id: int | None, limit: int) -> list[Distribution]:
    """Up to `limit` of the survey's distributions with ids above `after_id` (all when None), oldest
    first, each with its invitation counts (see `_with_counts`). Keyset paging: every page costs the
    same however far into the list it is."""
    page = Distribution.objects.filter(survey=survey).order_by("id")
    if after_id is not None:
        page = page.filter(id__gt=after_id)
    page_ids = page.values("id")[:limit]
    return list(_with_counts(Distribution.objects.filter(id__in=page_ids)).order_by("id"))


def distribution_with_counts(*, distribution_id: int) -> Distribution | None:
    """One distribution with its invitation counts (see `_with_counts`), or None."""
    return _with_counts(Distribution.objects.filter(pk=distribution_id)).first()


def _with_counts(distributions):
    """Annotate each distribution's invitations counted by how far they got: audience, pending,
    skipped, sent, failed, bounced, opened, started, finished, complaints, blocked (forward-only
    statuses: see SENT and the others above; opened and started also count an invitation with a
    response, whatever its status)."""

    def count_where(**lookups):
        return Count("invitations", filter=Q(**lookups))

    # A response means the survey was started whatever the status says since: a two-way SMS
    # session that expired after some answers is Session Expired, and counts as started (and
    # opened), as the survey's summary counts it (reporting.summary, by response). A response is
    # one per invitation (one-to-one), so the join counts no invitation twice.
    answered = Q(invitations__response__isnull=False)

    return distributions.select_related("run__workflow", "survey").annotate(
        audience=Count("invitations"),
        pending=count_where(invitations__status=Status.PENDING),
        skipped=Count("invitations", filter=invitations_skipped("invitations__")),
        sent=Count("invitations", filter=invitations_sent("invitations__")),
        failed=count_where(invitations__status__in=FAILED),
        bounced=count_where(invitations__status__in=BOUNCED),
        opened=Count("invitations", filter=Q(invitations__status__in=OPENED) | answered),
        started=Count("invitations", filter=Q(invitations__status__in=STARTED) | answered),
        finished=count_where(invitations__status=Status.SURVEY_FINISHED),
        complaints=count_where(invitations__status=Status.EMAIL_COMPLAINT),
        blocked=count_where(invitations__status=Status.EMAIL_BLOCKED),
    )


def survey_may_distribute(*, survey: Survey, user_id: int) -> bool:
    """Whether the user may distribute the survey, and so see its distributions: its owner, or a
    collaborator the owner gave the distribute permission (as the reference platform rules)."""
    if survey.owner_id == user_id:
        return True
    return Collaborator.objects.filter(survey=survey, user_id=user_id, can_distribute=True).exists()


def survey_may_share(*, user, survey: Survey | None) -> bool:
    """Whether `user` may choose who owns `survey` and who collaborates on it (None or unsaved: a
    survey they are adding, which is theirs).

    The owner and the collaborators decide who may distribute the survey (`survey_may_distribute`),
    so only its owner or a superuser may change them, as only the owner shares a survey on the
    reference platform: anyone else who may change the survey could give themselves the right to send it."""
    return user.is_superuser or survey is None or survey.pk is None or survey.owner_id == user.pk


def survey_owner_choices(*, user, survey: Survey | None):
    """The users `user` may make the owner of `survey` (None: a new one): anyone for a superuser or
    the survey's owner (a transfer); on a survey they add, only themselves."""
    User = get_user_model()
    if user.is_superuser or (survey is not None and survey.pk is not None and survey.owner_id == user.pk):
        return User.objects.all()
    return User.objects.filter(pk=user.pk)


def distribution_history_page(*, distribution: Distribution, after_id: int | None, limit: int) -> list[Invitation]:
    """Up to `limit` of the distribution's invitations with ids above `after_id`, in id order, with
    their contact and response, and `opened_at`: when the first open was recorded (None if never).
    Keyset paging on the invitation_distribution_page index: page 10,000 costs what page 1 does."""
    invitations = Invitation.objects.filter(distribution=distribution).order_by("id")
    if after_id is not None:
        invitations = invitations.filter(id__gt=after_id)
    first_open = (
        DeliveryEvent.objects.filter(invitation=OuterRef("pk"), kind__in=OPEN_EVENT_KINDS)
        .order_by("occurred_at")
        .values("occurred_at")[:1]
    )
    return list(invitations.select_related("contact", "response").annotate(opened_at=Subquery(first_open))[:limit])


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a survey link's token opens (with its survey and contact), or None.

    Matched on the token's digest (unique index), as workflow event URLs are: see Invitation.token.
    """
    return (
        Invitation.objects.select_related("distribution__survey", "contact")
        .filter(token_digest=token_digest(token))
        .first()
    )


# What new_short_code makes (URL-safe base64): anything else names no invitation, and some of it
# (a NUL) PostgreSQL could not even compare.
_SHORT_CODE = re.compile(r"[A-Za-z0-9_-]+")


def invitation_token_for_short_code(code: str) -> str | None:
    """The token of the invitation a text's short link names, or None.

    Matched on the code's digest (unique index), as survey link tokens are: the short link opens
    the survey as the token does, so the lookup's timing must say nothing about it either."""
    if len(code) > Invitation._meta.get_field("short_code").max_length or not _SHORT_CODE.fullmatch(code):
        return None
    digest = token_digest(code)
    found = Invitation.objects.filter(short_code_digest=digest).values_list("short_code_digest", "token").first()
    if found is None or not hmac.compare_digest(found[0], digest):
        return None
    return found[1]


# How much of a survey link's token (or a short link's code) is shown to who may not open the link.
SHOWN = 6
# A survey link's token or a short link's code after /s/ or /r/, whatever address the link was
# made with (PUBLIC_BASE_URL may have changed since): matched by their exact shapes.
_LINK_SECRET = re.compile(
    rf"(?<=/s/)[A-Za-z0-9_-]{{{len(new_invitation_token())}}}(?![A-Za-z0-9_-])"
    rf"|(?<=/r/)[A-Za-z0-9_-]{{{len(new_short_code())}}}(?![A-Za-z0-9_-])"
)


def survey_links_masked(value):
    """`value` (text, or dicts and lists of it: a task run's input and output, a message as sent)
    with every survey link and short link in it cut to its token's first characters, e.g.
    https://surveys.example.com/s/Ab3dEf…/. A link opens the recipient's survey, answers included,
    so it is shown whole only to who may see the invitation it belongs to (may_see_survey_links)."""
    if isinstance(value, str):
        return _LINK_SECRET.sub(lambda match: _cut(match[0]), value)
    if isinstance(value, dict):
        return {key: survey_links_masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [survey_links_masked(item) for item in value]
    return value


def _cut(token: str) -> str:
    return token if len(token) <= SHOWN else f"{token[:SHOWN]}…"


# What listing a distribution's survey links takes (GET /API/v3/distributions/{id}/links), with the
# right to distribute its survey (survey_may_distribute) for anyone but a superuser.
DISTRIBUTION_VIEW = ("distributions.view_survey", "distributions.view_distribution", "distributions.view_invitation")


def may_see_distribution_links(*, user, distribution_ids: set[int]) -> bool:
    """Whether `user` may see the survey links of the distributions `distribution_ids` whole (a
    run's SurveyLink outputs, the emails it rendered), as the API lists each distribution's links:
    the DISTRIBUTION_VIEW permissions and, but for a superuser, the right to distribute each one's
    survey. False without those permissions, and (but for a superuser) without any distribution."""
    if not user.has_perms(DISTRIBUTION_VIEW):
        return False
    if user.is_superuser:
        return True
    surveys = Survey.objects.filter(distributions__in=distribution_ids).distinct()
    return bool(distribution_ids) and all(survey_may_distribute(survey=survey, user_id=user.pk) for survey in surveys)


def may_see_survey_links(user) -> bool:
    """Whether the admin shows `user` survey links whole wherever they appear (a run's output, the
    outbox, texts): as the invitation's own page shows its link, with the right to view invitations."""
    return user.has_perm("distributions.view_invitation")


def survey_link(token: str) -> str:
    """The individual survey link of an invitation (the fixed `/s/<token>/` contract)."""
    return public_url("distributions:survey", args=[token])


def survey_short_link(short_code: str) -> str:
    """A text's individual survey link, PUBLIC_BASE_URL/r/<short code>: it redirects to the
    invitation's `/s/<token>/` link, in a quarter of its length."""
    return public_url("distributions:short-link", args=[short_code])


def response_answer_rows(*, response: Response) -> list[tuple[str, str]]:
    """(question, answer as a person reads it) per answer, in the survey's question order; an answer
    to a question since deleted comes last, labelled with the question's id."""
    questions = list(response.survey.questions.all())
    answers = dict(response.answers)
    rows = [
        (str(question), answer_display(answers.pop(str(question.pk))))
        for question in questions
        if str(question.pk) in answers
    ]
    rows += [(f"Question {key} (deleted)", answer_display(answer)) for key, answer in answers.items()]
    return rows


def sms_thread(*, conversation: SmsConversation, limit: int = 500) -> tuple[list[SmsMessage], bool]:
    """The last `limit` texts of a conversation, oldest first, and whether older ones exist."""
    newest = list(
        SmsMessage.objects.filter(conversation=conversation).select_related("invitation").order_by("-id")[: limit + 1]
    )
    return newest[:limit][::-1], len(newest) > limit


def sms_contacts(*, phone: str) -> list[Contact]:
    """The contacts, in every directory, whose phone is `phone` (E.164)."""
    return list(Contact.objects.filter(phone=phone).select_related("directory").order_by("directory__name", "id")[:50])
