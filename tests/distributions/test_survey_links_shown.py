"""Messages as sent (the local email outbox, texts) hold survey links: the admin shows them whole only
to who may view invitations, as the invitation's own page shows its link. A link opens the
recipient's survey, answers included; anyone else sees each token cut to its first characters."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from distributions.models import OutboxMessage, SmsConversation, SmsMessage
from distributions.selectors import survey_links_masked
from tests.factories import make_user

pytestmark = pytest.mark.django_db

TOKEN = "Ab3dEfGhIjKlMnOpQrStUvWxYz012345"
CODE = "Zy9xWv8uTs"


@pytest.fixture
def sent(settings):
    settings.PUBLIC_BASE_URL = "https://surveys.example.com"
    link, short_link = f"https://surveys.example.com/s/{TOKEN}/", f"https://surveys.example.com/r/{CODE}"
    email = OutboxMessage.objects.create(
        from_email="surveys@example.com",
        to="ada@example.com",
        subject="How did we do?",
        text_body=f"Take the survey: {link}",
        html_body=f'<p><a href="{link}">Take the survey</a></p>',
    )
    conversation = SmsConversation.objects.create(phone="+14155550123", last_message_at=timezone.now())
    text = SmsMessage.objects.create(
        conversation=conversation, direction="outbound", body=f"How did we do? {short_link}", provider="outbox"
    )
    return {"email": email, "conversation": conversation, "text": text}


def pages(sent):
    return [
        reverse("admin:distributions_outboxmessage_change", args=[sent["email"].pk]),
        reverse("admin:distributions_smsmessage_change", args=[sent["text"].pk]),
        reverse("admin:distributions_smsconversation_change", args=[sent["conversation"].pk]),
    ]


def staff_with(client, *codenames):
    user = make_user()
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="distributions", codename=codename))
    client.force_login(user)


SENT_VIEW = ("view_outboxmessage", "view_smsmessage", "view_smsconversation")


def test_who_may_not_view_invitations_sees_the_links_of_sent_messages_cut(client, sent):
    staff_with(client, *SENT_VIEW)

    for url in pages(sent):
        response = client.get(url)
        page = response.content.decode()
        assert response.status_code == 200
        assert TOKEN not in page and CODE not in page, url
        assert TOKEN[:6] + "…" in page or CODE[:6] + "…" in page, url


def test_the_list_of_texts_never_shows_a_link_whole(client, sent):
    staff_with(client, *SENT_VIEW, "view_invitation")

    page = client.get(reverse("admin:distributions_smsmessage_changelist")).content.decode()

    assert CODE not in page and f"/r/{CODE[:6]}…" in page


def test_who_may_view_invitations_sees_the_links_of_sent_messages_whole(client, sent):
    staff_with(client, *SENT_VIEW, "view_invitation")

    outbox, text, thread = (client.get(url).content.decode() for url in pages(sent))

    assert TOKEN in outbox
    assert CODE in text and CODE in thread


@pytest.mark.parametrize(
    "text, shown",
    [
        (f"https://old-address.example.com/s/{TOKEN}/", "https://old-address.example.com/s/Ab3dEf…/"),
        (f"http://127.0.0.1:8000/surveys/s/{TOKEN}/opt-out/", "http://127.0.0.1:8000/surveys/s/Ab3dEf…/opt-out/"),
        (f"Take it: https://surveys.example.com/r/{CODE}.", "Take it: https://surveys.example.com/r/Zy9xWv…."),
        ("https://shop.example.com/s/spring-sale/", "https://shop.example.com/s/spring-sale/"),  # no token's shape
    ],
)
def test_a_link_is_cut_whatever_address_it_was_made_with(text, shown):
    assert survey_links_masked({"Body": [text]}) == {"Body": [shown]}
