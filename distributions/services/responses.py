"""What a recipient does with their invitation link: answer the survey, opt out, find it expired.

Every status change goes through `invitation_record`, so it is also a DeliveryEvent and only
ever moves forward.
"""

from datetime import timedelta
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from directory.models import Contact
from distributions.models import Invitation, Response, Survey
from distributions.selectors import SKIPPED
from distributions.services.answers import answers_merge
from distributions.services.status import invitation_record

Status = Invitation.Status


class EventKind(StrEnum):
    STARTED = "started"
    PARTIALLY_FINISHED = "partially_finished"
    FINISHED = "finished"
    LINK_EXPIRED = "link_expired"
    OPTED_OUT = "opted_out"


class Availability(StrEnum):
    OPEN = "open"
    FINISHED = "finished"
    EXPIRED = "expired"
    NOT_OPEN = "not_open"
    WITHDRAWN = "withdrawn"


UNAVAILABLE_MESSAGES = {
    Availability.FINISHED: "You have already answered this survey. Thank you.",
    Availability.EXPIRED: "This link has expired.",
    Availability.NOT_OPEN: "This survey is not open.",
    Availability.WITHDRAWN: "This link is no longer valid.",
}


class ResponseError(Exception):
    """The link cannot take answers now; `code` is the Availability that says why."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message, self.code = message, code


class ResponseInvalid(ResponseError):
    """Some answers break their question's rules; `errors` maps question id -> message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("Some answers need attention.", code="invalid")
        self.errors = errors


def invitation_response(invitation: Invitation) -> Response | None:
    return Response.objects.filter(invitation=invitation).first()


# survey_availability's `response` when the caller has not read it.
NOT_READ = object()


def survey_availability(*, invitation: Invitation, now=None, response=NOT_READ) -> Availability:
    """Whether the link takes answers. A finished response wins over expiry and over the survey
    being closed since: the recipient is told they answered, not that something went wrong.
    `response`: the invitation's Response or None, when the caller has it already.

    WITHDRAWN: the link names nobody any more (the contact was deleted), or was never sent (the
    invitation was skipped or the person had opted out): its token exists only in the task's
    output and the admin, and an answer there must not turn a skip into a response."""
    if response is NOT_READ:
        finished = Response.objects.filter(invitation=invitation, finished_at__isnull=False).exists()
    else:
        finished = response is not None and response.finished_at is not None
    if finished:
        return Availability.FINISHED
    if invitation.contact_id is None or invitation_never_sent(invitation):
        return Availability.WITHDRAWN
    if invitation.expires_at is not None and invitation.expires_at <= (now or timezone.now()):
        return Availability.EXPIRED
    if invitation.distribution.survey.status != Survey.Status.ACTIVE:
        return Availability.NOT_OPEN
    return Availability.OPEN


def invitation_never_sent(invitation: Invitation) -> bool:
    """Whether `invitation` was skipped (a recipient rule, an opt-out) instead of being sent. An
    opt-out from the link of an invitation that was sent has `sent_at` set, and is not one."""
    return invitation.status in SKIPPED and invitation.sent_at is None


@transaction.atomic
def response_save(*, invitation: Invitation, answers: dict, finish: bool) -> Response:
    """Save answers (keyed by question id) and, with `finish`, close the response for good.

    Raises ResponseInvalid with a message per question, or ResponseError when the link is closed;
    either way nothing is written.
    """
    # Serialise saves of one invitation (two tabs, a double click): the second one sees the
    # first's response, so it neither creates another nor changes a finished one.
    Invitation.objects.select_for_update().filter(pk=invitation.pk).values("pk").get()
    availability = survey_availability(invitation=invitation)
    if availability != Availability.OPEN:
        raise ResponseError(UNAVAILABLE_MESSAGES[availability], code=availability)

    survey = invitation.distribution.survey
    response = invitation_response(invitation)
    merged, errors = answers_merge(
        questions=survey.questions.all(), saved=response.answers if response else {}, submitted=answers, finish=finish
    )
    if errors:
        raise ResponseInvalid(errors)

    if response is None:
        response = Response.objects.create(
            invitation=invitation,
            survey=survey,
            answers=merged,
            embedded_data=declared_embedded_data(survey=survey, contact=invitation.contact),
        )
        invitation_record(invitation=invitation, kind=EventKind.STARTED, status=Status.SURVEY_STARTED)
    else:
        response.answers = merged
    if finish:
        response.finished_at = timezone.now()
        invitation_record(invitation=invitation, kind=EventKind.FINISHED, status=Status.SURVEY_FINISHED)
    else:
        invitation_record(
            invitation=invitation, kind=EventKind.PARTIALLY_FINISHED, status=Status.SURVEY_PARTIALLY_FINISHED
        )
    response.save()
    return response


# How long after finishing the same Submit is thanked again: a double click or a reload of the
# thank-you page comes within it. Bounded, because the answer to a guess says whether it was the
# recipient's answer: a forwarded link must not let anyone learn the answers later by guessing.
SUBMIT_AGAIN_WINDOW = timedelta(minutes=10)


def response_finished_with(*, invitation: Invitation, answers: dict, now=None) -> bool:
    """Whether `invitation`'s response was finished within SUBMIT_AGAIN_WINDOW and `answers`
    (keyed by question id, as response_save takes them) would leave it as it is: the same Submit
    sent again (a double click, a reload of the thank-you page), to be thanked again, not refused."""
    since = (now or timezone.now()) - SUBMIT_AGAIN_WINDOW
    response = Response.objects.filter(invitation=invitation, finished_at__gte=since).first()
    if response is None:
        return False
    merged, errors = answers_merge(
        questions=invitation.distribution.survey.questions.all(),
        saved=response.answers,
        submitted=answers,
        finish=True,
    )
    return not errors and merged == response.answers


def declared_embedded_data(*, survey: Survey, contact: Contact) -> dict:
    """The contact's values for the fields the survey declares, matched by exact name (as the
    reference platform does: "store" is not "Store"); a missing or empty value takes the default."""
    embedded = contact.embedded_data if isinstance(contact.embedded_data, dict) else {}
    recorded = {}
    for field in survey.fields.all():
        value = embedded.get(field.name)
        recorded[field.name] = field.default_value if value in (None, "") else value
    return recorded


@transaction.atomic
def invitation_opt_out(*, invitation: Invitation, one_click: bool = False) -> bool:
    """Unsubscribe the contact and mark the invitation Opted Out. -> whether this was news.

    `one_click`: the recipient's mailbox provider asked for it (RFC 8058 one-click unsubscribe)
    rather than the recipient on the opt-out page; the event says which.

    The contact leaves the whole directory (Contact.unsubscribed), not one mailing list: a
    distribution does not record the list its contact was saved to, and an opt-out must never
    miss the list the next message comes from.
    """
    if invitation.contact_id is None:  # the contact was deleted: nobody is left to write to
        return False
    Contact.objects.filter(pk=invitation.contact_id).update(unsubscribed=True, updated_at=timezone.now())
    invitation.contact.unsubscribed = True
    # Reloading the page or pressing the button twice records one event, not a pile of them.
    if invitation.events.filter(kind=EventKind.OPTED_OUT).exists():
        return False
    invitation_record(
        invitation=invitation,
        kind=EventKind.OPTED_OUT,
        status=Status.OPTED_OUT,
        detail=(
            "The recipient unsubscribed with their mailbox's unsubscribe button (one-click, RFC 8058)."
            if one_click
            else "The recipient opted out on the invitation's opt-out page."
        ),
    )
    return True


def invitation_mark_expired(*, invitation: Invitation, now=None) -> bool:
    """Record that the link was used after it expired, once. -> whether an event was recorded.

    A finished survey keeps its status: the link did its job before it expired.
    """
    now = now or timezone.now()
    if invitation.expires_at is None or invitation.expires_at > now:
        return False
    if Response.objects.filter(invitation=invitation, finished_at__isnull=False).exists():
        return False
    if invitation.events.filter(kind=EventKind.LINK_EXPIRED).exists():
        return False
    invitation_record(
        invitation=invitation,
        kind=EventKind.LINK_EXPIRED,
        status=Status.LINK_EXPIRED,
        detail=f"The link was opened after it expired at {invitation.expires_at:%Y-%m-%d %H:%M %Z}.",
    )
    return True
