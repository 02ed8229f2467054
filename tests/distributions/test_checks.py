"""System checks on the settings that every emailed link starts with."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from distributions.checks import check_public_base_url


def ids(settings, value):
    settings.PUBLIC_BASE_URL = value
    return [message.id for message in check_public_base_url()]


@pytest.mark.parametrize("value", ["https://surveys.example.com", "http://127.0.0.1:8000", "http://[::1]:8000"])
def test_an_https_or_loopback_address_passes(settings, value):
    assert ids(settings, value) == []


@pytest.mark.parametrize("value", ["surveys.example.com", "/surveys", "https://", "ftp://surveys.example.com"])
def test_an_address_recipients_cannot_open_is_an_error(settings, value):
    assert ids(settings, value) == ["distributions.E001"]


def test_plain_http_on_a_public_host_is_a_warning(settings):
    assert ids(settings, "http://surveys.example.com") == ["distributions.W001"]


def test_the_error_stops_management_commands(settings):
    settings.PUBLIC_BASE_URL = "surveys.example.com"

    with pytest.raises(SystemCheckError, match="distributions.E001"):
        call_command("check")
