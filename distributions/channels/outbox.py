"""The embedded default email backend: keep each message as an OutboxMessage row to read in the admin.

So a laptop shows the invitation, its rendered HTML and its clickable link without any mail
provider. Set EMAIL_BACKEND to SMTP or a django-anymail backend to really send.
"""

from email.utils import make_msgid

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage
from django.core.mail.utils import DNS_NAME

from distributions.models import OutboxMessage


def _header(message: EmailMessage, name: str) -> str:
    return next((str(value) for key, value in message.extra_headers.items() if key.lower() == name.lower()), "")


def _html(message: EmailMessage) -> str:
    if message.content_subtype == "html":
        return message.body
    for content, mimetype in getattr(message, "alternatives", []):
        if mimetype == "text/html":
            return content
    return ""


def outbox_row(message: EmailMessage) -> OutboxMessage:
    html_only = message.content_subtype == "html"
    return OutboxMessage(
        # A message without a Message-ID of its own gets one, as Django's SMTP backend would give it.
        message_id=_header(message, "Message-ID") or make_msgid(domain=DNS_NAME),
        from_email=message.from_email,
        to=", ".join(message.recipients()),
        subject=message.subject,
        text_body="" if html_only else message.body,
        html_body=_html(message),
    )


class OutboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        rows = [outbox_row(message) for message in email_messages if message.recipients()]
        try:
            OutboxMessage.objects.bulk_create(rows)
        except Exception:
            if not self.fail_silently:
                raise
            return 0
        return len(rows)
