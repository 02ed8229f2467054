"""The Salesforce simulator's options: every odd value is refused before anything is sent."""

import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from workflows.management.commands.send_outbound_message import Command

# Nothing listens on the discard port: a message that got as far as sending would not be acknowledged.
URL = "http://127.0.0.1:9/events/salesforce/token/"


def send(*options):
    call_command("send_outbound_message", *options, "--give-up-after", "0", "--timeout", "1")


@pytest.mark.parametrize("url", ["http://[::1", "ftp://example.com/x", "example.com/x"])
def test_it_refuses_a_url_that_is_not_http(url):
    with pytest.raises(CommandError, match=re.escape(f"--url must be an http(s) URL, not '{url}'")):
        call_command("send_outbound_message", "--url", url)


def parse(*options):
    """The options as the command reads them; parsing alone sends nothing, so a value that would
    make it retry forever (NaN never passes a deadline) cannot hang the test."""
    return Command().create_parser("manage.py", "send_outbound_message").parse_args(["--url", URL, *options])


@pytest.mark.parametrize("option", ["--give-up-after", "--max-delay", "--timeout"])
@pytest.mark.parametrize("value", ["-1", "nan", "inf", "abc"])
def test_it_refuses_a_number_of_seconds_that_cannot_be_waited(option, value):
    with pytest.raises(CommandError, match=f"argument {option}: expected a number of seconds"):
        parse(option, value)


def test_it_refuses_a_timeout_of_zero():
    with pytest.raises(CommandError, match="argument --timeout: expected a number of seconds above 0"):
        parse("--timeout", "0")


def test_it_reads_seconds_with_a_fraction():
    options = parse("--give-up-after", "0", "--max-delay", "0.5", "--timeout", "2.5")
    assert (options.give_up_after, options.max_delay, options.timeout) == (0.0, 0.5, 2.5)


@pytest.mark.parametrize("value", ["bell\x07", "\udcff"])  # \udcff: an undecodable byte of the command line
def test_it_refuses_a_field_value_xml_cannot_carry(value):
    with pytest.raises(CommandError, match="^Subject holds U\\+"):
        send("--url", URL, "--field", f"Subject={value}")
