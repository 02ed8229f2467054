"""Project-wide answers that belong to no app."""

from django.contrib import admin
from django.core.exceptions import SuspiciousOperation
from django.shortcuts import render
from django.views import csrf, defaults

from api.envelope import API_PATH_PREFIX, envelope_error_response, refused_request_response, server_error_response
from distributions.views import survey


def permission_denied(request, exception=None):
    """Django's answer to PermissionDenied, as a page in the admin's look (its header, user tools
    and a way home): every view that raises it is a staff page. -> HTTP 403.

    A refusal made before the user is known (CommonMiddleware's DISALLOWED_USER_AGENTS) gets the
    page without the admin's context, which needs the user."""
    if request.path_info.startswith(API_PATH_PREFIX):  # under /API/, the JSON envelope scripts read
        message = str(exception or "") or "This request is not allowed."
        return envelope_error_response(status=403, message=message, code="PERMISSION_DENIED", request=request)
    context = admin.site.each_context(request) if hasattr(request, "user") else {}
    return render(request, "403.html", context, status=403)


def csrf_failure(request, reason=""):
    """settings.CSRF_FAILURE_VIEW: a survey page's refused POST gets a page for its respondent,
    in the survey's look, with the way back to the survey; every other page, Django's. -> HTTP 403."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name == "distributions:survey":
        return survey.survey_csrf_refused(request, **match.kwargs)
    return csrf.csrf_failure(request, reason)


def bad_request(request, exception=None):
    """Django's answer to a request it refuses before any view (a Host not in ALLOWED_HOSTS, too
    many fields): under /API/ the JSON envelope scripts read, elsewhere Django's page. -> HTTP 400."""
    if request.path_info.startswith(API_PATH_PREFIX):
        return refused_request_response(request, exception or SuspiciousOperation())
    return defaults.bad_request(request, exception)


def server_error(request):
    """Django's answer to an error outside the views (a middleware's): under /API/ the JSON
    envelope, elsewhere Django's page. -> HTTP 500."""
    if request.path_info.startswith(API_PATH_PREFIX):
        return server_error_response(request)
    return defaults.server_error(request)
