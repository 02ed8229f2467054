"""A real SMTP server on loopback (aiosmtpd) for tests: it records what it accepted and can refuse
or drop the connection the way real servers do."""

import email
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

SMTP_BACKEND = "distributions.channels.smtp.EmailBackend"


class CommandRecordingSMTP(SMTP):
    """Keeps each MAIL and RCPT command's argument as it arrived: aiosmtpd's parsed addresses
    decode RFC 2047 encoded words, which would hide an address mangled on the wire."""

    async def smtp_MAIL(self, arg):
        self.event_handler.commands.append(f"MAIL {arg}")
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        self.event_handler.commands.append(f"RCPT {arg}")
        await super().smtp_RCPT(arg)


class LoopbackController(Controller):
    """Binds port 0 (a free port) and learns which one before aiosmtpd's readiness check connects."""

    def factory(self):
        return CommandRecordingSMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class Delivery:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.Message
    content: bytes  # the DATA as received


@dataclass
class RecordingHandler:
    deliveries: list[Delivery] = field(default_factory=list)
    rcpt_reply: str | None = None  # e.g. "450 4.2.1 Mailbox busy", "550 5.1.1 No such user"
    data_reply: str | None = None
    # Accept the message, then drop the connection before the "250" reaches the client.
    drop_after_accepting: bool = False
    offers_8bitmime: bool = True  # whether EHLO's reply lists 8BITMIME (RFC 6152)
    sessions: int = 0  # SMTP sessions greeted (EHLO)
    commands: list[str] = field(default_factory=list)  # "MAIL FROM:<...> SMTPUTF8", "RCPT TO:<...>"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return [line for line in responses if self.offers_8bitmime or line != "250-8BITMIME"]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.deliveries.append(
            Delivery(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                email.message_from_bytes(envelope.content),
                envelope.content,
            )
        )
        if self.drop_after_accepting:
            server.transport.close()
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(settings, *, smtputf8=True, eight_bit_mime=True, backend=SMTP_BACKEND):
    """Start a server and point the SMTP backend at it (settings: pytest-django's fixture).

    `smtputf8`, `eight_bit_mime`: whether the server offers SMTPUTF8 (RFC 6531), 8BITMIME (RFC 6152)
    in its EHLO reply."""
    handler = RecordingHandler(offers_8bitmime=eight_bit_mime)
    controller = LoopbackController(handler, hostname="127.0.0.1", port=0, enable_SMTPUTF8=smtputf8)
    controller.start()
    settings.EMAIL_BACKEND = backend
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield handler
    finally:
        controller.stop()
