"""A web process whose database cannot be reached (down, restarting, a network cut): every page
answers 503 with Retry-After, not Django's 500, and the log says so in one line per request
instead of a traceback per request for as long as the outage lasts."""

import socket

import pytest
import requests

from tests.factories import case_fields, outbound_message
from tests.web import gunicorn

pytestmark = pytest.mark.slow

TOKEN = "A" * 43


def _closed_port() -> int:
    """A port nothing listens on: connections to it are refused, as to a database that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    env = {"DATABASE_URL": f"postgres://postgres@127.0.0.1:{_closed_port()}/sfsurveys", "LOG_LEVEL": "INFO"}
    with gunicorn(log_dir=tmp_path, env=env, options=("--workers", "1", "--threads", "2")) as port:
        yield f"http://127.0.0.1:{port}", tmp_path / "gunicorn.log"


@pytest.mark.parametrize("path", [f"/s/{TOKEN}/", f"/s/{TOKEN}/opt-out/", "/r/AbCdEfGhJk"])
def test_a_respondents_page_is_a_503_to_try_again_later(server, path):
    base, log = server
    answer = requests.get(base + path, timeout=30)

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "60"
    assert "try again in a minute" in answer.text
    _assert_logged_in_one_line(log)


def test_an_api_call_is_a_503_in_the_envelope(server):
    base, log = server
    answer = requests.get(base + "/API/v3/whoami", headers={"X-API-TOKEN": "x" * 40}, timeout=30)

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "60"
    assert answer.json()["meta"]["error"]["errorCode"] == "SERVICE_UNAVAILABLE"
    _assert_logged_in_one_line(log)


def test_the_event_endpoint_is_its_503_fault_logged_in_one_line(server):
    base, log = server
    body = outbound_message(case_fields())
    answer = requests.post(
        f"{base}/events/salesforce/{TOKEN}/", data=body, headers={"Content-Type": "text/xml"}, timeout=30
    )

    assert answer.status_code == 503
    assert "Temporarily unable to store the message" in answer.text
    _assert_logged_in_one_line(log)


def _assert_logged_in_one_line(log):
    text = log.read_text(errors="replace")
    assert "the database is unavailable: connection failed" in text
    assert "Traceback" not in text, text[-3000:]
