"""The pages a recipient reaches from an invitation: the survey and the opt-out. Transport only:
find the invitation, call a service, render its outcome."""

from dataclasses import dataclass
from functools import wraps

from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from distributions.models import Invitation, Question, Survey
from distributions.selectors import invitation_for_token, invitation_token_for_short_code, survey_link
from distributions.services.answers import RATING_MAX, RATING_MIN, answer_as_text
from distributions.services.piped_text import invitation_piping_sources
from distributions.services.responses import (
    Availability,
    ResponseError,
    ResponseInvalid,
    invitation_mark_expired,
    invitation_opt_out,
    invitation_response,
    response_finished_with,
    response_save,
    survey_availability,
)
from distributions.views.piped_text import piped_html

CLOSED_TEMPLATES = {
    Availability.FINISHED: "distributions/already_answered.html",
    Availability.EXPIRED: "distributions/expired.html",
    Availability.NOT_OPEN: "distributions/not_open.html",
    Availability.WITHDRAWN: "distributions/withdrawn.html",
}
FINISH, SAVE = "finish", "save"
# The pages show an admin's HTML with values piped in from Salesforce and the contact, escaped. But a
# value the HTML uses as a link (href="${e://Field/Url}") can still be a javascript: URL, on the
# admin's origin. The pages need no script at all, so none may run: only their own inline styles,
# images (e.g. a logo in the introduction) and posting their form to themselves.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# HEAD as GET (RFC 9110 section 9.1): link checkers and mail scanners ask with it, and a 405 makes the link look broken.
PAGE_METHODS = ["GET", "HEAD", "POST"]
RATING_OPTIONS = [(str(n), str(n)) for n in range(RATING_MIN, RATING_MAX + 1)]


@dataclass(frozen=True)
class QuestionField:
    """One question as the page shows it: its input name, piped text, options, value and error."""

    question: Question
    name: str
    text: SafeString
    options: list[tuple[str, str]]
    value: str
    error: str

    @property
    def is_rating(self) -> bool:
        return self.question.kind == Question.Kind.RATING

    @property
    def input_id(self) -> str:
        """The id of the field's first input: where the error summary's link leads."""
        return f"{self.name}-{self.options[0][0]}" if self.options else f"{self.name}-text"

    @property
    def described_by(self) -> str:
        """The ids of the hint and the error that describe the question (aria-describedby)."""
        ids = [f"{self.name}-hint"] if self.is_rating else []
        return " ".join(ids + ([f"{self.name}-error"] if self.error else []))


def without_scripts(view):
    """`view` with CONTENT_SECURITY_POLICY on each of its responses."""

    @wraps(view)
    def respond(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    return respond


# never_cache: the page shows a person's name and answers; no shared cache may keep it.
@without_scripts
@never_cache
@require_http_methods(PAGE_METHODS)
def survey_page(request, token):
    invitation = invitation_for_token(token)
    if invitation is None:
        return render(request, "distributions/not_found.html", status=404)
    posted = request.method == "POST"
    submitted = _submitted_answers(request.POST, invitation) if posted else {}
    finish = posted and request.POST.get("action") == FINISH
    availability = survey_availability(invitation=invitation)
    if availability != Availability.OPEN:
        return _closed(request, invitation, availability, finished_with=submitted if finish else None)
    if not posted:
        response = invitation_response(invitation)
        saved = {key: answer_as_text(answer) for key, answer in (response.answers if response else {}).items()}
        return _form(request, invitation, values=saved, errors={}, saved="saved" in request.GET)

    try:
        response_save(invitation=invitation, answers=submitted, finish=finish)
    except ResponseInvalid as invalid:
        return _form(request, invitation, values=submitted, errors=invalid.errors, saved=False)
    except ResponseError as closed:  # finished in another tab, or expired, since the page loaded
        return _closed(request, invitation, Availability(closed.code), finished_with=submitted if finish else None)
    if finish:
        return _thank_you(request, invitation)
    # Post/redirect/get: reloading the confirmation must not post the answers again.
    return redirect(reverse("distributions:survey", args=[token]) + "?saved")


@without_scripts
@never_cache
@require_http_methods(["GET", "HEAD"])
def short_link(request, code):
    """A text's short survey link: a redirect to the invitation's `/s/<token>/` page (302: the
    page, not the short link, is where the survey lives). An unknown code is the 404 page."""
    token = invitation_token_for_short_code(code)
    if token is None:
        return render(request, "distributions/not_found.html", status=404)
    return redirect(survey_link(token))


# The invitation's token in the URL is what authorizes the opt-out, not a session: a mailbox
# provider's one-click POST (RFC 8058 section 3.2) carries no cookie and no CSRF token, and must work.
@csrf_exempt
@without_scripts
@never_cache
@require_http_methods(PAGE_METHODS)
def opt_out_page(request, token):
    """The List-Unsubscribe URL of an invitation's email (RFC 2369, RFC 8058).

    GET (and HEAD) shows the confirmation page and changes nothing: link scanners fetch every URL
    of a message. POST unsubscribes, idempotently: the page's button, or a mailbox provider's
    one-click POST of `List-Unsubscribe=One-Click`. An unknown token is a 404 page.
    """
    invitation = invitation_for_token(token)
    if invitation is None:
        return render(request, "distributions/not_found.html", status=404)
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        invitation_opt_out(invitation=invitation, one_click=one_click)
        return render(request, "distributions/opted_out.html", {"invitation": invitation})
    return render(request, "distributions/opt_out.html", {"invitation": invitation})


@without_scripts
@never_cache
def link_not_found(request, exception=None):
    """The page of a survey or short link that names no invitation, or of a path under them (a link
    a mail or SMS app cut short or glued characters to). -> HTTP 404."""
    return render(request, "distributions/not_found.html", status=404)


@without_scripts
@never_cache
def survey_answers_unreadable(request, token):
    """The survey page's answer to a POST Django refuses to read (larger than
    DATA_UPLOAD_MAX_MEMORY_SIZE, more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS): nothing was
    saved; the page says so and links back to the survey. -> HTTP 400."""
    return render(request, "distributions/answers_unreadable.html", {"token": token}, status=400)


@without_scripts
@never_cache
def survey_csrf_refused(request, token):
    """The survey page's answer to a POST without a valid CSRF token (settings.CSRF_FAILURE_VIEW
    sends it here): the browser sent back no CSRF cookie (cookies blocked for the site) or another
    one (a sign-in on another tab replaced it). Nothing was saved; the page says so and links back
    to the survey, where a GET sets the cookie again. -> HTTP 403."""
    return render(request, "distributions/csrf_refused.html", {"token": token}, status=403)


def _thank_you(request, invitation: Invitation):
    thank_you = piped_html(invitation.distribution.survey.thank_you, invitation_piping_sources(invitation))
    return render(request, "distributions/thank_you.html", {"invitation": invitation, "thank_you": thank_you})


def _closed(request, invitation: Invitation, availability: Availability, *, finished_with: dict | None = None):
    """The page of a link that takes no answers. `finished_with`: the answers of a Submit; when the
    response is finished with exactly them, this is the same Submit sent again (a double click, a
    reload of the thank-you page), and the respondent is thanked again rather than refused."""
    if (
        availability == Availability.FINISHED
        and finished_with is not None
        and response_finished_with(invitation=invitation, answers=finished_with)
    ):
        return _thank_you(request, invitation)
    if availability == Availability.EXPIRED:
        invitation_mark_expired(invitation=invitation)
    # Closed is for good; paused (or back to new) may open again.
    closed = invitation.distribution.survey.status == Survey.Status.CLOSED
    return render(request, CLOSED_TEMPLATES[availability], {"invitation": invitation, "closed": closed})


def _submitted_answers(post: QueryDict, invitation: Invitation) -> dict[str, str]:
    # Every question is submitted, unanswered ones blank, so emptying a field clears its answer.
    return {str(q.pk): post.get(f"q{q.pk}", "") for q in invitation.distribution.survey.questions.all()}


def _form(request, invitation: Invitation, *, values: dict, errors: dict, saved: bool):
    survey = invitation.distribution.survey
    sources = invitation_piping_sources(invitation)
    fields = [
        QuestionField(
            question=question,
            name=f"q{question.pk}",
            text=piped_html(question.text, sources),
            options=_options(question),
            value=values.get(str(question.pk), ""),
            error=errors.get(str(question.pk), ""),
        )
        for question in survey.questions.all()
    ]
    context = {
        "invitation": invitation,
        "survey": survey,
        "introduction": piped_html(survey.introduction, sources),
        "fields": fields,
        "errors": [field for field in fields if field.error],
        "saved": saved,
        "finish": FINISH,
        "save": SAVE,
    }
    return render(request, "distributions/survey.html", context)


def _options(question: Question) -> list[tuple[str, str]]:
    if question.kind == Question.Kind.RATING:
        return RATING_OPTIONS
    if question.kind == Question.Kind.MULTIPLE_CHOICE:
        return [(str(number), text) for number, text in enumerate(question.choice_list(), start=1)]
    return []
