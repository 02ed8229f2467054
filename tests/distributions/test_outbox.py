"""The local outbox backend: the embedded default keeps each email as a row the admin shows."""

import os

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection

from distributions.channels.email import Outcome, email_hand_off, invitation_email
from distributions.channels.outbox import OutboxBackend
from distributions.models import OutboxMessage
from tests.factories import make_contact, make_distribution, make_invitation

pytestmark = pytest.mark.django_db


def test_it_stores_the_message_with_its_message_id_and_both_bodies():
    message = EmailMultiAlternatives(
        "How did we do?",
        "Take the survey: https://surveys.example.com/s/abc/",
        "Customer care <surveys@example.com>",
        ["ada@example.com"],
        headers={"Message-ID": "<invitation-1@example.com>"},
    )
    message.attach_alternative('<a href="https://surveys.example.com/s/abc/">Take the survey</a>', "text/html")
    assert OutboxBackend().send_messages([message]) == 1
    row = OutboxMessage.objects.get()
    assert (row.message_id, row.from_email, row.to, row.subject) == (
        "<invitation-1@example.com>",
        "Customer care <surveys@example.com>",
        "ada@example.com",
        "How did we do?",
    )
    assert row.text_body == "Take the survey: https://surveys.example.com/s/abc/"
    assert row.html_body == '<a href="https://surveys.example.com/s/abc/">Take the survey</a>'


def test_it_stores_an_html_only_message_as_html():
    message = EmailMessage("Hi", "<p>Hello</p>", "surveys@example.com", ["ada@example.com", "grace@example.com"])
    message.content_subtype = "html"
    OutboxBackend().send_messages([message])
    row = OutboxMessage.objects.get()
    assert (row.text_body, row.html_body, row.to) == ("", "<p>Hello</p>", "ada@example.com, grace@example.com")


def test_it_gives_a_message_without_a_message_id_one():
    OutboxBackend().send_messages([EmailMessage("Hi", "Hello", "surveys@example.com", ["ada@example.com"])])
    assert OutboxMessage.objects.get().message_id.startswith("<")


def test_it_works_through_djangos_email_framework(settings):
    settings.EMAIL_BACKEND = "distributions.channels.outbox.OutboxBackend"
    sent = get_connection().send_messages([EmailMessage("Hi", "Hello", "surveys@example.com", ["ada@example.com"])])
    assert sent == 1 and OutboxMessage.objects.count() == 1


@pytest.mark.skipif("EMAIL_BACKEND" in os.environ, reason="EMAIL_BACKEND is set in the environment")
def test_it_is_the_default_email_backend():
    from config import settings as product_settings  # the test settings replace it with locmem

    assert product_settings.EMAIL_BACKEND == "distributions.channels.outbox.OutboxBackend"


def test_it_records_an_invitations_non_ascii_addresses_and_sender_name_as_written():
    distribution = make_distribution(from_name="Zoë's Café", from_email="umfragen@exämple.com")
    contact = make_contact(first_name="Jörg", email="jörg@example.com")
    invitation = make_invitation(distribution=distribution, contact=contact, message_id="<invitation-1@example.com>")
    message = invitation_email(invitation=invitation, opt_out_url="https://surveys.example.com/s/x/opt-out/")

    assert email_hand_off(message=message, connection=OutboxBackend()).outcome == Outcome.ACCEPTED
    row = OutboxMessage.objects.get()
    assert (row.to, row.from_email) == ("jörg@example.com", "Zoë's Café <umfragen@exämple.com>")
