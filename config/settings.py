"""Settings, all from environment variables (listed in .env.example) with safe dev defaults."""

import logging
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str, env_url
from config.secret_key import secret_key
from config.sqlite3 import ENGINE as SQLITE_ENGINE
from config.sqlite3 import is_sqlite

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "config.views.csrf_failure"
# Where Salesforce and survey recipients reach us; event URLs shown in the admin start with it.
PUBLIC_BASE_URL = env_url("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "anymail",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # the docs page's assets, served from STATIC_URL
    "django_filters",
    "directory",
    "workflows",
    "distributions",
    "reporting",
    "api",
    "config",  # the system checks of config/checks.py
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Answers /static/ from STATIC_ROOT (filled by `manage.py collectstatic`) before the rest of
    # the chain runs, so gunicorn alone serves the admin's and the API docs' CSS and JavaScript.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.AdminNullCharacterMiddleware",
    "api.envelope.ApiErrorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project's own admin templates (base_site.html adds its stylesheet to every page).
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

try:
    DATABASES = {
        "default": dj_database_url.parse(
            env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=True,
        )
    }
except ValueError as error:  # dj-database-url's unknown scheme, or a port that is not a number
    raise ImproperlyConfigured(
        f"DATABASE_URL is not a database URL ({error}): write it as postgres://user:password@host:5432/name, "
        "or leave it unset for the SQLite database under DATA_DIR."
    ) from None
if DATABASES["default"]["ENGINE"] not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
    raise ImproperlyConfigured(
        f"DATABASE_URL names a {DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} database: this product runs on "
        "PostgreSQL (postgres://user:password@host:5432/name) or, on one machine, SQLite (leave DATABASE_URL unset)."
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE takes the write lock
    # when a transaction starts, so two writers queue on the busy timeout instead of failing
    # halfway through a read-then-write.
    try:
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImproperlyConfigured(
            f"The folder of the SQLite database cannot be created ({error}): set DATA_DIR to a folder this "
            "process may write to."
        ) from None
    # Django's backend, with a gate in which writers take turns (config/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = SQLITE_ENGINE
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # PostgreSQL: query parameters travel apart from the SQL (psycopg's server-side binding) instead
    # of being quoted into it in Python; statements prepared on the server need it
    # (workflows/prepared_statements.py). COPY still merges its parameters client-side (psycopg
    # does so whatever the cursor).
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True

# Unset: generated once under DATA_DIR with SQLite, refused with any other database (config/secret_key.py).
SECRET_KEY = secret_key(given=env_str("SECRET_KEY"), database_engine=DATABASES["default"]["ENGINE"], data_dir=DATA_DIR)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The admin is the only place to sign in: a `next` that leaves the site (//evil.example) is refused
# by Django and the login goes here, not to Django's default /accounts/profile/ (a 404).
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic also writes a gzip copy of each file (and brotli with the brotli package), which
    # WhiteNoise sends to clients that accept it. Not the Manifest variant: its {% static %} fails
    # for a name missing from STATIC_ROOT's manifest, so every admin page would be a 500 wherever
    # collectstatic has not run (the quickstart, the tests). File names stay unhashed, so browsers
    # keep a file for WhiteNoise's 60 seconds (WHITENOISE_MAX_AGE), not forever.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    # Response exports hold every answer and recipient of a survey: kept outside STATIC_ROOT and
    # any served folder, handed out only by permission-checked views. Workers write them and web
    # processes read them, so on several machines this folder must be shared (a network volume).
    "response_exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env_str("RESPONSE_EXPORT_DIR", str(DATA_DIR / "response-exports"))},
    },
}

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_HTTPS_PROXY") else None
# The admin's session and CSRF cookies go over https only once the site is served over https (an
# https PUBLIC_BASE_URL, or a TLS proxy in front): an http request to the site, which an attacker on
# the network can make a signed-in admin's browser send, would otherwise carry the session in clear.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("BEHIND_HTTPS_PROXY") or PUBLIC_BASE_URL.startswith("https://")
# Redirecting http to https and Strict-Transport-Security: here, unless the HTTPS proxy does both.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)

# --- Salesforce endpoint ---------------------------------------------------------------------
# 100 notifications x ~80 fields is about 1 MB; leave headroom for long text fields.
# Below the floor even a message with one notification of a few fields would be refused.
SALESFORCE_MAX_BODY_BYTES = env_int("SALESFORCE_MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=16 * 1024)
SALESFORCE_MAX_NOTIFICATIONS = 100

# --- Workflow execution ----------------------------------------------------------------------
# A run claimed longer ago than this is presumed abandoned by a dead worker and requeued.
RUN_LEASE_SECONDS = env_int("RUN_LEASE_SECONDS", 600, minimum=1)
# A worker claims and executes up to this many due runs together, one set of statements per task.
# A batch is saved when its last run ends, so it must finish well within the lease. SQLite has one
# writer, and a task's writes for the whole batch are one transaction: 10 runs keep it to tens of
# milliseconds, so the endpoint storing a message meanwhile waits that long, not the batch's time.
RUN_BATCH_SIZE = env_int(
    "RUN_BATCH_SIZE", 10 if is_sqlite(DATABASES["default"]["ENGINE"]) else 50, minimum=1
)  # 0 would leave every run waiting
# Temporary task failures are retried with exponential backoff for this long.
RUN_RETRY_WINDOW_SECONDS = env_int("RUN_RETRY_WINDOW_SECONDS", 24 * 3600, minimum=0)  # 0: never retried
RUN_RETRY_MAX_DELAY_SECONDS = env_int("RUN_RETRY_MAX_DELAY_SECONDS", 2 * 3600, minimum=1)
DEFAULT_PHONE_REGION = env_str("DEFAULT_PHONE_REGION", "US")
# Runs, task runs, notifications and inbound messages older than this are purged every night.
# At least a day: with 0 a failed run would be gone before anyone could read why.
RETENTION_DAYS = env_int("RETENTION_DAYS", 30, minimum=1)

# django-q2: the database is the broker, so one PostgreSQL serves web and workers alike.
# A job is killed after `timeout` and handed out again after `retry`; retry must be longer.
Q_CLUSTER = {
    "name": "sfsurveys",
    "orm": "default",
    "workers": env_int("WORKER_COUNT", 2, minimum=1),
    "timeout": env_int("WORKER_TIMEOUT_SECONDS", 300, minimum=1),
    "retry": env_int("WORKER_TIMEOUT_SECONDS", 300, minimum=1) + 60,
    "max_attempts": 3,
    "save_limit": 1000,
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.5,
    "label": "Background jobs",
}

# --- REST API (/API/v3/, api/) ------------------------------------------------------------------
# Calls per token, as DRF writes rates: a number, then /sec, /min, /hour or /day. Past it: 429 with
# Retry-After. Counted in the api_throttle cache below, which every web process shares.
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "300/min")
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", API_RATE_LIMIT):
    raise ImproperlyConfigured(
        "API_RATE_LIMIT must be a number of calls per period, e.g. 300/min (or /sec, /hour, /day), "
        f"not {API_RATE_LIMIT!r}"
    )
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "api.envelope.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.EnvelopeAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["api.envelope.EnvelopeRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.ApiJSONParser"],
    "DEFAULT_THROTTLE_RATES": {"api_token": API_RATE_LIMIT},
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "sfsurveys REST API",
    "DESCRIPTION": "The reference survey platform's v3 shapes: X-API-TOKEN, the {result, meta} envelope, "
    "cursor pagination (pageSize, skipToken, nextPage), Idempotency-Key on writes.",
    "VERSION": "3",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/API/v3",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # A table (created by api's migrations), so every web process on every machine counts calls together.
    "api_throttle": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "api_throttle_cache",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    },
}

# --- Email -----------------------------------------------------------------------------------
# Default: the local outbox, OutboxMessage rows browsable in the admin (nothing leaves the machine).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "distributions.channels.outbox.OutboxBackend")
EMAIL_FILE_PATH = DATA_DIR / "outbox"  # for django.core.mail.backends.filebased.EmailBackend
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
# Seconds an SMTP command may take: a hung server must not hold a worker (or a claimed invitation).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
# The sender when a task leaves From empty; its domain must be a verified sender domain.
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "surveys@example.com")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Delivery tracking: django-anymail webhooks at /webhooks/<esp>/tracking/ --------------------
# Only one ESP's tracking webhook is served (distributions/webhooks.py); every other ESP's URL is a
# 404. Unset, it is the ESP of EMAIL_BACKEND when that is a django-anymail backend
# (anymail.backends.<esp>.EmailBackend); set it when sending through the ESP's SMTP relay.
TRACKING_WEBHOOK_ESP = env_str("TRACKING_WEBHOOK_ESP").strip().lower()
# The ESP calls it with basic auth "user:password" in the URL; several, comma-separated, while
# rotating. Unset, every call is refused (400): anymail itself would accept unauthenticated calls
# with only a warning.
ANYMAIL = {
    "WEBHOOK_SECRET": env_list("ANYMAIL_WEBHOOK_SECRET"),
    # ESP credentials only when given, so anymail never sees empty ones.
    **{
        name: value
        for name, value in {
            "POSTMARK_SERVER_TOKEN": env_str("POSTMARK_SERVER_TOKEN"),
            "SENDGRID_API_KEY": env_str("SENDGRID_API_KEY"),
            "MAILGUN_API_KEY": env_str("MAILGUN_API_KEY"),
            "MAILGUN_WEBHOOK_SIGNING_KEY": env_str("MAILGUN_WEBHOOK_SIGNING_KEY"),
        }.items()
        if value
    },
}

# --- SMS: distributions/channels/sms.py; webhooks at /webhooks/twilio/inbound/ and /status/ ----------
# Default: the local SMS outbox, SmsMessage rows shown as conversations in the admin (nothing leaves
# the machine); distributions.channels.twilio.TwilioSmsBackend sends through Twilio's API.
SMS_BACKEND = env_str("SMS_BACKEND", "distributions.channels.sms_outbox.OutboxSmsBackend")
# The number texts come from (E.164); with Twilio, one of the account's numbers, unless
# TWILIO_MESSAGING_SERVICE_SID is set (then the service picks the sender).
SMS_FROM_NUMBER = env_str("SMS_FROM_NUMBER", "+15005550006").strip()
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID").strip()
# Authenticates API calls and signs Twilio's webhooks (X-Twilio-Signature).
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN").strip()
# The secret of the SharedKey a Twilio Webhook Setting signs our webhooks with instead of the auth
# token (those calls carry X-Twilio-Webhooks-Signature-Settings); empty: such calls are refused.
TWILIO_WEBHOOK_SHARED_KEY_SECRET = env_str("TWILIO_WEBHOOK_SHARED_KEY_SECRET").strip()
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID").strip()
# The root of Twilio's REST API. Empty: Twilio's own (https://api.twilio.com); set it only to send
# to a stand-in of that API (a staging mock, a recording server in tests).
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL").strip()
# Seconds a call to Twilio's API may take before it counts as failed.
SMS_TIMEOUT = env_int("SMS_TIMEOUT", 30, minimum=1)
# Texts wait while it is night for the recipient: "HH:MM-HH:MM" (e.g. 21:00-08:00, as .env.example
# sets it) in the zone the number's metadata gives, when its zones agree; empty: any hour
# (distributions/services/quiet_hours.py).
SMS_QUIET_HOURS = env_str("SMS_QUIET_HOURS")
# With the local outbox, webhooks (as `manage.py sms_reply` sends them) are signed with this key
# instead of a Twilio auth token. Unset: derived from SECRET_KEY, so every process that shares
# SECRET_KEY (the web server, sms_reply) agrees without configuration.
SMS_LOCAL_SIGNING_KEY = env_str("SMS_LOCAL_SIGNING_KEY")
# The answers to texts. False when the carrier or Twilio's own opt-out handling answers STOP,
# START and HELP (Twilio's default), so the number does not get two answers.
SMS_ANSWER_KEYWORDS = env_bool("SMS_ANSWER_KEYWORDS", True)
SMS_STOP_REPLY = env_str(
    "SMS_STOP_REPLY", "You are unsubscribed and will receive no more texts from us. Reply START to resubscribe."
)
SMS_START_REPLY = env_str("SMS_START_REPLY", "You are subscribed again. Reply STOP to unsubscribe.")
SMS_HELP_REPLY = env_str("SMS_HELP_REPLY", "Survey texts. Reply STOP to unsubscribe.")
# The answer to a text from a number with no open survey session (the text is logged).
SMS_NO_SESSION_REPLY = env_str(
    "SMS_NO_SESSION_REPLY",
    "Thank you for your message. There is no open survey for this number. Reply STOP to unsubscribe.",
)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").strip().upper()
if LOG_LEVEL not in logging.getLevelNamesMapping():
    raise ImproperlyConfigured(f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "filters": {
        "refusals_without_traceback": {"()": "config.logging_filters.RefusalsWithoutTraceback"},
        "url_secrets_masked": {"()": "config.logging_filters.UrlSecretsMasked"},
        "database_outage_in_one_line": {"()": "config.logging_filters.DatabaseOutageInOneLine"},
    },
    # On the handler, so it sees every logger's records: Django's refusal warnings carry the path.
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["url_secrets_masked", "database_outage_in_one_line"],
        },
        # runserver's access log (the quickstart's web server), as Django writes it, tokens cut too.
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["url_secrets_masked"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["refusals_without_traceback"]},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}
