"""The SMS conversations in the admin: a thread per number, in order, behind permissions."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from directory.models import Contact
from distributions.models import SmsConversation, SmsMessage
from distributions.services.sms import sms_message_send
from tests.distributions.sms import INBOUND_PATH, inbound_form, post_signed
from tests.factories import make_contact, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(client):
    make_contact(phone="+15555550123", first_name="Grace", sms_opted_out=False)
    sms_message_send(to="+15555550123", body="First: how was your visit? Reply 1-5.")
    post_signed(client, INBOUND_PATH, inbound_form(body="4 <b>stars</b>"))
    post_signed(client, INBOUND_PATH, inbound_form(body="STOP"))
    return SmsConversation.objects.get(phone="+15555550123")


def staff(*permissions):
    user = make_user()
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def thread_url(conversation):
    return reverse("admin:distributions_smsconversation_change", args=[conversation.pk])


def test_the_thread_shows_texts_sent_and_received_in_order(client, conversation, settings):
    client.force_login(staff("view_smsconversation", "view_smsmessage", "view_contact"))
    page = client.get(thread_url(conversation)).content.decode()
    bodies = [
        "First: how was your visit? Reply 1-5.",
        "4 &lt;b&gt;stars&lt;/b&gt;",  # what people text is shown, never run as HTML
        settings.SMS_NO_SESSION_REPLY,
        "STOP",
        settings.SMS_STOP_REPLY,
    ]
    positions = [page.index(body) for body in bodies]
    assert positions == sorted(positions)
    assert page.count('class="outbound"') == 3 and page.count('class="inbound"') == 2
    assert "Opt-out (STOP)" in page
    assert "Grace" in page and "SMS opted out" in page


def test_the_list_shows_each_number_once(client, conversation):
    sms_message_send(to="+14155550100", body="Hi")
    client.force_login(staff("view_smsconversation"))
    page = client.get(reverse("admin:distributions_smsconversation_changelist")).content.decode()
    assert page.count("+15555550123") == 1 and "+14155550100" in page


def test_staff_without_permissions_get_403(client, conversation):
    client.force_login(staff())
    assert client.get(thread_url(conversation)).status_code == 403
    assert client.get(reverse("admin:distributions_smsconversation_changelist")).status_code == 403
    assert client.get(reverse("admin:distributions_smsmessage_changelist")).status_code == 403


def test_viewing_conversations_without_viewing_texts_shows_no_text(client, conversation, settings):
    client.force_login(staff("view_smsconversation"))
    page = client.get(thread_url(conversation)).content.decode()
    assert "needs the permission to view SMS messages" in page
    assert "4 &lt;b&gt;stars" not in page and settings.SMS_STOP_REPLY not in page


def test_contacts_are_shown_only_to_those_who_may_view_them(client, conversation):
    client.force_login(staff("view_smsconversation", "view_smsmessage"))
    page = client.get(thread_url(conversation)).content.decode()
    assert "STOP" in page and "Grace" not in page


def test_nobody_edits_or_adds_texts(client, conversation):
    client.force_login(make_user(is_superuser=True))
    assert client.get(reverse("admin:distributions_smsmessage_add")).status_code == 403
    assert client.get(reverse("admin:distributions_smsconversation_add")).status_code == 403


def test_deleting_the_contact_deletes_the_texts_of_its_number_but_its_deciding_stop(conversation):
    Contact.objects.get(phone="+15555550123").delete()
    # The number's last keyword was STOP: that one text stays, wordless, so it stays opted out.
    assert list(SmsMessage.objects.values_list("conversation__phone", "keyword", "body")) == [
        ("+15555550123", SmsMessage.Keyword.OPT_OUT, "")
    ]


def test_the_texts_stay_while_another_contact_has_the_number(conversation):
    make_contact(phone="+15555550123")
    Contact.objects.filter(phone="+15555550123").first().delete()
    assert SmsMessage.objects.count() == 5


@pytest.mark.parametrize(
    "changelist", ["smsconversation_changelist", "smsmessage_changelist"], ids=["conversations", "texts"]
)
def test_a_number_as_people_write_it_finds_its_texts(admin_client, settings, changelist):
    settings.DEFAULT_PHONE_REGION = "US"
    sms_message_send(to="+14155550100", body="How was your visit?")
    sms_message_send(to="+14155550199", body="How was your visit?")

    response = admin_client.get(reverse(f"admin:distributions_{changelist}"), {"q": "(415) 555-0100"})

    rows = response.context["cl"].result_list
    assert [getattr(row, "conversation", row).phone for row in rows] == ["+14155550100"]
