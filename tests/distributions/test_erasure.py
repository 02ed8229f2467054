"""Deleting a contact erases it everywhere distributions copied it; the invitation stays, naming nobody."""

import re

import pytest
from django.db import connection

from distributions.models import DeliveryEvent, Distribution, Invitation, OutboxMessage, Response
from distributions.services.delivery import invitations_claim_due
from distributions.services.erasure import NOT_SENT_DETAIL
from reporting.history import history_csv
from reporting.selectors import history_scope
from tests.factories import (
    make_contact,
    make_delivery_event,
    make_directory,
    make_distribution,
    make_invitation,
    make_run,
    make_survey,
    make_survey_field,
    make_survey_response,
    make_workflow,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered():
    """An invitation sent to Ada, opened (a provider payload naming her) and answered."""
    survey = make_survey()
    make_survey_field(survey=survey, name="Tier")
    contact = make_contact(
        first_name="Ada", last_name="Lovelace", email="ada@example.com", embedded_data={"Tier": "Gold"}
    )
    invitation = make_invitation(
        distribution=make_distribution(survey=survey, subject="Ada, how did we do?"),
        contact=contact,
        status="survey_finished",
        subject="Ada, how did we do?",
        text_body="Hello Ada Lovelace",
        html_body="<p>Hello Ada Lovelace</p>",
        status_detail="Delivered to ada@example.com",
        message_id="<m1@example.com>",
    )
    make_delivery_event(
        invitation=invitation,
        kind="opened",
        description="Opened by ada@example.com",
        data={"recipient": "ada@example.com"},
    )
    make_survey_response(invitation=invitation, answers={"1": "Great"}, embedded_data={"Tier": "Gold"})
    OutboxMessage.objects.create(
        message_id="<m1@example.com>", from_email="s@example.com", to="ada@example.com", text_body="Hello Ada"
    )
    return invitation


def test_the_invitation_stays_with_its_status_and_answers_erased_of_the_person(answered):
    answered.contact.delete()

    invitation = Invitation.objects.get(pk=answered.pk)
    response = Response.objects.get(invitation=invitation)
    assert invitation.contact_id is None
    assert invitation.status == "survey_finished"
    assert (invitation.address, invitation.subject, invitation.text_body, invitation.html_body) == ("", "", "", "")
    assert invitation.status_detail == ""
    assert invitation.distribution.subject == ""
    assert response.answers == {"1": "Great"}
    assert response.embedded_data == {}


def test_provider_events_and_the_outbox_keep_nothing_of_the_person(answered):
    answered.contact.delete()

    event = DeliveryEvent.objects.get(invitation=answered)
    assert (event.kind, event.description, event.data) == ("opened", "", {})
    assert not OutboxMessage.objects.exists()


def test_nothing_names_the_person_any_more(answered):
    answered.contact.delete()

    stored = " ".join(
        str(row) for model in (Invitation, DeliveryEvent, Response, OutboxMessage) for row in model.objects.values()
    )
    # Whole words, by case, and the address: a random token or digest may well contain "ada" or "Ada".
    assert not re.search(r"\bAda\b", stored)
    assert "Lovelace" not in stored
    assert "ada@" not in stored.lower()
    assert not re.search(r"\bGold\b", stored)


def test_a_pending_invitation_is_skipped_and_never_sent():
    contact = make_contact(email="ada@example.com")
    invitation = make_invitation(contact=contact)

    contact.delete()

    invitation.refresh_from_db()
    assert (invitation.status, invitation.status_detail) == ("email_skipped", NOT_SENT_DETAIL)
    assert invitations_claim_due(invitation_ids=[invitation.pk]) == []


def test_the_survey_link_no_longer_opens_and_the_opt_out_page_still_answers(client, answered):
    pending = make_invitation(contact=make_contact(email="grace@example.com"))
    pending.contact.delete()

    survey_page = client.get(f"/s/{pending.token}/")
    opt_out = client.post(f"/s/{pending.token}/opt-out/")

    assert survey_page.status_code == 200
    assert b"no longer valid" in survey_page.content
    assert opt_out.status_code == 200


def test_deleting_a_contact_in_the_admin_erases_it_too(admin_client, answered):
    response = admin_client.post(f"/admin/directory/contact/{answered.contact_id}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert Invitation.objects.get(pk=answered.pk).address == ""


def test_deleting_a_directory_erases_its_contacts(answered):
    answered.contact.directory.delete()

    assert Invitation.objects.get(pk=answered.pk).address == ""


def test_the_history_csv_keeps_the_row_without_the_person(answered):
    answered.contact.delete()
    scope = history_scope(survey=answered.distribution.survey)

    producers = [False, True] if connection.vendor == "postgresql" else [False]
    for use_copy in producers:
        content = b"".join(history_csv(scope, use_copy=use_copy)).decode("utf-8-sig")
        _header, row = content.splitlines()[0], content.splitlines()[1]
        assert row.startswith(answered.response.public_id + ",,,,,Survey Finished,")


def test_other_contacts_invitations_are_left_alone(answered):
    other = make_invitation(contact=make_contact(directory=make_directory(), email="grace@example.com"))

    answered.contact.delete()

    other.refresh_from_db()
    assert (other.contact.email, other.address) == ("grace@example.com", "grace@example.com")


def test_the_admin_shows_an_erased_invitation_and_the_run_that_sent_it(admin_client, answered):
    run = make_run(workflow=make_workflow())
    Distribution.objects.filter(pk=answered.distribution_id).update(run=run)
    answered.contact.delete()

    listing = admin_client.get("/admin/distributions/invitation/")
    page = admin_client.get(f"/admin/distributions/invitation/{answered.pk}/change/")
    run_page = admin_client.get(f"/admin/workflows/run/{run.pk}/change/")

    assert (listing.status_code, page.status_code, run_page.status_code) == (200, 200, 200)
    assert "a deleted contact" in run_page.content.decode()
