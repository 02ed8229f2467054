"""Middleware of the whole site (MIDDLEWARE in config/settings.py)."""

from django.http import HttpResponseBadRequest
from django.urls import reverse

NUL = "\x00"


class AdminNullCharacterMiddleware:
    """Answer 400 to an admin request with a NUL character (%00) in its URL or its form fields.

    The admin turns URL parameters (list filters, autocomplete terms, object ids) into database
    queries, and PostgreSQL refuses NUL in text, so such a request would end in a 500. No admin
    page has a use for the character; Django's form fields refuse it too. The public pages check
    their own input: a survey answer with a NUL gets a message next to its question.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(reverse("admin:index")) and _holds_nul(request):
            return HttpResponseBadRequest(
                "The address or the form holds a NUL character (%00), which the admin cannot look up or store: "
                "remove it and try again.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


def _holds_nul(request) -> bool:
    if NUL in request.path:
        return True
    parameters = [request.GET, request.POST] if request.method == "POST" else [request.GET]
    return any(NUL in key or NUL in value for query in parameters for key, values in query.lists() for value in values)
