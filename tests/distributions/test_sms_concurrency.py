"""Texts arriving at once (PostgreSQL, threads with their own connections): one number's texts
are handled one at a time, a replay racing its original is recorded once."""

import threading

import pytest
from django.test import Client

from distributions.models import SmsConversation, SmsMessage
from distributions.services import sms_inbound
from tests.distributions.sms import INBOUND_PATH, inbound_form, post_signed
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class SlowSession:
    """Answers every text after a pause of `hold` seconds, cut short once another text is being
    handled too, counting how many texts it handles at the same time."""

    def __init__(self, hold=0.5):
        self.condition = threading.Condition()
        self.hold = hold
        self.inside = 0
        self.most_inside = 0

    def answer(self, *, conversation, message):
        with self.condition:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            self.condition.notify_all()
            self.condition.wait_for(lambda: self.most_inside > 1, timeout=self.hold)
            self.inside -= 1
        return f"Got {message.body}"

    def help_text(self, *, conversation):
        return None

    def opted_out(self, *, conversation, message):
        pass


@pytest.fixture
def session(monkeypatch, postgres_only):
    handler = SlowSession()
    monkeypatch.setattr(sms_inbound, "SESSION_HANDLERS", [handler])
    # Numbers that texted before: the first text's insert of the conversation would serialize
    # the two on the unique index alone, hiding a missing row lock.
    for number in ("+15555550123", "+15555550124"):
        SmsConversation.objects.create(phone=number)
    return handler


def test_two_texts_from_one_number_are_handled_one_at_a_time(session):
    forms = [inbound_form(sender="+15555550123", body=body) for body in ("1", "2")]
    responses = run_together(2, lambda i: post_signed(Client(), INBOUND_PATH, forms[i]))
    assert [response.status_code for response in responses] == [200, 200]
    assert session.most_inside == 1
    assert sorted(SmsMessage.objects.filter(direction="outbound").values_list("body", flat=True)) == ["Got 1", "Got 2"]
    texts = list(SmsMessage.objects.order_by("id").values_list("direction", "in_reply_to__body"))
    # Each answer follows its own text: the second text was recorded after the first was answered.
    assert [direction for direction, _ in texts] == ["inbound", "outbound", "inbound", "outbound"]


def test_texts_from_two_numbers_are_handled_together(session):
    # Each text waits for the other (up to 10 s, however far apart a loaded machine starts them).
    session.hold = 10
    forms = [inbound_form(sender=number, body="1") for number in ("+15555550123", "+15555550124")]
    responses = run_together(2, lambda i: post_signed(Client(), INBOUND_PATH, forms[i]))
    assert [response.status_code for response in responses] == [200, 200]
    assert session.most_inside == 2  # the lock is per number, not global


def test_a_replay_racing_its_original_is_recorded_once(session):
    form = inbound_form(sender="+15555550123", body="3")
    responses = run_together(2, lambda i: post_signed(Client(), INBOUND_PATH, form))
    assert [response.status_code for response in responses] == [200, 200]
    assert responses[0].content == responses[1].content and b"Got 3" in responses[0].content
    assert SmsMessage.objects.filter(direction="inbound").count() == 1
    assert SmsMessage.objects.filter(direction="outbound").count() == 1
