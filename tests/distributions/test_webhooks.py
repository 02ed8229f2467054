"""Tracking webhooks: only the configured ESP's is served, and none answers 500 to garbage or strangers.

Every ESP django-anymail ships a tracking webhook for is called here, configured as an install
that sends through it would be, but without the ESP's own keys: anymail needs some of them
(Mailgun's signing key, boto3 for Amazon SES, ...) and answered 500 without them.
"""

import base64
import logging
from pathlib import Path

import pytest
from anymail import urls as anymail_urls
from django.test import override_settings

from distributions.models import DeliveryEvent
from distributions.webhooks import tracking_esp

pytestmark = [
    pytest.mark.django_db,
    # anymail warns about the ESPs it keeps only for compatibility (SendGrid, the SendinBlue URLs).
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailDeprecationWarning"),
]

SECRET = "tracking:s3cret-password"
POSTMARK_OPEN = (Path(__file__).resolve().parents[1] / "fixtures" / "anymail" / "postmark_open.json").read_bytes()
# Every ESP with a tracking webhook in the installed anymail, as its URLs spell them.
ANYMAIL_ESPS = sorted(
    pattern.name.removesuffix("_tracking_webhook")
    for pattern in anymail_urls.urlpatterns
    if pattern.name.endswith("_tracking_webhook")
)
GARBAGE = [
    (b"not json at all", "application/json"),
    (b"{}", "application/json"),
    (b'{"signature": "x", "event-data": 1, "Type": "Notification", "Message": "{"}', "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b"token=1&timestamp=2&signature=3&event=delivered", "application/x-www-form-urlencoded"),
    (b"mandrill_events=%5B%7B%7D%5D", "application/x-www-form-urlencoded"),
    # batches of events none of which can be read, and JSON nested deeper than Python reads
    (b"[1, {}, []]", "application/json"),
    (b"mandrill_events=%5B1%2C%7B%7D%5D", "application/x-www-form-urlencoded"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
]


def basic_auth(credentials):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}


def call(client, esp, body=b"{}", content_type="application/json", **headers):
    return client.generic("POST", f"/webhooks/{esp}/tracking/", body, content_type=content_type, **headers)


@pytest.fixture
def serving(settings):
    """serving(esp): the install tracks `esp` with webhook credentials SECRET and no ESP keys."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET]}

    def serve(esp):
        settings.TRACKING_WEBHOOK_ESP = esp

    return serve


def test_the_installed_anymail_has_tracking_webhooks_to_test():
    assert {"mailgun", "amazon_ses", "postmark", "sendgrid"} <= set(ANYMAIL_ESPS)


@pytest.mark.parametrize("esp", ANYMAIL_ESPS)
def test_it_serves_no_tracking_webhook_when_sending_to_the_local_outbox(client, settings, esp):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET]}
    settings.EMAIL_BACKEND = "distributions.channels.outbox.OutboxBackend"
    settings.TRACKING_WEBHOOK_ESP = ""

    assert call(client, esp, **basic_auth(SECRET)).status_code == 404


@pytest.mark.parametrize("path", ["/webhooks/mailgun/inbound/", "/webhooks/postmark/inbound/", "/webhooks/mandrill/"])
def test_it_serves_no_inbound_webhook(client, serving, path):
    serving(path.split("/")[2])
    assert client.post(path, b"{}", content_type="application/json", **basic_auth(SECRET)).status_code == 404


def test_it_serves_the_esp_of_an_anymail_email_backend_and_no_other(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET]}
    settings.TRACKING_WEBHOOK_ESP = ""
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"

    assert tracking_esp() == "postmark"
    assert call(client, "postmark", POSTMARK_OPEN, **basic_auth(SECRET)).status_code == 200
    assert call(client, "sendgrid", b"[]", **basic_auth(SECRET)).status_code == 404


def test_it_serves_the_esp_named_when_sending_through_its_smtp_relay(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET]}
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.TRACKING_WEBHOOK_ESP = "sendgrid"

    assert tracking_esp() == "sendgrid"
    assert call(client, "sendgrid", b"[]", **basic_auth(SECRET)).status_code == 200
    assert call(client, "postmark", POSTMARK_OPEN, **basic_auth(SECRET)).status_code == 404


@pytest.mark.parametrize("esp", ANYMAIL_ESPS)
@pytest.mark.parametrize("body, content_type", GARBAGE)
def test_it_refuses_an_unauthenticated_call_to_any_esp(client, serving, esp, body, content_type):
    serving(esp)

    response = call(client, esp, body, content_type)

    assert response.status_code in (400, 401, 403)
    assert DeliveryEvent.objects.count() == 0


@pytest.mark.parametrize("esp", ANYMAIL_ESPS)
@pytest.mark.parametrize("body, content_type", GARBAGE)
def test_it_never_answers_500_to_garbage_with_the_right_credentials(client, serving, esp, body, content_type):
    serving(esp)

    response = call(client, esp, body, content_type, **basic_auth(SECRET))

    assert response.status_code < 500
    assert DeliveryEvent.objects.count() == 0


def test_it_refuses_mailgun_calls_and_says_why_when_its_signing_key_is_missing(client, serving, caplog):
    serving("mailgun")

    with caplog.at_level(logging.ERROR, logger="distributions.webhooks"):
        response = call(client, "mailgun", b"{}", **basic_auth(SECRET))

    assert response.status_code == 400
    assert "MAILGUN_WEBHOOK_SIGNING_KEY" in caplog.text


def test_it_refuses_amazon_ses_calls_and_says_why_when_boto3_is_missing(client, serving, caplog):
    pytest.importorskip("anymail.webhooks.amazon_ses")
    try:
        import boto3  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("boto3 is installed here")
    serving("amazon_ses")

    with caplog.at_level(logging.ERROR, logger="distributions.webhooks"):
        response = call(client, "amazon_ses", b"{}", **basic_auth(SECRET))

    assert response.status_code == 400
    assert "boto3" in caplog.text


def test_it_refuses_every_call_when_no_webhook_credentials_are_set(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": []}
    settings.TRACKING_WEBHOOK_ESP = "postmark"

    for headers in ({}, basic_auth(":"), basic_auth(SECRET)):
        assert call(client, "postmark", b"[]", **headers).status_code == 400


@override_settings(TRACKING_WEBHOOK_ESP="", EMAIL_BACKEND="anymail.backends.amazon_ses.EmailBackend")
def test_it_names_amazon_ses_as_its_urls_spell_it():
    assert tracking_esp() == "amazon_ses"
