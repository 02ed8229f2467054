"""Small HTML renderings shared by the distributions admin: email bodies and links."""

import re
from collections.abc import Callable

from django.urls import reverse
from django.utils.html import format_html

# Where a survey's or a distribution's history CSV is downloaded. The reporting app sits above
# this one, so it registers these from its AppConfig.ready(), the way task kinds are registered.
history_csv_urls: dict[str, Callable[[int], str]] = {}


def history_csv_url(scope: str, pk: int) -> str:
    build = history_csv_urls.get(scope)
    return build(pk) if build else ""


# A survey's read-only report pages (link text -> URL of the survey's page), registered by the
# reporting app like history_csv_urls; the survey's admin page links to each.
survey_report_urls: dict[str, Callable[[int], str]] = {}


def survey_report_links(pk: int) -> list[tuple[str, str]]:
    return [(label, build(pk)) for label, build in survey_report_urls.items()]


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


def change_link(obj) -> str:
    """A link to the object's admin page, labelled with the object."""
    if obj is None:
        return "—"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj)
