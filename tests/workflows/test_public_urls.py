"""Absolute URLs start with PUBLIC_BASE_URL once, also when the site is served under a path."""

import re

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django.urls import reverse, set_script_prefix

from distributions.selectors import survey_link
from distributions.services.delivery import opt_out_url
from tests.factories import make_user, make_workflow
from workflows.public_urls import public_url

BASE = "https://example.com/surveys"


@pytest.fixture
def served_under_a_path(settings):
    """PUBLIC_BASE_URL ends with /surveys, and the web server passes SCRIPT_NAME=/surveys to the site."""
    settings.PUBLIC_BASE_URL = BASE
    settings.ALLOWED_HOSTS = ["example.com"]
    yield
    set_script_prefix("/")


@pytest.mark.parametrize("script_prefix", ["/surveys/", "/"], ids=["in a request", "in a worker"])
def test_every_process_writes_the_prefix_once(served_under_a_path, script_prefix):
    set_script_prefix(script_prefix)

    assert survey_link("abc") == f"{BASE}/s/abc/"
    assert opt_out_url("abc") == f"{BASE}/s/abc/opt-out/"
    assert public_url("admin:workflows_run_change", args=[7]) == f"{BASE}/admin/workflows/run/7/change/"


@pytest.mark.django_db
def test_the_workflow_page_shows_the_event_url_salesforce_can_call(client, served_under_a_path):
    workflow = make_workflow()
    client.force_login(make_user(is_superuser=True))
    page = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    # Through the WSGI handler, as gunicorn calls it: the test client would not set the script prefix.
    environ = RequestFactory()._base_environ(
        PATH_INFO=page,
        SCRIPT_NAME="/surveys",
        HTTP_HOST="example.com",
        HTTP_COOKIE=client.cookies.output(header="", sep="; "),
    )

    body = served_by_wsgi(environ)

    assert set(re.findall(rf"{re.escape(BASE)}/[^\"'<\s]*", body)) == {f"{BASE}/events/salesforce/{workflow.token}/"}


def served_by_wsgi(environ) -> str:
    """The page's body, served by Django's WSGI handler as gunicorn calls it. As Django's test client
    does, the handler keeps the test's database connection instead of closing it."""
    request_started.disconnect(close_old_connections)
    try:
        return b"".join(WSGIHandler()(environ, lambda status, headers: None)).decode()
    finally:
        request_started.connect(close_old_connections)
