import os
import re
import runpy
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_int

ROOT = Path(__file__).resolve().parents[2]


def test_it_lists_every_environment_variable_in_env_example():
    read = set(re.findall(r'env_\w+\("([A-Z_]+)"', (ROOT / "config" / "settings.py").read_text()))
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    assert read - listed == set()


def test_a_whole_number_setting_below_its_minimum_is_refused(monkeypatch):
    monkeypatch.setenv("RUN_BATCH_SIZE", "0")
    with pytest.raises(ImproperlyConfigured, match="RUN_BATCH_SIZE must be at least 1, not 0"):
        env_int("RUN_BATCH_SIZE", 50, minimum=1)
    monkeypatch.setenv("RUN_BATCH_SIZE", "1")
    assert env_int("RUN_BATCH_SIZE", 50, minimum=1) == 1


# --- SECRET_KEY ---------------------------------------------------------------------------------


def load_settings(monkeypatch, data_dir, **environment):
    """config/settings.py as a process started with `environment` (and no SECRET_KEY unless given) sees it."""
    for name in ("SECRET_KEY", "DATABASE_URL", "DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "config" / "settings.py"))


def test_it_refuses_to_start_without_a_secret_key_on_a_database_server(monkeypatch, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is not set.*set SECRET_KEY"):
        load_settings(monkeypatch, tmp_path, DATABASE_URL="postgres://surveys@db.internal:5432/surveys")


def test_it_refuses_to_start_without_a_secret_key_even_with_debug_on(monkeypatch, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is not set"):
        load_settings(monkeypatch, tmp_path, DATABASE_URL="postgres://surveys@db.internal:5432/surveys", DEBUG="true")


def test_it_takes_the_secret_key_given(monkeypatch, tmp_path):
    loaded = load_settings(
        monkeypatch, tmp_path, DATABASE_URL="postgres://surveys@db.internal:5432/surveys", SECRET_KEY="given-key"
    )
    assert loaded["SECRET_KEY"] == "given-key"
    assert not (tmp_path / "secret_key").exists()


def test_it_generates_a_key_for_sqlite_once_readable_by_its_owner_only(monkeypatch, tmp_path):
    first = load_settings(monkeypatch, tmp_path)["SECRET_KEY"]
    second = load_settings(monkeypatch, tmp_path)["SECRET_KEY"]

    assert first == second == (tmp_path / "secret_key").read_text().strip()
    assert len(first) >= 50
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_each_sqlite_install_gets_its_own_key(monkeypatch, tmp_path):
    one = load_settings(monkeypatch, tmp_path / "one")["SECRET_KEY"]
    other = load_settings(monkeypatch, tmp_path / "other")["SECRET_KEY"]
    assert one != other


def test_processes_starting_together_share_one_generated_key(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "DATABASE_URL")}
    env.update(DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    command = [sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) for _ in range(6)]
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}

    assert keys == {(tmp_path / "secret_key").read_text().strip()}
    assert [path.name for path in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left behind


def test_it_refuses_an_empty_key_file_and_says_what_to_do(monkeypatch, tmp_path):
    (tmp_path / "secret_key").write_text("\n")
    with pytest.raises(ImproperlyConfigured, match="is empty: delete it"):
        load_settings(monkeypatch, tmp_path)


# --- HTTPS --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "public_base_url"),
    [
        ("https://surveys.example.com/", "https://surveys.example.com"),
        ("https://Umfragen.Bäckerei.de", "https://umfragen.xn--bckerei-5wa.de"),
        ("https://straße.de:8443/umfragen/", "https://xn--strae-oqa.de:8443/umfragen"),
        ("https://example.com/ümfragen", "https://example.com/%C3%BCmfragen"),
    ],
)
def test_the_public_base_url_is_written_in_ascii(monkeypatch, tmp_path, given, public_base_url):
    # Emails carry it in List-Unsubscribe, a header that holds only an ASCII URL.
    assert load_settings(monkeypatch, tmp_path, PUBLIC_BASE_URL=given)["PUBLIC_BASE_URL"] == public_base_url


def test_https_redirect_and_hsts_are_off_unless_asked_for(monkeypatch, tmp_path):
    loaded = load_settings(monkeypatch, tmp_path)
    assert (loaded["SECURE_SSL_REDIRECT"], loaded["SECURE_HSTS_SECONDS"]) == (False, 0)


def test_https_redirect_and_hsts_are_switched_on_from_the_environment(monkeypatch, tmp_path):
    loaded = load_settings(
        monkeypatch,
        tmp_path,
        SECURE_SSL_REDIRECT="true",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
    )
    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SECURE_HSTS_SECONDS"] == 31536000
    assert loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True


# --- values the product cannot work with ----------------------------------------------------------


def test_a_variable_left_empty_takes_its_default(monkeypatch, tmp_path):
    # As a copy of .env.example with the optional lines left blank.
    loaded = load_settings(monkeypatch, tmp_path, DATABASE_URL="", TIME_ZONE="", LOG_LEVEL="", ALLOWED_HOSTS="")

    assert loaded["DATABASES"]["default"]["NAME"] == str(tmp_path / "db.sqlite3")
    assert loaded["TIME_ZONE"] == "UTC"
    assert loaded["LOGGING"]["root"]["level"] == "INFO"
    assert loaded["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]


def test_an_empty_data_dir_keeps_the_database_in_the_project_not_the_current_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    loaded = load_settings(monkeypatch, tmp_path, DATA_DIR="")

    assert loaded["DATA_DIR"] == ROOT / "var"


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("WORKER_COUNT", "0", "WORKER_COUNT must be at least 1, not 0"),
        ("WORKER_COUNT", "-2", "WORKER_COUNT must be at least 1, not -2"),
        ("WORKER_TIMEOUT_SECONDS", "0", "WORKER_TIMEOUT_SECONDS must be at least 1, not 0"),
        ("RUN_LEASE_SECONDS", "-1", "RUN_LEASE_SECONDS must be at least 1, not -1"),
        ("RUN_RETRY_WINDOW_SECONDS", "-1", "RUN_RETRY_WINDOW_SECONDS must be at least 0, not -1"),
        ("RUN_RETRY_MAX_DELAY_SECONDS", "0", "RUN_RETRY_MAX_DELAY_SECONDS must be at least 1, not 0"),
        ("RETENTION_DAYS", "0", "RETENTION_DAYS must be at least 1, not 0"),
        ("RETENTION_DAYS", "-1", "RETENTION_DAYS must be at least 1, not -1"),
        ("SALESFORCE_MAX_BODY_BYTES", "0", "SALESFORCE_MAX_BODY_BYTES must be at least 16384, not 0"),
        ("EMAIL_PORT", "-1", "EMAIL_PORT must be at least 1, not -1"),
        ("EMAIL_PORT", "99999", "EMAIL_PORT must be at most 65535, not 99999"),
        ("EMAIL_TIMEOUT", "0", "EMAIL_TIMEOUT must be at least 1, not 0"),
        ("DATABASE_CONN_MAX_AGE", "-5", "DATABASE_CONN_MAX_AGE must be at least 0, not -5"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'LOUD'"),
        ("DATABASE_URL", "db.internal/surveys", "DATABASE_URL is not a database URL .*postgres://user:password@host"),
        ("API_RATE_LIMIT", "300", "API_RATE_LIMIT must be a number of calls per period, e.g. 300/min"),
        ("API_RATE_LIMIT", "0/min", "API_RATE_LIMIT must be a number of calls per period"),
        ("API_RATE_LIMIT", "300/fortnight", "API_RATE_LIMIT must be a number of calls per period"),
    ],
)
def test_it_refuses_to_start_with_a_value_it_cannot_work_with(monkeypatch, tmp_path, name, value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(monkeypatch, tmp_path, **{name: value})


def test_it_reads_a_log_level_in_any_case(monkeypatch, tmp_path):
    assert load_settings(monkeypatch, tmp_path, LOG_LEVEL="warning")["LOGGING"]["root"]["level"] == "WARNING"


def test_it_says_which_folder_to_fix_when_the_database_folder_cannot_be_created(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ImproperlyConfigured, match="set DATA_DIR to a folder this process may write to"):
        load_settings(monkeypatch, tmp_path / "file" / "data")


# --- worker batches -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("database_url", "batch_size"),
    [("", 10), ("postgres://surveys@db.internal:5432/surveys", 50)],
    ids=["sqlite", "postgresql"],
)
def test_it_claims_smaller_batches_on_sqlite_whose_one_writer_the_endpoint_waits_for(
    monkeypatch, tmp_path, database_url, batch_size
):
    monkeypatch.delenv("RUN_BATCH_SIZE", raising=False)
    loaded = load_settings(monkeypatch, tmp_path, DATABASE_URL=database_url, SECRET_KEY="given-key")

    assert loaded["RUN_BATCH_SIZE"] == batch_size


def test_it_takes_the_batch_size_given_whatever_the_database(monkeypatch, tmp_path):
    loaded = load_settings(monkeypatch, tmp_path, DATABASE_URL="", RUN_BATCH_SIZE="30")

    assert loaded["RUN_BATCH_SIZE"] == 30


# --- PostgreSQL parameters --------------------------------------------------------------------------


def test_it_binds_query_parameters_on_the_postgresql_server(monkeypatch, tmp_path):
    loaded = load_settings(
        monkeypatch,
        tmp_path,
        DATABASE_URL="postgres://surveys@db.internal:5432/surveys?sslmode=require",
        SECRET_KEY="given-key",
    )

    assert loaded["DATABASES"]["default"]["OPTIONS"] == {"sslmode": "require", "server_side_binding": True}


# --- cookies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "environment, secure",
    [
        ({}, False),  # the local run: http://127.0.0.1:8000
        ({"PUBLIC_BASE_URL": "http://surveys.example.com"}, False),
        ({"PUBLIC_BASE_URL": "https://surveys.example.com"}, True),  # TLS served by gunicorn itself
        ({"PUBLIC_BASE_URL": "https://surveys.example.com", "BEHIND_HTTPS_PROXY": "false"}, True),
        ({"BEHIND_HTTPS_PROXY": "true"}, True),
    ],
)
def test_session_and_csrf_cookies_travel_only_over_https_once_the_site_is_served_so(
    monkeypatch, tmp_path, environment, secure
):
    for name in ("PUBLIC_BASE_URL", "BEHIND_HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    loaded = load_settings(monkeypatch, tmp_path, **environment)
    assert (loaded["SESSION_COOKIE_SECURE"], loaded["CSRF_COOKIE_SECURE"]) == (secure, secure)
    assert loaded.get("SESSION_COOKIE_HTTPONLY", True) is True
