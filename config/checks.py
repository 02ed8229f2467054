"""System checks for the configuration mistakes this product can be deployed with.

Django runs the untagged ones before every management command (migrate, qcluster, runserver), so
a worker refuses to start on an Error; the ones registered with deploy=True run with
`python manage.py check --deploy`, next to Django's own deployment checks. Each message says
what goes wrong and which variable (.env.example) to set.
"""

import ipaddress
import warnings
from email.utils import parseaddr
from urllib.parse import urlsplit

import phonenumbers
from anymail.exceptions import AnymailWarning
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend
from django.http.request import split_domain_port, validate_host
from django.utils.module_loading import import_string
from email_validator import EmailNotValidError, validate_email

from config.sqlite3 import is_sqlite
from distributions.services.delivery import SEND_LEASE
from distributions.webhooks import TRACKING_VIEWS, tracking_esp, tracking_webhook_configuration_error, webhook_secrets

# Backends that keep or print messages instead of sending them.
NON_SENDING_EMAIL_BACKENDS = {
    "distributions.channels.outbox.OutboxBackend": "the local outbox (messages are kept in the admin)",
    "django.core.mail.backends.console.EmailBackend": "the console",
    "django.core.mail.backends.filebased.EmailBackend": "files under DATA_DIR",
    "django.core.mail.backends.locmem.EmailBackend": "memory",
    "django.core.mail.backends.dummy.EmailBackend": "nowhere",
    "anymail.backends.test.EmailBackend": "memory",
    "anymail.backends.console.EmailBackend": "the console",
}


# --- workers ---------------------------------------------------------------------------------


@checks.register()
def check_worker_timeout(app_configs, **kwargs):
    """Jobs must end before the claims they hold are taken over by another worker."""
    timeout = settings.Q_CLUSTER["timeout"]
    problems = []
    if timeout >= SEND_LEASE.total_seconds():
        problems.append(
            checks.Error(
                f"WORKER_TIMEOUT_SECONDS is {timeout}, but emails claimed {SEND_LEASE.total_seconds():.0f} seconds "
                "ago are presumed abandoned and handed to another worker, while a job still running could send "
                "them too: recipients could get two emails.",
                hint=f"Set WORKER_TIMEOUT_SECONDS below {SEND_LEASE.total_seconds():.0f} (300 by default).",
                id="sfsurveys.E001",
            )
        )
    if settings.RUN_LEASE_SECONDS <= timeout:
        problems.append(
            checks.Warning(
                f"RUN_LEASE_SECONDS ({settings.RUN_LEASE_SECONDS}) is not longer than WORKER_TIMEOUT_SECONDS "
                f"({timeout}): a run whose job is still executing can be requeued and executed again by another "
                "worker. Its tasks still succeed once, but the work is done twice.",
                hint="Set RUN_LEASE_SECONDS above WORKER_TIMEOUT_SECONDS (600 and 300 by default).",
                id="sfsurveys.W001",
            )
        )
    return problems


# --- email and delivery tracking -------------------------------------------------------------


@checks.register()
def check_email_backend(app_configs, **kwargs):
    """EMAIL_BACKEND must load with its settings (an ESP backend needs its API key, some a package)."""
    try:
        with warnings.catch_warnings():  # anymail's notices about an ESP are for sending, not this look
            warnings.simplefilter("ignore", AnymailWarning)
            get_connection(fail_silently=False)
    # ValueError: settings the backend refuses together (EMAIL_USE_TLS with EMAIL_USE_SSL).
    except (ImportError, ImproperlyConfigured, ValueError) as error:
        return [
            checks.Error(
                f"EMAIL_BACKEND {settings.EMAIL_BACKEND} cannot send: {error}",
                hint="Fix EMAIL_BACKEND, or set the ESP's credentials (.env.example lists them).",
                id="sfsurveys.E002",
            )
        ]
    return []


@checks.register()
def check_tracking_webhook(app_configs, **kwargs):
    """The tracking webhook served must exist and be able to authenticate calls."""
    esp = tracking_esp()
    if not esp:
        return []
    if esp not in TRACKING_VIEWS:
        if not settings.TRACKING_WEBHOOK_ESP:
            return []  # an anymail backend whose ESP has no tracking webhook: nothing to serve
        return [
            checks.Error(
                f"TRACKING_WEBHOOK_ESP is {esp!r}, which django-anymail has no tracking webhook for.",
                hint=f"Use one of {', '.join(sorted(TRACKING_VIEWS))}, or leave it unset.",
                id="sfsurveys.E003",
            )
        ]
    if not webhook_secrets():
        return [
            checks.Warning(
                f"ANYMAIL_WEBHOOK_SECRET is not set, so /webhooks/{esp}/tracking/ refuses every call and "
                "invitation statuses never hear of deliveries, bounces or opens.",
                hint="Set ANYMAIL_WEBHOOK_SECRET to user:password and put them in the ESP's webhook URL.",
                id="sfsurveys.W002",
            )
        ]
    if not all(":" in secret for secret in webhook_secrets()):
        # Not quoted: the value is a password.
        return [
            checks.Warning(
                f"An entry of ANYMAIL_WEBHOOK_SECRET has no colon, so /webhooks/{esp}/tracking/ refuses every call: "
                "ESPs send basic-auth credentials as user:password, which can never equal a value without one.",
                hint="Write each entry of ANYMAIL_WEBHOOK_SECRET as user:password, the way the ESP's webhook URL "
                "carries it (https://user:password@host/...).",
                id="sfsurveys.W006",
            )
        ]
    error = tracking_webhook_configuration_error(esp)
    if error is not None:
        return [
            checks.Warning(
                f"/webhooks/{esp}/tracking/ refuses every call: {error}",
                hint="Set what the message names, or install the package it names.",
                id="sfsurveys.W003",
            )
        ]
    return []


# Anyone who knows the tracking webhook's password can forge bounces, complaints and unsubscribes
# (which stop a contact's email for good): long enough that guessing it over the network is hopeless.
WEBHOOK_PASSWORD_MIN_LENGTH = 16


@checks.register(checks.Tags.security, deploy=True)
def check_tracking_webhook_password(app_configs, **kwargs):
    """An error when a password of ANYMAIL_WEBHOOK_SECRET ("user:password", comma-separated while
    rotating) is shorter than WEBHOOK_PASSWORD_MIN_LENGTH characters and a tracking webhook is served."""
    if tracking_esp() not in TRACKING_VIEWS:
        return []
    short = [secret for secret in webhook_secrets() if ":" in secret]
    short = [secret for secret in short if len(secret.partition(":")[2]) < WEBHOOK_PASSWORD_MIN_LENGTH]
    if not short:
        return []
    return [
        checks.Error(
            # Not quoted: the values are passwords.
            f"{len(short)} of ANYMAIL_WEBHOOK_SECRET's passwords are shorter than {WEBHOOK_PASSWORD_MIN_LENGTH} "
            "characters: whoever guesses one can forge bounces, complaints and unsubscribes, which stop "
            "contacts' email.",
            hint="Set it to tracking:<output of python -c 'import secrets; print(secrets.token_urlsafe(24))'> and "
            "put the same in the ESP's webhook URL.",
            id="sfsurveys.E107",
        )
    ]


@checks.register()
def check_default_from_email(app_configs, **kwargs):
    """Every invitation of a task that leaves From empty, and every failure notice, is sent from it."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return [
            checks.Error(
                f"DEFAULT_FROM_EMAIL is {settings.DEFAULT_FROM_EMAIL!r}, not an email address ({error}): invitations "
                "of tasks that leave From empty and the notices of failed tasks could not be sent.",
                hint="Set DEFAULT_FROM_EMAIL to an address of a verified sender domain, e.g. surveys@example.com.",
                id="sfsurveys.E005",
            )
        ]
    return []


@checks.register(deploy=True)
def check_email_is_sent(app_configs, **kwargs):
    where = NON_SENDING_EMAIL_BACKENDS.get(settings.EMAIL_BACKEND)
    if where is None:
        return []
    return [
        checks.Warning(
            f"EMAIL_BACKEND sends survey invitations to {where}: no recipient receives them.",
            hint="Set EMAIL_BACKEND to distributions.channels.smtp.EmailBackend (SMTP; Django's own SMTP backend "
            "cannot send to addresses with non-ASCII characters) or a django-anymail ESP backend, e.g. "
            "anymail.backends.postmark.EmailBackend.",
            id="sfsurveys.W101",
        )
    ]


# --- contacts ---------------------------------------------------------------------------------


@checks.register()
def check_default_phone_region(app_configs, **kwargs):
    """Phones without a country code are read in DEFAULT_PHONE_REGION: an unknown one would drop them all."""
    if settings.DEFAULT_PHONE_REGION in phonenumbers.SUPPORTED_REGIONS:
        return []
    return [
        checks.Error(
            f"DEFAULT_PHONE_REGION is {settings.DEFAULT_PHONE_REGION!r}, which is no region phone numbers are "
            "known for: every phone without a country code would be left out of its contact.",
            hint="Set DEFAULT_PHONE_REGION to a two-letter ISO 3166 region code in capitals, e.g. US, GB or DE.",
            id="sfsurveys.E006",
        )
    ]


# --- SMS -------------------------------------------------------------------------------------

TWILIO_BACKEND = "distributions.channels.twilio.TwilioSmsBackend"


@checks.register()
def check_sms_backend(app_configs, **kwargs):
    """Texts go through SMS_BACKEND, and Twilio's webhooks are checked with its key."""
    try:
        backend = import_string(settings.SMS_BACKEND)
    except ImportError as error:
        return [
            checks.Error(
                f"SMS_BACKEND {settings.SMS_BACKEND!r} cannot be loaded ({error}): no text could be sent or received.",
                hint="Set SMS_BACKEND to distributions.channels.sms_outbox.OutboxSmsBackend (the local outbox) or "
                f"{TWILIO_BACKEND}.",
                id="sfsurveys.E007",
            )
        ]
    problems = []
    if backend.__module__ + "." + backend.__qualname__ == TWILIO_BACKEND:
        missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not getattr(settings, name)]
        if missing:
            problems.append(
                checks.Error(
                    f"SMS_BACKEND is Twilio but {' and '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} not set: "
                    "texts would be refused by Twilio, and every Twilio webhook call refused (403).",
                    hint="Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN from the Twilio Console (Account info).",
                    id="sfsurveys.E008",
                )
            )
    if not settings.TWILIO_MESSAGING_SERVICE_SID:
        try:
            valid = phonenumbers.is_possible_number(phonenumbers.parse(settings.SMS_FROM_NUMBER, None))
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            problems.append(
                checks.Error(
                    f"SMS_FROM_NUMBER is {settings.SMS_FROM_NUMBER!r}, not a phone number in E.164: "
                    "texts have no sender.",
                    hint="Set SMS_FROM_NUMBER to your number with its country code, e.g. +14155550100, or set "
                    "TWILIO_MESSAGING_SERVICE_SID.",
                    id="sfsurveys.E009",
                )
            )
    return problems


@checks.register()
def check_sms_quiet_hours(app_configs, **kwargs):
    """SMS_QUIET_HOURS must be a range of times: texts would otherwise fail to be scheduled."""
    from distributions.services.quiet_hours import parse_quiet_hours

    try:
        parse_quiet_hours(settings.SMS_QUIET_HOURS)
    except ImproperlyConfigured as error:
        return [
            checks.Error(
                str(error),
                hint="Set SMS_QUIET_HOURS to local times like 21:00-08:00, or leave it empty to text at any hour.",
                id="sfsurveys.E010",
            )
        ]
    return []


# --- HTTP ------------------------------------------------------------------------------------


@checks.register(checks.Tags.security)
def check_https_redirect(app_configs, **kwargs):
    if settings.SECURE_SSL_REDIRECT and not settings.SECURE_PROXY_SSL_HEADER:
        return [
            checks.Warning(
                "SECURE_SSL_REDIRECT is on but BEHIND_HTTPS_PROXY is not: behind a proxy that terminates HTTPS, "
                "every request looks like http and is redirected again and again.",
                hint="Set BEHIND_HTTPS_PROXY=true when a proxy terminates HTTPS.",
                id="sfsurveys.W004",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def check_debug_with_database_server(app_configs, **kwargs):
    if settings.DEBUG and not is_sqlite(settings.DATABASES["default"]["ENGINE"]):
        return [
            checks.Warning(
                "DEBUG is on with a database server, as in production: error pages show settings, code and "
                "data to anyone who causes an error, and every query is kept in memory.",
                hint="Unset DEBUG (or set DEBUG=false).",
                id="sfsurveys.W005",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_debug_deployed(app_configs, **kwargs):
    """The warning above, as an error when deploying: `check --deploy` stops the release."""
    if settings.DEBUG and not is_sqlite(settings.DATABASES["default"]["ENGINE"]):
        return [
            checks.Error(
                "DEBUG is on in a deployment with a database server: error pages show settings, code and data "
                "(contacts, answers) to anyone who causes an error.",
                hint="Unset DEBUG (or set DEBUG=false).",
                id="sfsurveys.E106",
            )
        ]
    return []


@checks.register()
def check_public_base_url_opens(app_configs, **kwargs):
    """Event URLs and every survey and opt-out link in an email start with PUBLIC_BASE_URL: without
    an http(s) scheme and a host they open nothing, so every command refuses to start."""
    url = urlsplit(settings.PUBLIC_BASE_URL)
    if url.scheme in {"http", "https"} and url.hostname and not url.query and not url.fragment:
        return []
    return [
        checks.Error(
            f"PUBLIC_BASE_URL is {settings.PUBLIC_BASE_URL!r}, not an address Salesforce and recipients can open: "
            "event URLs and the survey and opt-out links in emails start with it.",
            hint="Set PUBLIC_BASE_URL to the https address this site is served at, e.g. https://surveys.example.com.",
            id="sfsurveys.E004",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_public_base_url(app_configs, **kwargs):
    """Event URLs and survey links start with PUBLIC_BASE_URL: it must be this site's public https address."""
    url = urlsplit(settings.PUBLIC_BASE_URL)
    host, _port = split_domain_port(url.netloc)
    problems = []
    # An error: the deployment stops. Over http, anyone on the network path reads the survey link
    # tokens and the event URL's token (which starts runs), and can change what Salesforce sends.
    if url.scheme != "https" and not _is_loopback(host):
        problems.append(
            checks.Error(
                f"PUBLIC_BASE_URL is {settings.PUBLIC_BASE_URL}, not https: Salesforce's messages (with the event "
                "URL's token) and survey links (which open a recipient's survey) cross the network in clear, and "
                "mailbox providers ignore one-click unsubscribe at an http URL (RFC 8058 section 3.1).",
                hint="Serve the site over HTTPS and set PUBLIC_BASE_URL to its https:// address.",
                id="sfsurveys.E104",
            )
        )
    if _is_loopback(host):
        problems.append(
            checks.Warning(
                f"PUBLIC_BASE_URL is {settings.PUBLIC_BASE_URL}, an address of this machine only: Salesforce "
                "cannot reach the event URLs and survey links in emails lead nowhere.",
                hint="Set PUBLIC_BASE_URL to the address Salesforce and recipients reach the site at.",
                id="sfsurveys.W103",
            )
        )
    elif host and not validate_host(host, settings.ALLOWED_HOSTS):
        problems.append(
            checks.Warning(
                f"PUBLIC_BASE_URL's host {host} is not in ALLOWED_HOSTS: Salesforce's messages and survey "
                "links get 400 Bad Request.",
                hint=f"Add {host} to ALLOWED_HOSTS.",
                id="sfsurveys.W104",
            )
        )
    return problems


@checks.register(checks.Tags.security, deploy=True)
def check_twilio_api_base_url(app_configs, **kwargs):
    """TWILIO_API_BASE_URL is for a stand-in of Twilio's API: in production, texts would not reach
    Twilio, and every call carries the account SID and auth token to that address."""
    url = settings.TWILIO_API_BASE_URL
    if not url:
        return []
    clear = " over plain http, in clear" if urlsplit(url).scheme != "https" else ""
    return [
        checks.Warning(
            f"TWILIO_API_BASE_URL is {url}: texts are handed to that address instead of Twilio's API, "
            f"with the account SID and auth token{clear}.",
            hint="Leave TWILIO_API_BASE_URL empty in production; set it only for a staging or test stand-in.",
            id="sfsurveys.W106",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_allowed_hosts_wildcard(app_configs, **kwargs):
    # "*", or a subdomain pattern over a whole top-level domain (".com", "."): any host is served.
    # ".localhost" is not one: its names are this machine's only (RFC 6761).
    wildcards = [
        host
        for host in settings.ALLOWED_HOSTS
        if host == "*" or (host.startswith(".") and "." not in host[1:] and not _is_loopback(host[1:]))
    ]
    if wildcards:
        return [
            checks.Error(
                f"ALLOWED_HOSTS contains {', '.join(repr(host) for host in wildcards)}: requests naming any host "
                "(under a whole top-level domain) are served, which turns off Django's protection against forged "
                "Host headers (poisoned caches, links to another site).",
                hint="List the site's host names in ALLOWED_HOSTS.",
                id="sfsurveys.E105",
            )
        ]
    return []


# As Django's own deployment check (security.W009) judges a key: signing sessions with one that
# can be guessed lets anyone forge an admin's session, so here it stops the deployment.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
SECRET_KEY_INSECURE_PREFIX = "django-insecure-"


@checks.register(checks.Tags.security, deploy=True)
def check_secret_key_strength(app_configs, **kwargs):
    """SECRET_KEY signs the admin's sessions, test events and the local SMS webhooks: a short or
    well-known key lets whoever guesses it log in as anyone."""
    key = settings.SECRET_KEY
    if (
        len(key) >= SECRET_KEY_MIN_LENGTH
        and len(set(key)) >= SECRET_KEY_MIN_UNIQUE_CHARACTERS
        and not key.startswith(SECRET_KEY_INSECURE_PREFIX)
    ):
        return []
    return [
        checks.Error(
            f"SECRET_KEY is too easy to guess (fewer than {SECRET_KEY_MIN_LENGTH} characters, fewer than "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} different ones, or Django's insecure placeholder): it signs the "
            "admin's sessions, so whoever guesses it can sign in as any user.",
            hint="Set SECRET_KEY to the output of python -c 'import secrets; print(secrets.token_urlsafe(50))', "
            "the same on every machine.",
            id="sfsurveys.E101",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_email_password_encrypted(app_configs, **kwargs):
    """An SMTP backend with a password and neither STARTTLS nor SMTPS sends the password (and every
    invitation's survey link) across the network in clear."""
    try:
        backend = import_string(settings.EMAIL_BACKEND)
    except ImportError:
        return []  # check_email_backend reports it
    if not (isinstance(backend, type) and issubclass(backend, SmtpEmailBackend)):
        return []
    if not settings.EMAIL_HOST_PASSWORD or settings.EMAIL_USE_TLS or settings.EMAIL_USE_SSL:
        return []
    if _is_loopback(settings.EMAIL_HOST):
        return []  # a relay on this machine: nothing crosses the network
    return [
        checks.Error(
            f"EMAIL_HOST_PASSWORD is set but neither EMAIL_USE_TLS nor EMAIL_USE_SSL is: the SMTP password and "
            f"every invitation (with its survey link) travel to {settings.EMAIL_HOST} in clear.",
            hint="Set EMAIL_USE_TLS=true (STARTTLS, usually port 587) or EMAIL_USE_SSL=true (usually port 465).",
            id="sfsurveys.E102",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_csrf_trusted_origins(app_configs, **kwargs):
    """Each origin in CSRF_TRUSTED_ORIGINS may post the admin's forms with a signed-in admin's
    session: one served over http can be impersonated by anyone on the network path, and a bare
    wildcard trusts every site under a public domain."""
    problems = []
    for origin in settings.CSRF_TRUSTED_ORIGINS:
        url = urlsplit(origin)
        host = url.hostname or ""
        if url.scheme == "http" and not _is_loopback(host):
            problems.append(
                checks.Error(
                    f"CSRF_TRUSTED_ORIGINS trusts {origin}, an http origin: anyone on the network path can serve "
                    "a page there that posts the admin's forms with a signed-in admin's session.",
                    hint="Trust only https origins (the site's own, https://surveys.example.com).",
                    id="sfsurveys.E103",
                )
            )
        elif "*" in url.netloc and "." not in (domain := host.lstrip("*").strip(".")) and not _is_loopback(domain):
            problems.append(
                checks.Error(
                    f"CSRF_TRUSTED_ORIGINS trusts {origin}: a wildcard over a whole top-level domain (or every "
                    "host) lets any site there post the admin's forms with a signed-in admin's session.",
                    hint="Name the site's origin (https://surveys.example.com), or a wildcard under your own "
                    "domain (https://*.example.com).",
                    id="sfsurveys.E103",
                )
            )
    return problems


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
