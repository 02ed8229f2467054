"""Logs never hold a workflow's event URL token or a survey link's token: Django logs the path of
every refused request, and the web process's access log every request line, so both write them cut
to their first characters, as the admin shows an event URL to whoever may not use it."""

import io
import logging

import pytest
import requests

from config.logging_filters import without_url_secrets
from tests.factories import ORGANIZATION_ID, case_fields, make_invitation, make_workflow, outbound_message
from tests.web import gunicorn
from tests.workers import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def console():
    """What the settings' console handler writes, as a string read at the end."""
    (handler,) = [handler for handler in logging.getLogger().handlers if handler.get_name() == "console"]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_refused_calls_at_an_event_url_are_logged_without_its_token(client, console):
    workflow = make_workflow(allowed_organization_ids=ORGANIZATION_ID)
    other_organization = outbound_message(case_fields(), organization_id="00D5g000009ZZZZEA4")

    assert client.get(workflow.event_path).status_code == 405
    assert client.post(workflow.event_path, "<not-xml", content_type="text/xml").status_code == 400
    assert client.post(workflow.event_path, other_organization, content_type="text/xml").status_code == 403

    log = console.getvalue()
    assert workflow.token not in log
    assert log.count(f"/events/salesforce/{workflow.token[:6]}…/") == 3


def test_a_refused_survey_answer_is_logged_without_the_links_token(console):
    from django.test import Client

    invitation = make_invitation()

    response = Client(enforce_csrf_checks=True).post(f"/s/{invitation.token}/", {"1": "Fine"})

    assert response.status_code == 403
    log = console.getvalue()
    assert invitation.token not in log
    assert f"/s/{invitation.token[:6]}…/" in log


@pytest.mark.parametrize(
    "text, masked",
    [
        ("POST /events/salesforce/AbCdEfGhIjKl/ HTTP/1.1", "POST /events/salesforce/AbCdEf…/ HTTP/1.1"),
        ("/events/salesforce/AbCdEfGhIjKl", "/events/salesforce/AbCdEf…"),
        ("GET /surveys/s/AbCdEfGhIjKl/opt-out/?x=1", "GET /surveys/s/AbCdEf…/opt-out/?x=1"),
        ('"https://surveys.example.com/s/AbCdEfGhIjKl/"', '"https://surveys.example.com/s/AbCdEf…/"'),
        ("GET /r/AbCdEfGhIj HTTP/1.1", "GET /r/AbCdEf… HTTP/1.1"),
        ("GET /admin/r/12/34567890/ HTTP/1.1", "GET /admin/r/12/34567890/ HTTP/1.1"),
        ("GET /admin/workflows/run/12345678/change/", "GET /admin/workflows/run/12345678/change/"),
    ],
)
def test_it_cuts_the_tokens_of_event_urls_and_survey_links(text, masked):
    assert without_url_secrets(text) == masked


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_web_process_logs_no_token_of_the_requests_it_serves(postgres_only, tmp_path):
    workflow = make_workflow(allowed_organization_ids=ORGANIZATION_ID)
    invitation = make_invitation()
    with gunicorn(log_dir=tmp_path, env={"PUBLIC_BASE_URL": "http://127.0.0.1"}) as port:
        base = f"http://127.0.0.1:{port}"
        accepted = requests.post(
            base + workflow.event_path, outbound_message(case_fields()), headers={"Content-Type": "text/xml"}
        )
        refused = requests.get(base + workflow.event_path)
        survey = requests.get(f"{base}/s/{invitation.token}/", headers={"Referer": f"{base}/s/{invitation.token}/"})
        # gunicorn writes a request's access line once the answer is sent.
        wait_for(lambda: (tmp_path / "gunicorn.log").read_text().count(" 200 ") >= 2, seconds=10)

    assert (accepted.status_code, refused.status_code, survey.status_code) == (200, 405, 200)
    log = (tmp_path / "gunicorn.log").read_text()
    assert workflow.token not in log and invitation.token not in log
    assert log.count(f"/events/salesforce/{workflow.token[:6]}…/") == 3  # two access lines, one warning
    assert log.count(f"/s/{invitation.token[:6]}…/") == 2  # the request line and the Referer


def test_the_web_processs_error_log_cuts_the_tokens_too(tmp_path):
    """gunicorn logs "Error handling request <path>" when a request fails outside Django."""
    from gunicorn.config import Config

    import config.gunicorn as web_process

    cfg = Config()
    cfg.set("errorlog", str(tmp_path / "error.log"))
    logger = web_process.logger_class(cfg)

    logger.error("Error handling request %s", "/events/salesforce/AbCdEfGhIjKlMnOp/")
    logger.exception("Error handling request %s", "/s/QrStUvWxYz012345/")

    log = (tmp_path / "error.log").read_text()
    assert "AbCdEfGhIjKlMnOp" not in log and "QrStUvWxYz012345" not in log
    assert "/events/salesforce/AbCdEf…/" in log and "/s/QrStUv…/" in log


def test_the_quickstart_web_servers_access_log_is_written_without_tokens():
    # runserver (manage.py quickstart) logs each request line to django.server, through its own handler.
    (handler,) = [
        handler for handler in logging.getLogger("django.server").handlers if handler.get_name() == "django.server"
    ]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        logging.getLogger("django.server").info(
            '"%s" %s %s', "GET /s/AbCdEfGhIjKlMnOpQrStUvWxYz012345/ HTTP/1.1", "200", "512", extra={"status_code": 200}
        )
        logging.getLogger("django.server").info(
            '"%s" %s %s', "POST /events/salesforce/AbCdEfGhIjKl/ HTTP/1.1", "200", "273", extra={"status_code": 200}
        )
    finally:
        handler.setStream(previous)

    log = stream.getvalue()
    assert "AbCdEfGhIjKlMnOp" not in log
    assert "AbCdEfGhIjKl/" not in log
    assert '"GET /s/AbCdEf…/ HTTP/1.1" 200 512' in log
    assert '"POST /events/salesforce/AbCdEf…/ HTTP/1.1" 200 273' in log
