"""Piped text on the survey page: the contact's fields and embedded data, HTML-escaped."""

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from distributions.models import Invitation
from workflows.piping import PipingSources, contact_fields, render


def invitation_piping_sources(invitation: Invitation) -> PipingSources:
    contact = invitation.contact
    embedded = contact.embedded_data if isinstance(contact.embedded_data, dict) else {}
    return PipingSources(
        contact=contact_fields(contact),
        embedded_data={name: str(value) for name, value in embedded.items() if value is not None},
        # Relative links: the page is already on our host, and loads nothing from elsewhere.
        links={
            "SurveyLink": reverse("distributions:survey", args=[invitation.token]),
            "OptOutLink": reverse("distributions:opt-out", args=[invitation.token]),
        },
    )


def piped_html(template: str, sources: PipingSources) -> SafeString:
    # render() escapes every piped value and keeps the survey author's own markup: the author is
    # a trusted admin, the values come from Salesforce and the contact.
    return mark_safe(render(template, sources, html=True).text)
