"""The email channel: the invitation's headers, the deterministic Message-ID, and what a backend's
error means for a resend."""

import smtplib
import time
from datetime import timedelta

import pytest
import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailUnsupportedFeature,
)
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.http import http_date

from distributions.channels.email import Outcome, email_hand_off, invitation_email, invitation_message_id
from distributions.channels.smtp import UnsendableAddress
from tests.distributions.smtp_server import smtp_server
from tests.factories import make_invitation


class FailingBackend(BaseEmailBackend):
    def __init__(self, error, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def send_messages(self, email_messages):
        raise self.error


def esp_error(status_code, reason):
    response = requests.Response()
    response.status_code, response.reason, response._content = status_code, reason, b"{}"
    return AnymailAPIError(reason, status_code=status_code, response=response)


def outcome_of(error):
    message = EmailMultiAlternatives("Hi", "Hello", "surveys@example.com", ["ada@example.com"])
    return email_hand_off(message=message, connection=FailingBackend(error)).outcome


def test_it_derives_the_same_message_id_from_the_token_on_every_attempt():
    first = invitation_message_id(token="tok-123", from_email="surveys@example.com")
    assert first == invitation_message_id(token="tok-123", from_email="surveys@example.com")
    assert first.startswith("<invitation-") and first.endswith("@example.com>")
    assert first != invitation_message_id(token="tok-124", from_email="surveys@example.com")


def test_it_keeps_the_token_out_of_the_message_id():
    assert "tok-123" not in invitation_message_id(token="tok-123", from_email="surveys@example.com")


def test_a_4xx_reply_is_temporary_and_a_5xx_reply_permanent():
    assert outcome_of(smtplib.SMTPRecipientsRefused({"ada@example.com": (450, b"busy")})) == Outcome.TEMPORARY
    assert outcome_of(smtplib.SMTPRecipientsRefused({"ada@example.com": (550, b"no such user")})) == Outcome.PERMANENT
    assert outcome_of(smtplib.SMTPDataError(451, b"local error")) == Outcome.TEMPORARY
    assert outcome_of(smtplib.SMTPSenderRefused(553, b"not allowed", "surveys@example.com")) == Outcome.PERMANENT


def test_a_connection_lost_while_sending_is_uncertain():
    assert outcome_of(smtplib.SMTPServerDisconnected("Connection unexpectedly closed")) == Outcome.UNCERTAIN
    assert outcome_of(TimeoutError("timed out")) == Outcome.UNCERTAIN


def test_an_esp_asking_to_come_back_later_is_temporary_and_a_refusal_permanent():
    assert outcome_of(esp_error(429, "Too Many Requests")) == Outcome.TEMPORARY
    assert outcome_of(esp_error(408, "Request Timeout")) == Outcome.TEMPORARY
    assert outcome_of(esp_error(400, "Bad Request")) == Outcome.PERMANENT
    assert outcome_of(AnymailRecipientsRefused("suppressed")) == Outcome.PERMANENT
    assert outcome_of(esp_error(504, "Gateway Timeout")) == Outcome.UNCERTAIN


def test_the_message_id_of_a_sender_with_an_idn_domain_is_ascii():
    message_id = invitation_message_id(token="tok-123", from_email="umfragen@exämple.com")

    assert message_id.endswith("@xn--exmple-cua.com>") and message_id.isascii()


@pytest.mark.django_db
def test_the_invitation_offers_one_click_unsubscribe_at_its_opt_out_url():
    invitation = make_invitation(message_id="<invitation-1@example.com>")
    url = f"https://surveys.example.com/s/{invitation.token}/opt-out/"

    headers = invitation_email(invitation=invitation, opt_out_url=url).extra_headers

    assert headers["List-Unsubscribe"] == f"<{url}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    "error",
    [
        AnymailUnsupportedFeature("EAI in from_email"),
        AnymailInvalidAddress("Invalid email address"),
        smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server"),
        UnsendableAddress("The mail server does not offer SMTPUTF8"),
    ],
)
def test_an_error_raised_before_anything_was_sent_is_permanent(error):
    assert outcome_of(error) == Outcome.PERMANENT


@pytest.mark.django_db
def test_djangos_own_smtp_backend_is_not_given_a_non_ascii_local_part(settings):
    with smtp_server(settings, backend="django.core.mail.backends.smtp.EmailBackend") as server:
        message = EmailMultiAlternatives("Hi", "Hello", "surveys@example.com", ["jörg@example.com"])
        hand_off = email_hand_off(message=message, connection=get_connection())

    assert hand_off.outcome == Outcome.PERMANENT
    assert "EMAIL_BACKEND=distributions.channels.smtp.EmailBackend" in hand_off.detail
    assert server.commands == []


@pytest.mark.django_db
def test_an_address_the_email_package_refuses_fails_for_good_before_anything_is_sent(settings):
    sender = "Zoë =?utf-8?q?Care=0D=0ABcc=3A_eve=40evil.example?= <surveys@example.com>"
    with smtp_server(settings, backend="django.core.mail.backends.smtp.EmailBackend") as server:
        message = EmailMultiAlternatives("Hi", "Hello", sender, ["ada@example.com"])
        hand_off = email_hand_off(message=message, connection=get_connection())

    assert hand_off.outcome == Outcome.PERMANENT
    assert "cannot be written in its headers" in hand_off.detail
    assert server.commands == []


def test_an_esp_asking_to_come_back_later_says_when_in_seconds_or_as_a_date():
    def retry_after(value):
        error = esp_error(429, "Too Many Requests")
        error.response.headers["Retry-After"] = value
        message = EmailMultiAlternatives("Hi", "Hello", "surveys@example.com", ["ada@example.com"])
        return email_hand_off(message=message, connection=FailingBackend(error)).retry_after

    in_an_hour = http_date(time.time() + 3600)

    assert retry_after("120") == timedelta(seconds=120)
    assert timedelta(minutes=59) < retry_after(in_an_hour) <= timedelta(hours=1)
    assert retry_after("soon") is None
