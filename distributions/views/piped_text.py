"""Piped text on the survey page: the contact's fields and embedded data, HTML-escaped."""

from django.utils.safestring import SafeString, mark_safe

from workflows.piping import PipingSources, render


def piped_html(template: str, sources: PipingSources) -> SafeString:
    # render() escapes every piped value and keeps the survey author's own markup: the author is
    # a trusted admin, the values come from Salesforce and the contact.
    return mark_safe(render(template, sources, html=True).text)
