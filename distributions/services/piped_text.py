"""The piped text an invitation's own texts can use: the contact's fields, their embedded data and
the invitation's links (SURVEY_TEXT_SCHEMES), for the survey page and for texts sent by SMS."""

from django.urls import reverse

from distributions.models import Invitation
from workflows.piping import PipingSources, contact_fields
from workflows.public_urls import public_url


def invitation_piping_sources(invitation: Invitation, *, absolute_links: bool = False) -> PipingSources:
    """What piped text in the survey's texts is filled from. `absolute_links`: the links start
    with PUBLIC_BASE_URL (a text message); otherwise they are paths (the survey page, already on
    our host, loads nothing from elsewhere)."""
    contact = invitation.contact
    embedded = contact.embedded_data if isinstance(contact.embedded_data, dict) else {}
    link = public_url if absolute_links else reverse
    return PipingSources(
        contact=contact_fields(contact),
        embedded_data={name: str(value) for name, value in embedded.items() if value is not None},
        links={
            "SurveyLink": link("distributions:survey", args=[invitation.token]),
            "OptOutLink": link("distributions:opt-out", args=[invitation.token]),
        },
    )
