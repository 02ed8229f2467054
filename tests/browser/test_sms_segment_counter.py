"""The SMS text's segment counter in a real browser: characters and segments as the admin types,
and the warning past one segment, by the same rule as distributions/channels/segments.py."""

from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from distributions.channels.segments import count_segments
from distributions.selectors import survey_short_link
from tests.factories import make_survey, make_workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-segment-counter-password"


@pytest.fixture
def workflow(allow_orm_beside_playwright):
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)
    make_survey(name="Customer satisfaction", owner=admin)
    return make_workflow(name="Case closed", owner=admin)


def as_sent(text: str) -> str:
    """The text with its survey link as the short link it becomes (10-character code)."""
    return text.replace("${l://SurveyURL}", survey_short_link("x" * 10))


def log_in(page, base_url, next_path):
    page.goto(f"{base_url}/admin/login/?{urlencode({'next': next_path})}")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("admin")


def test_the_counter_follows_the_text_and_warns_past_one_segment(live_server, page, screenshot, workflow):
    log_in(page, live_server.url, f"/admin/workflows/task/add/?workflow={workflow.pk}&kind=distribute_survey")
    field = page.locator("#id_sms_text")
    counter = page.locator(".sms-segment-count")
    expect(counter).to_have_text("0 characters, 0 segments (GSM-7, 160 left)")
    # The piped-text menu's button stays beside the field.
    expect(page.locator("#id_sms_text + .piped-text-button")).to_be_visible()

    short = "Hi ${m://FirstName}, how did we do? ${l://SurveyURL}"
    field.fill(short)
    expected = count_segments(as_sent(short))
    assert expected.units > len(short) - len("${l://SurveyURL}")  # the braces of ${m://...} take two septets
    expect(counter).to_have_text(f"{expected.characters} characters, 1 segment (GSM-7, {expected.remaining} left)")
    expect(counter).not_to_have_class("sms-multiple-segments")

    long = short + " " + "Thank you for choosing us. " * 5
    expected = count_segments(as_sent(long))
    field.fill(long)
    expect(counter).to_contain_text(f"{expected.characters} characters, {expected.segments} segments (GSM-7")
    expect(counter).to_contain_text("past one segment")
    expect(counter).to_have_class("help sms-segment-count sms-multiple-segments")

    emoji = "Merci 😀 ${l://SurveyURL}"
    field.fill(emoji)
    expected = count_segments(as_sent(emoji))
    expect(counter).to_have_text(f"{expected.characters} characters, 1 segment (UCS-2, {expected.remaining} left)")
    screenshot("sms-text-counter")
    assert Path(screenshot("done")).exists()
