"""Project-wide answers that belong to no app."""

import sys

from django.contrib import admin
from django.core.exceptions import SuspiciousOperation
from django.http import HttpResponse
from django.shortcuts import render
from django.views import csrf, defaults

from api.envelope import (
    API_PATH_PREFIX,
    RETRY_AFTER_SECONDS,
    database_unavailable_response,
    envelope_error_response,
    refused_request_response,
    server_error_response,
)
from config.logging_filters import database_unavailable
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


# The paths of the links respondents open from an email or a text (distributions' survey and short links).
RESPONDENT_PATH_PREFIXES = ("/s/", "/r/")


def _survey_page_kwargs(request) -> dict | None:
    """The URL arguments of the survey page `request` is for, or None for any other page."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name != "distributions:survey":
        return None
    return match.kwargs


def page_not_found(request, exception=None):
    """Django's answer to a path that names no page: under a survey or short link's path (a link a
    mail or SMS app cut short or added to) the respondent's "can't find this survey link" page,
    elsewhere Django's. -> HTTP 404."""
    if request.path_info.startswith(RESPONDENT_PATH_PREFIXES):
        return survey.link_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def csrf_failure(request, reason=""):
    """settings.CSRF_FAILURE_VIEW: a survey page's refused POST gets a page for its respondent,
    in the survey's look, with the way back to the survey; every other page, Django's. -> HTTP 403."""
    if (kwargs := _survey_page_kwargs(request)) is not None:
        return survey.survey_csrf_refused(request, **kwargs)
    return csrf.csrf_failure(request, reason)


def bad_request(request, exception=None):
    """Django's answer to a request it refuses before any view (a Host not in ALLOWED_HOSTS, too
    many fields): under /API/ the JSON envelope scripts read, on the survey page a page for its
    respondent, elsewhere Django's. -> HTTP 400."""
    if request.path_info.startswith(API_PATH_PREFIX):
        return refused_request_response(request, exception or SuspiciousOperation())
    if (kwargs := _survey_page_kwargs(request)) is not None:  # answers too large to read: say so, and the way back
        return survey.survey_answers_unreadable(request, **kwargs)
    return defaults.bad_request(request, exception)


def server_error(request):
    """Django's answer to an error no view answered: under /API/ the JSON envelope, elsewhere
    Django's page. -> HTTP 500.

    An error that says the database cannot serve requests for now (it went away, refused the
    connection; config.logging_filters.database_unavailable) is a 503 with Retry-After instead,
    the page saying to try again in a minute: nothing is wrong with the request, and clients that
    retry (ESPs' webhooks, scripts) do so on a 503."""
    if database_unavailable(sys.exc_info()[1]):
        if request.path_info.startswith(API_PATH_PREFIX):
            return database_unavailable_response(request)
        response = HttpResponse(UNAVAILABLE_PAGE, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if request.path_info.startswith(API_PATH_PREFIX):
        return server_error_response(request)
    return defaults.server_error(request)


UNAVAILABLE_PAGE = (
    '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Temporarily unavailable</title>'
    '<meta name="viewport" content="width=device-width, initial-scale=1"></head>\n<body>\n'
    "<h1>Temporarily unavailable</h1>\n<p>This page cannot be shown right now. Please try again in a minute.</p>\n"
    "</body>\n</html>\n"
)
