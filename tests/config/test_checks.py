"""The deployment checks, run through Django's check framework as `manage.py check [--deploy]` runs them."""

import base64

import pytest
from django.core import checks

# A production configuration that passes every check of config/checks.py.
SOUND = {
    "DEBUG": False,
    "SECRET_KEY": "Qx8vN2mK4pL9rT6wY1zB3cD5fG7hJ0kM2nP4qR6sT8uV0wX2yZ4aB6",
    "ALLOWED_HOSTS": ["surveys.example.com"],
    "PUBLIC_BASE_URL": "https://surveys.example.com",
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SECURE_SSL_REDIRECT": True,
    "EMAIL_BACKEND": "distributions.channels.smtp.EmailBackend",
    "TRACKING_WEBHOOK_ESP": "",
    "RUN_LEASE_SECONDS": 600,
    "ANYMAIL": {"WEBHOOK_SECRET": ["tracking:Zx7-Lq2_Wm9vRt4Kp8Ny3Bc6"]},
}
LONG_PASSWORD = "Zx7-Lq2_Wm9vRt4Kp8Ny3Bc6"


@pytest.fixture
def configured(settings):
    """configured(**overrides) -> ids of the product's issues `manage.py check --deploy` reports."""
    for name, value in SOUND.items():
        setattr(settings, name, value)
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 300}

    def run(*, worker_timeout=None, **overrides):
        for name, value in overrides.items():
            setattr(settings, name, value)
        if worker_timeout is not None:
            settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": worker_timeout}
        issues = checks.run_checks(include_deployment_checks=True)
        return {issue.id for issue in issues if issue.id.startswith("sfsurveys.")}

    return run


def untagged_ids():
    """Ids of the product's issues a plain `manage.py check` (and so every command) reports."""
    return {issue.id for issue in checks.run_checks() if issue.id.startswith("sfsurveys.")}


def test_a_sound_production_configuration_passes(configured):
    assert configured() == set()


def test_it_stops_workers_whose_jobs_outlive_the_email_claim(configured):
    assert configured(worker_timeout=600) == {"sfsurveys.E001", "sfsurveys.W001"}
    assert "sfsurveys.E001" in untagged_ids()
    assert configured(worker_timeout=599, RUN_LEASE_SECONDS=900) == set()


def test_it_warns_when_a_run_can_be_requeued_while_its_job_still_runs(configured):
    assert configured(RUN_LEASE_SECONDS=300) == {"sfsurveys.W001"}
    assert configured(RUN_LEASE_SECONDS=301) == set()


def test_it_refuses_an_email_backend_that_cannot_load(configured):
    assert configured(EMAIL_BACKEND="django.core.mail.backends.smpt.EmailBackend") == {"sfsurveys.E002"}


def test_it_refuses_an_esp_backend_without_its_api_key(configured):
    assert configured(EMAIL_BACKEND="anymail.backends.postmark.EmailBackend") == {"sfsurveys.E002"}
    settings_with_key = {"WEBHOOK_SECRET": [f"tracking:{LONG_PASSWORD}"], "POSTMARK_SERVER_TOKEN": "server-token"}
    assert configured(ANYMAIL=settings_with_key) == set()


def test_it_refuses_a_tracking_esp_anymail_does_not_know(configured):
    assert configured(TRACKING_WEBHOOK_ESP="postmarq") == {"sfsurveys.E003"}


def test_it_warns_when_the_tracking_webhook_has_no_credentials(configured):
    assert configured(TRACKING_WEBHOOK_ESP="postmark", ANYMAIL={"WEBHOOK_SECRET": []}) == {"sfsurveys.W002"}


@pytest.mark.parametrize("secrets", [["s3cret-without-a-user"], [f"tracking:{LONG_PASSWORD}", "new-s3cret"]])
def test_it_warns_when_webhook_credentials_could_never_match_an_esps_basic_auth(configured, secrets):
    assert configured(TRACKING_WEBHOOK_ESP="postmark", ANYMAIL={"WEBHOOK_SECRET": secrets}) == {"sfsurveys.W006"}


def test_a_credential_without_a_colon_is_refused_by_the_webhook_indeed(client, settings):
    settings.TRACKING_WEBHOOK_ESP = "postmark"
    settings.ANYMAIL = {"WEBHOOK_SECRET": ["s3cret-without-a-user"]}
    # What an ESP sends for https://s3cret-without-a-user@host/...: the user with an empty password.
    credentials = base64.b64encode(b"s3cret-without-a-user:").decode()

    authorization = f"Basic {credentials}"

    response = client.post(
        "/webhooks/postmark/tracking/", b"{}", content_type="application/json", HTTP_AUTHORIZATION=authorization
    )

    assert response.status_code == 400


def test_it_warns_when_the_tracking_webhook_cannot_check_the_esp_signature(configured):
    assert configured(TRACKING_WEBHOOK_ESP="mailgun") == {"sfsurveys.W003"}
    signed = {"WEBHOOK_SECRET": [f"tracking:{LONG_PASSWORD}"], "MAILGUN_WEBHOOK_SIGNING_KEY": "key-1"}
    assert configured(ANYMAIL=signed) == set()


def test_it_warns_about_an_https_redirect_that_would_loop_behind_a_proxy(configured):
    assert configured(SECURE_PROXY_SSL_HEADER=None) == {"sfsurveys.W004"}
    assert configured(SECURE_SSL_REDIRECT=False) == set()


# The check reads the engine from settings; the test database connection is left alone.
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_it_warns_about_debug_with_a_database_server_on_every_command(configured, settings):
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql"}}
    assert configured(DEBUG=True) == {"sfsurveys.W005", "sfsurveys.E106"}  # an error when deploying
    assert untagged_ids() == {"sfsurveys.W005"}


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_it_allows_debug_with_sqlite(configured, settings):
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.sqlite3"}}
    assert configured(DEBUG=True) == set()


@pytest.mark.parametrize(
    "backend",
    ["distributions.channels.outbox.OutboxBackend", "django.core.mail.backends.console.EmailBackend"],
)
def test_it_warns_on_deploy_that_invitations_are_not_sent(configured, backend):
    assert configured(EMAIL_BACKEND=backend) == {"sfsurveys.W101"}


def test_the_unsent_invitations_warning_recommends_the_products_smtp_backend(configured, settings):
    configured(EMAIL_BACKEND="distributions.channels.outbox.OutboxBackend")
    [warning] = [issue for issue in checks.run_checks(include_deployment_checks=True) if issue.id == "sfsurveys.W101"]
    # Django's own SMTP backend refuses addresses with non-ASCII characters before the @.
    assert "distributions.channels.smtp.EmailBackend" in warning.hint
    assert "django.core.mail.backends.smtp" not in warning.hint
    assert "anymail.backends." in warning.hint


@pytest.mark.parametrize("url", ["surveys.example.com", "/surveys", "https://", "ftp://surveys.example.com"])
def test_every_command_refuses_a_public_base_url_recipients_cannot_open(configured, url):
    assert configured(PUBLIC_BASE_URL=url) >= {"sfsurveys.E004"}
    assert "sfsurveys.E004" in untagged_ids()


def test_the_public_base_url_error_stops_management_commands(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.PUBLIC_BASE_URL = "surveys.example.com"
    with pytest.raises(SystemCheckError, match="sfsurveys.E004"):
        call_command("check")


def test_it_refuses_on_deploy_an_http_public_base_url(configured):
    assert configured(PUBLIC_BASE_URL="http://surveys.example.com") == {"sfsurveys.E104"}


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "https://localhost", "https://[::1]:8443"])
def test_it_warns_on_deploy_about_a_public_base_url_of_this_machine_only(configured, url):
    assert "sfsurveys.W103" in configured(PUBLIC_BASE_URL=url)


def test_it_warns_on_deploy_when_public_base_url_is_not_an_allowed_host(configured):
    assert configured(PUBLIC_BASE_URL="https://surveys.example.org") == {"sfsurveys.W104"}
    assert configured(ALLOWED_HOSTS=[".example.org"]) == set()


@pytest.mark.parametrize("wildcard", ["*", ".com", "."])
def test_it_refuses_on_deploy_a_wildcard_in_allowed_hosts(configured, wildcard):
    assert configured(ALLOWED_HOSTS=["surveys.example.com", wildcard]) == {"sfsurveys.E105"}


def test_it_takes_subdomains_of_a_domain_in_allowed_hosts(configured):
    assert configured(ALLOWED_HOSTS=[".example.com"]) == set()


def test_it_takes_subdomains_of_localhost_in_allowed_hosts(configured):
    # .localhost names this machine only (RFC 6761), as Django's own DEBUG default lists it.
    assert configured(ALLOWED_HOSTS=["surveys.example.com", ".localhost"]) == set()


@pytest.mark.parametrize("url", ["http://twilio-mock.example.com", "https://twilio-mock.example.com"])
def test_it_warns_on_deploy_when_texts_go_to_a_stand_in_of_twilios_api(configured, url):
    assert configured(TWILIO_API_BASE_URL=url) == {"sfsurveys.W106"}
    assert configured(TWILIO_API_BASE_URL="") == set()


def test_deployment_warnings_stay_out_of_the_local_run(configured):
    configured(
        PUBLIC_BASE_URL="http://127.0.0.1:8000",
        EMAIL_BACKEND="distributions.channels.outbox.OutboxBackend",
        TWILIO_API_BASE_URL="http://127.0.0.1:8001",
    )
    assert untagged_ids() == set()


@pytest.mark.parametrize("address", ["", "surveys", "Surveys <surveys@>", "surveys@example..com"])
def test_every_command_refuses_a_default_from_email_that_is_not_an_address(configured, address):
    assert configured(DEFAULT_FROM_EMAIL=address) == {"sfsurveys.E005"}
    assert "sfsurveys.E005" in untagged_ids()


def test_it_takes_a_default_from_email_with_a_name(configured):
    assert configured(DEFAULT_FROM_EMAIL="Customer care <surveys@example.com>") == set()


@pytest.mark.parametrize("region", ["XX", "us", "USA", ""])
def test_every_command_refuses_a_phone_region_phone_numbers_are_not_known_for(configured, region):
    assert configured(DEFAULT_PHONE_REGION=region) == {"sfsurveys.E006"}
    assert "sfsurveys.E006" in untagged_ids()


def test_it_refuses_tls_and_ssl_together_instead_of_crashing(configured):
    assert configured(EMAIL_USE_TLS=True, EMAIL_USE_SSL=True) == {"sfsurveys.E002"}


def test_every_command_refuses_an_sms_backend_that_cannot_load(configured):
    assert configured(SMS_BACKEND="distributions.channels.nowhere.Backend") == {"sfsurveys.E007"}
    assert "sfsurveys.E007" in untagged_ids()


def test_every_command_refuses_twilio_without_its_credentials(configured):
    twilio = "distributions.channels.twilio.TwilioSmsBackend"
    assert configured(SMS_BACKEND=twilio, TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_AUTH_TOKEN="") == {
        "sfsurveys.E008"
    }
    assert configured(SMS_BACKEND=twilio, TWILIO_AUTH_TOKEN="token") == set()


@pytest.mark.parametrize("number", ["", "4155550100", "surveys"])
def test_every_command_refuses_a_from_number_that_is_not_e164(configured, number):
    assert configured(SMS_FROM_NUMBER=number) == {"sfsurveys.E009"}
    assert configured(SMS_FROM_NUMBER=number, TWILIO_MESSAGING_SERVICE_SID="MG" + "2" * 32) == set()


@pytest.mark.parametrize("value", ["21:00", "9pm-8am", "25:00-08:00", "08:00-08:00"])
def test_quiet_hours_that_are_not_a_range_of_times_are_an_error(configured, value):
    assert configured(SMS_QUIET_HOURS=value) == {"sfsurveys.E010"}


@pytest.mark.parametrize("value", ["", "21:00-08:00", "22:30 - 07:15", "13:00-14:00"])
def test_quiet_hours_as_a_range_or_empty_are_fine(configured, value):
    assert configured(SMS_QUIET_HOURS=value) == set()


# --- secrets in production: each stops `check --deploy` (an error, so the release stops) ------------


@pytest.mark.parametrize(
    "key",
    ["given-key", "a" * 80, "django-insecure-Qx8vN2mK4pL9rT6wY1zB3cD5fG7hJ0kM2nP4qR6sT8uV0wX2yZ4aB6"],
)
def test_it_refuses_on_deploy_a_secret_key_anyone_could_guess(configured, key):
    assert configured(SECRET_KEY=key) == {"sfsurveys.E101"}
    assert untagged_ids() == set()  # the local run and the test suite keep working


def test_it_refuses_on_deploy_an_smtp_password_sent_in_clear(configured):
    smtp = {"EMAIL_HOST": "smtp.example.com", "EMAIL_HOST_USER": "surveys", "EMAIL_HOST_PASSWORD": "s3cret"}
    for backend in ("distributions.channels.smtp.EmailBackend", "django.core.mail.backends.smtp.EmailBackend"):
        assert configured(EMAIL_BACKEND=backend, EMAIL_USE_TLS=False, EMAIL_USE_SSL=False, **smtp) == {"sfsurveys.E102"}
    assert configured(EMAIL_USE_TLS=True, **smtp) == set()
    assert configured(EMAIL_USE_TLS=False, EMAIL_USE_SSL=True, **smtp) == set()


def test_it_allows_a_password_to_a_relay_on_this_machine_and_smtp_without_one(configured):
    assert configured(EMAIL_USE_TLS=False, EMAIL_HOST="127.0.0.1", EMAIL_HOST_PASSWORD="s3cret") == set()
    assert configured(EMAIL_USE_TLS=False, EMAIL_HOST="smtp.example.com", EMAIL_HOST_PASSWORD="") == set()


@pytest.mark.parametrize("origin", ["http://surveys.example.com", "https://*", "https://*.com", "https://*.com."])
def test_it_refuses_on_deploy_csrf_origins_anyone_could_post_from(configured, origin):
    assert configured(CSRF_TRUSTED_ORIGINS=["https://surveys.example.com", origin]) == {"sfsurveys.E103"}


@pytest.mark.parametrize(
    "origin",
    [
        "https://surveys.example.com",
        "https://*.example.com",
        "http://localhost:8000",
        "https://*.localhost",
        "http://*.localhost:8000",
    ],
)
def test_it_takes_https_csrf_origins_and_wildcards_under_a_domain(configured, origin):
    assert configured(CSRF_TRUSTED_ORIGINS=[origin]) == set()


PRODUCTION = {
    "DATABASE_URL": "postgres://surveys@db.internal:5432/surveys",
    "DEBUG": "false",
    "SECRET_KEY": SOUND["SECRET_KEY"],
    "ALLOWED_HOSTS": "surveys.example.com",
    "PUBLIC_BASE_URL": "https://surveys.example.com",
    "BEHIND_HTTPS_PROXY": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "EMAIL_BACKEND": "distributions.channels.smtp.EmailBackend",
    "EMAIL_HOST": "smtp.example.com",
    "EMAIL_HOST_USER": "surveys",
    "EMAIL_HOST_PASSWORD": "s3cret",
    "EMAIL_USE_TLS": "true",
    "ANYMAIL_WEBHOOK_SECRET": f"tracking:{LONG_PASSWORD}",
    "TRACKING_WEBHOOK_ESP": "postmark",
}


@pytest.mark.parametrize(
    "unsafe",
    [
        {},
        {"SECRET_KEY": "short-key"},
        {"ALLOWED_HOSTS": "*"},
        {"PUBLIC_BASE_URL": "http://surveys.example.com"},
        {"EMAIL_USE_TLS": "false"},
        {"CSRF_TRUSTED_ORIGINS": "http://surveys.example.com"},
        {"DEBUG": "true"},
        {"ANYMAIL_WEBHOOK_SECRET": "tracking:s3cret"},
    ],
    ids=lambda unsafe: ",".join(unsafe) or "sound",
)
def test_the_release_command_stops_at_an_unsafe_production_setting(tmp_path, unsafe):
    """`manage.py check --deploy`, as the README's release command runs it first, exits non-zero."""
    import os
    import subprocess
    import sys

    from tests.workers import ROOT

    keep = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    environment = {**keep, **PRODUCTION, "DATA_DIR": str(tmp_path), **unsafe}
    command = [sys.executable, "manage.py", "check", "--deploy"]
    finished = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)

    assert (finished.returncode != 0) == bool(unsafe), finished.stdout + finished.stderr


def test_it_refuses_on_deploy_a_tracking_webhook_password_anyone_could_guess(configured):
    rotating = [f"tracking:{LONG_PASSWORD}", "tracking:s3cret"]
    assert configured(TRACKING_WEBHOOK_ESP="postmark", ANYMAIL={"WEBHOOK_SECRET": rotating}) == {"sfsurveys.E107"}
    assert configured(TRACKING_WEBHOOK_ESP="postmark", ANYMAIL={"WEBHOOK_SECRET": rotating[:1]}) == set()
    assert configured(TRACKING_WEBHOOK_ESP="", ANYMAIL={"WEBHOOK_SECRET": rotating}) == set()  # nothing served
