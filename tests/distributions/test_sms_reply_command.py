"""`manage.py sms_reply` plays a respondent's phone against a running server."""

import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from directory.models import Contact
from distributions.models import SmsMessage
from tests.factories import make_contact
from tests.workers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_posts_a_signed_text_and_prints_the_answer(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    make_contact(phone="+15555550123")
    # A second process, as a newcomer runs it: it shares the server's SECRET_KEY, hence its signing key.
    env = {**os.environ, "PUBLIC_BASE_URL": live_server.url}
    done = subprocess.run(
        [sys.executable, "manage.py", "sms_reply", "--from", "+15555550123", "--body", "STOP"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"Answer: {settings.SMS_STOP_REPLY}" in done.stdout
    assert Contact.objects.get().sms_opted_out
    inbound = SmsMessage.objects.get(direction="inbound")
    assert (inbound.body, inbound.conversation.phone) == ("STOP", "+15555550123")


def test_it_says_when_the_server_refuses_the_signature(live_server, settings):
    settings.PUBLIC_BASE_URL = "https://surveys.example.com"  # the server expects calls signed for this URL
    with pytest.raises(CommandError, match="refused the signature.*PUBLIC_BASE_URL"):
        call_command("sms_reply", "--from", "+15555550123", "--body", "2", "--url", live_server.url)
    assert not SmsMessage.objects.exists()


def test_it_says_when_no_server_answers(settings):
    with pytest.raises(CommandError, match="Is the server running"):
        call_command(
            "sms_reply", "--from", "+15555550123", "--body", "2", "--url", "http://127.0.0.1:9", "--timeout", "5"
        )


def test_it_refuses_a_sender_that_is_not_a_number():
    with pytest.raises(CommandError, match="--from"):
        call_command("sms_reply", "--from", "nobody", "--body", "2")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "abc"])
def test_it_refuses_a_timeout_it_cannot_wait_saying_what_it_expects(value):
    with pytest.raises(CommandError, match=rf"argument --timeout: expected a number of seconds.*not '{value}'"):
        call_command("sms_reply", "--from", "+15555550123", "--body", "hi", "--timeout", value)
