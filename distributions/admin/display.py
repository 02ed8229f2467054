"""Small HTML renderings shared by the distributions admin: email bodies and links.

A link is shown only to who may open its target, with the check the target's view makes; to
anyone else its label stays, as plain text.
"""

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html


@dataclass(frozen=True)
class ReportPage:
    """A page about a survey or a distribution that another app serves: its URL, and the
    permissions its view requires (the same tuple the view checks)."""

    url: Callable[[int], str]
    permissions: tuple[str, ...]

    def url_for(self, pk: int, request) -> str:
        """The page's URL, or "" for a user its view would refuse."""
        return self.url(pk) if request is not None and request.user.has_perms(self.permissions) else ""


# Where a survey's or a distribution's history CSV is downloaded. The reporting app sits above
# this one, so it registers these from its AppConfig.ready(), the way task kinds are registered.
history_csv_pages: dict[str, ReportPage] = {}


def history_csv_url(scope: str, pk: int, request) -> str:
    """The history CSV's URL, or "" when it is not installed or the user may not download it."""
    page = history_csv_pages.get(scope)
    return page.url_for(pk, request) if page else ""


# A survey's read-only report pages (link text -> page), registered by the reporting app like
# history_csv_pages; the survey's admin page links to each the user may open.
survey_report_pages: dict[str, ReportPage] = {}


def survey_report_links(pk: int, request) -> list[tuple[str, str]]:
    links = ((label, page.url_for(pk, request)) for label, page in survey_report_pages.items())
    return [(label, url) for label, url in links if url]


def may_open_admin_page(model, request, obj=None) -> bool:
    """Whether the model's admin list (or obj's admin page) would open for the request's user: the
    model admin's own check."""
    if request is None or not admin.site.is_registered(model):
        return False
    return admin.site.get_model_admin(model).has_view_or_change_permission(request, obj)


def change_link(obj, request, label=None) -> str:
    """A link to the object's admin page, labelled with the object (or `label`); the label alone,
    as text, for who may not open that page."""
    if obj is None:
        return "—"
    label = obj if label is None else label
    if not may_open_admin_page(type(obj), request, obj):
        return format_html("{}", label)
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label)


class RequestBoundChangePageMixin:
    """Gives a change page's display methods its request, as self.request, so their links can
    be checked against the user. A model admin serves every request at once: each page is built
    by a shallow copy of it bound to that page's request (the rendered page keeps using the copy)."""

    request = None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if self.request is not request:
            bound = copy.copy(self)
            bound.request = request
            return bound.changeform_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)


# Links open in a new tab: inside the sandbox they could not navigate the admin, and without
# allow-scripts / allow-same-origin the message's own scripts and cookies stay inert.
_LINKS_IN_NEW_TAB = '<base target="_blank">'
_IFRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"
# Inside <head> when there is one: a <base> before the doctype would put the page in quirks mode.
_HEAD_START = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)


def with_links_in_new_tab(html: str) -> str:
    head = _HEAD_START.search(html)
    if head is None:
        return _LINKS_IN_NEW_TAB + html
    return html[: head.end()] + _LINKS_IN_NEW_TAB + html[head.end() :]


def sandboxed_html(html: str) -> str:
    """An email's HTML as the recipient sees it, with clickable links, unable to touch the admin."""
    if not html:
        return "—"
    # srcdoc is an attribute: format_html escapes the markup, the browser unescapes it into the frame.
    return format_html(
        '<iframe sandbox="{}" srcdoc="{}" title="HTML body" '
        'style="box-sizing: border-box; width: 100%; max-width: 800px; height: 600px; border: 1px solid #ccc; '
        'background: #fff"></iframe>',
        _IFRAME_SANDBOX,
        with_links_in_new_tab(html),
    )


def preformatted(text: str) -> str:
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text) if text else "—"
