"""Absolute URLs of this site's pages, as Salesforce, recipients and admins reach them."""

import functools
import re

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

# Arguments written into a path as they are (URL-safe tokens, ids): a path reversed once per page
# with a placeholder serves them all, where reverse() would match the URL patterns every time.
_PLAIN_ARGUMENT = re.compile(r"[A-Za-z0-9_-]+")
_PLACEHOLDER = "zqplaceholderqz"


def public_url(viewname: str, args: list | tuple = ()) -> str:
    """PUBLIC_BASE_URL followed by the page's path inside the site (as config/urls.py routes it),
    e.g. "https://surveys.example.com/s/<token>/opt-out/".

    PUBLIC_BASE_URL ends with a path when the site is served under one (gunicorn's SCRIPT_NAME,
    e.g. https://example.com/surveys). reverse() starts its paths with that prefix inside such a
    request and with "/" in a worker: the prefix is taken off, so every process writes the same
    URL, with the prefix once."""
    if len(args) == 1 and _PLAIN_ARGUMENT.fullmatch(str(args[0])):
        pattern = _path_pattern(viewname, settings.ROOT_URLCONF, get_urlconf())
        if pattern is not None:
            return f"{settings.PUBLIC_BASE_URL}/{pattern.replace(_PLACEHOLDER, str(args[0]))}"
    path = reverse(viewname, args=args)
    return f"{settings.PUBLIC_BASE_URL}/{path.removeprefix(get_script_prefix())}"


@functools.lru_cache(maxsize=64)
def _path_pattern(viewname: str, root_urlconf: str, urlconf: str | None) -> str | None:
    """The page's path with a placeholder for its one argument, or None when it takes no such path."""
    try:
        path = reverse(viewname, args=[_PLACEHOLDER], urlconf=urlconf)
    except NoReverseMatch:
        return None
    path = path.removeprefix(get_script_prefix())
    return path if path.count(_PLACEHOLDER) == 1 else None
