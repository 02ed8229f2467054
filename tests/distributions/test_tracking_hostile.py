"""Tracking webhook payloads that are valid JSON yet hold a lone surrogate (`"\\ud800"`, which no
UTF-8 text can hold): the authenticated ESP call must get a 4xx or be recorded without it, never a
500 (a NUL byte in the same places is already handled)."""

import pytest

from tests.distributions.test_tracking import fixture, post, sent_invitation

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    from tests.distributions.test_tracking import SECRET

    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


def test_a_postmark_open_whose_user_agent_holds_a_lone_surrogate_is_not_a_500(client):
    sent_invitation()
    payload = fixture("postmark_open.json")
    payload["UserAgent"] = "Mozilla/5.0 \ud800"

    response = post(client, "postmark", payload)

    assert response.status_code < 500


def test_a_postmark_event_whose_invitation_metadata_holds_a_lone_surrogate_is_not_a_500(client):
    sent_invitation()
    payload = fixture("postmark_open.json")
    payload["Metadata"]["invitation"] = "\ud800"

    response = post(client, "postmark", payload)

    assert response.status_code < 500
