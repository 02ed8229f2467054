"""Absolute URLs of this site's pages, as Salesforce, recipients and admins reach them."""

from django.conf import settings
from django.urls import get_script_prefix, reverse


def public_url(viewname: str, args: list | tuple = ()) -> str:
    """PUBLIC_BASE_URL followed by the page's path inside the site (as config/urls.py routes it),
    e.g. "https://surveys.example.com/s/<token>/opt-out/".

    PUBLIC_BASE_URL ends with a path when the site is served under one (gunicorn's SCRIPT_NAME,
    e.g. https://example.com/surveys). reverse() starts its paths with that prefix inside such a
    request and with "/" in a worker: the prefix is taken off, so every process writes the same
    URL, with the prefix once."""
    path = reverse(viewname, args=args)
    return f"{settings.PUBLIC_BASE_URL}/{path.removeprefix(get_script_prefix())}"
