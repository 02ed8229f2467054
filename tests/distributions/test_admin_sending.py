import pytest
from django.urls import reverse
from django.utils import formats, timezone

from distributions.models import FrequencyRule, Invitation, OutboxMessage, SenderDomain
from tests.factories import make_contact, make_directory, make_distribution, make_invitation
from tests.pages import result_rows

pytestmark = pytest.mark.django_db


def test_the_outbox_lists_subject_recipient_and_time(admin_client):
    message = OutboxMessage.objects.create(from_email="surveys@example.com", to="ada@example.com", subject="Tell us")

    response = admin_client.get(reverse("admin:distributions_outboxmessage_changelist"))

    assert result_rows(response.content) == [
        {
            "subject": "Tell us",
            "to": "ada@example.com",
            "from_email": "surveys@example.com",
            "created_at": formats.localize(timezone.localtime(message.created_at)),
        }
    ]


def test_the_outbox_shows_the_html_body_escaped_in_a_sandboxed_frame(admin_client):
    html = (
        '<html><head><title>x</title></head><body><a href="https://example.com/s/abc/">Take the survey</a>'
        '<script>alert("owned")</script>"></iframe><img src=x onerror=alert(1)></body></html>'
    )
    message = OutboxMessage.objects.create(
        from_email="surveys@example.com", to="ada@example.com", subject="Tell us", html_body=html, text_body="<b>hi</b>"
    )

    content = admin_client.get(reverse("admin:distributions_outboxmessage_change", args=[message.pk])).content.decode()

    assert '<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" srcdoc="' in content
    assert "allow-scripts" not in content and "allow-same-origin" not in content
    assert "<script>alert" not in content and "onerror=alert(1)>" not in content
    assert "&lt;head&gt;&lt;base target=&quot;_blank&quot;&gt;&lt;title&gt;" in content
    assert "&lt;a href=&quot;https://example.com/s/abc/&quot;&gt;Take the survey&lt;/a&gt;" in content
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;&quot;&gt;&lt;/iframe&gt;" in content
    assert '<pre style="white-space: pre-wrap">&lt;b&gt;hi&lt;/b&gt;</pre>' in content


def test_the_outbox_links_a_message_to_its_invitation(admin_client):
    invitation = make_invitation(distribution=make_distribution(), contact=make_contact(email="ada@example.com"))
    Invitation.objects.filter(pk=invitation.pk).update(message_id="<inv-1@surveys.example.com>")
    message = OutboxMessage.objects.create(
        from_email="surveys@example.com", to="ada@example.com", message_id="<inv-1@surveys.example.com>"
    )

    content = admin_client.get(reverse("admin:distributions_outboxmessage_change", args=[message.pk])).content.decode()

    assert reverse("admin:distributions_invitation_change", args=[invitation.pk]) in content


def test_sender_domains_and_frequency_rules_are_edited_in_the_admin(admin_client):
    directory = make_directory()

    admin_client.post(reverse("admin:distributions_senderdomain_add"), {"domain": "example.com", "verified": "on"})
    admin_client.post(
        reverse("admin:distributions_frequencyrule_add"),
        {"directory": directory.pk, "max_messages": 2, "period_days": 7},
    )

    assert SenderDomain.objects.get().verified is True
    assert str(FrequencyRule.objects.get(directory=directory)) == "at most 2 messages per 7 days"


@pytest.mark.parametrize(
    ("max_messages", "period_days", "field", "error"),
    [
        (0, 7, "max_messages", "At least 1: a rule of 0 messages would skip every invitation."),
        (2, 0, "period_days", "At least 1 day."),
        (2, 1_000_000, "period_days", "At most 3,650 days (10 years)."),
    ],
)
def test_a_frequency_rule_that_could_never_limit_as_it_says_is_refused(
    admin_client, max_messages, period_days, field, error
):
    directory = make_directory()

    response = admin_client.post(
        reverse("admin:distributions_frequencyrule_add"),
        {"directory": directory.pk, "max_messages": max_messages, "period_days": period_days},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [error]
    assert not FrequencyRule.objects.exists()


@pytest.mark.parametrize(
    ("typed", "saved"),
    [(" Example.COM ", "example.com"), ("@example.com", "example.com"), ("example.com.", "example.com")],
)
def test_a_sender_domain_is_saved_as_the_domain_a_send_checks(admin_client, typed, saved):
    response = admin_client.post(reverse("admin:distributions_senderdomain_add"), {"domain": typed, "verified": "on"})

    assert response.status_code == 302
    assert SenderDomain.objects.get().domain == saved


@pytest.mark.parametrize(
    "typed",
    ["https://example.com", "surveys@example.com", "example com", "example.com/path", "localhost", "-example.com"],
)
def test_a_sender_domain_no_address_can_have_is_refused_and_the_typed_value_kept(admin_client, typed):
    response = admin_client.post(reverse("admin:distributions_senderdomain_add"), {"domain": typed, "verified": "on"})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["domain"]
    assert errors == [
        f"“{typed.strip()}” is not a domain name: give only the part after the @ of the sender "
        "address, e.g. example.com."
    ]
    assert f'value="{typed}"' in response.content.decode()
    assert not SenderDomain.objects.exists()


def test_a_sender_domain_differing_only_by_case_is_refused(admin_client):
    SenderDomain.objects.create(domain="example.com", verified=False)

    response = admin_client.post(
        reverse("admin:distributions_senderdomain_add"), {"domain": "EXAMPLE.com", "verified": "on"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["domain"] == [
        "The sender domain example.com exists already: change it there (mark it verified)."
    ]
    assert SenderDomain.objects.count() == 1
