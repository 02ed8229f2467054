"""Simulate Salesforce: send Outbound Messages to a URL and retry them as Salesforce does."""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows.management.arguments import seconds_argument, timeout_argument
from workflows.salesforce.build import NOTIFICATION_PREFIX, build_outbound_message, salesforce_id
from workflows.salesforce.deliver import deliver
from workflows.salesforce.parse import SALESFORCE_ID

# Fixed defaults so that repeated runs look like the same org and the same outbound message,
# which is what allowed-organization checks and deduplication key on.
DEFAULT_ORGANIZATION_ID = "00D000000000001EAA"
DEFAULT_ACTION_ID = "04k000000000001AAA"
MAX_BATCH = 100  # Salesforce never puts more notifications in one message


def _salesforce_id(text: str) -> str:
    # The endpoint refuses any other id, so the simulator says so before sending anything.
    if not SALESFORCE_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a Salesforce id of 15 or 18 letters and digits, not {text!r}")
    return text


def _field(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"expected Name=Value (Name= for an empty string), not {text!r}")
    return name, value


class Command(BaseCommand):
    help = (
        "Send Salesforce Outbound Messages to --url the way Salesforce does: SOAP POSTs of up to "
        "100 notifications, each retried with exponential backoff until acknowledged or until "
        "--give-up-after seconds have passed. Unlike real Salesforce, which would keep retrying "
        "every failure for 24 h, a 4xx SOAP Fault (unknown token, foreign organization, "
        "malformed message, too large) stops retrying that message at once."
    )
    # A client tool: it needs neither a database nor a passing system check.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="The workflow's Salesforce endpoint.")
        parser.add_argument("--object", default="Case", help="sObject type (default: Case).")
        parser.add_argument(
            "--field",
            type=_field,
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A field of every record; repeatable. {n} becomes the notification's 1-based "
            "number. Each record gets a fresh Id unless Id=... is given.",
        )
        parser.add_argument("--count", type=int, default=1, help="Notifications in all (default 1).")
        parser.add_argument(
            "--batch", type=int, default=MAX_BATCH, help="Notifications per message (default and max 100)."
        )
        parser.add_argument(
            "--repeat",
            type=int,
            default=1,
            help="Send each message K times in a row, same bytes: what Salesforce's redelivery looks like.",
        )
        parser.add_argument(
            "--organization-id",
            type=_salesforce_id,
            default=os.environ.get("SALESFORCE_ORGANIZATION_ID", DEFAULT_ORGANIZATION_ID),
            help=f"Default: $SALESFORCE_ORGANIZATION_ID, else {DEFAULT_ORGANIZATION_ID}.",
        )
        parser.add_argument(
            "--action-id", type=_salesforce_id, default=DEFAULT_ACTION_ID, help=f"Default: {DEFAULT_ACTION_ID}."
        )
        parser.add_argument("--session-id", help="Sent as SessionId (default: nil, as when not enabled).")
        parser.add_argument(
            "--give-up-after",
            type=seconds_argument,
            default=86400.0,
            help="Stop retrying a message after this many seconds (default 24 h).",
        )
        parser.add_argument(
            "--max-delay",
            type=seconds_argument,
            default=7200.0,
            help="Longest wait between tries, in seconds (default 2 h).",
        )
        parser.add_argument(
            "--timeout", type=timeout_argument, default=60.0, help="Seconds to wait for an answer (default 60)."
        )
        parser.add_argument("--quiet", action="store_true", help="Print only failures.")

    def handle(self, *args: Any, **options: Any) -> None:
        url: str = options["url"]
        count: int = options["count"]
        batch: int = options["batch"]
        repeat: int = options["repeat"]
        quiet: bool = options["quiet"]
        # Validated here because requests would report a bad URL on every retry for 24 h.
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unclosed [ of an IPv6 address
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise CommandError(f"--url must be an http(s) URL, not {url!r}")
        if not 1 <= batch <= MAX_BATCH:
            raise CommandError(
                f"--batch must be 1 to {MAX_BATCH}: Salesforce sends at most {MAX_BATCH} notifications per message"
            )
        if count < 1 or repeat < 1:
            raise CommandError("--count and --repeat must be at least 1")

        bodies = self._bodies(options, dict(options["field"]), count, batch)
        sends = math.ceil(count / batch) * repeat
        failed = 0
        started = time.monotonic()
        with requests.Session() as session:
            for index, (size, body) in enumerate(bodies):
                for copy in range(repeat):
                    label = f"message {index * repeat + copy + 1}/{sends}"
                    if repeat > 1:
                        label += f" (copy {copy + 1}/{repeat})"
                    delivery = deliver(
                        session,
                        url,
                        body,
                        give_up_after=options["give_up_after"],
                        max_delay=options["max_delay"],
                        timeout=options["timeout"],
                        log=lambda line, label=label: self.stderr.write(f"{label}: {line}"),
                    )
                    notifications = _plural(size, "notification")
                    if not delivery.acknowledged:
                        failed += 1
                        self.stderr.write(f"{label}: {notifications} not acknowledged")
                    elif not quiet:
                        self.stdout.write(f"{label}: {notifications} acknowledged in {delivery.elapsed:.2f} s")
        if failed:
            raise CommandError(f"{failed} of {sends} messages were not acknowledged")
        if not quiet:
            elapsed = time.monotonic() - started
            self.stdout.write(
                self.style.SUCCESS(
                    f"{_plural(sends, 'message')} ({_plural(count * repeat, 'notification')}) "
                    f"acknowledged in {elapsed:.2f} s"
                )
            )

    def _bodies(
        self, options: Mapping[str, Any], fields: Mapping[str, str], count: int, batch: int
    ) -> Iterator[tuple[int, bytes]]:
        """Yield (notifications, bytes) per message, built lazily so a large --count stays cheap."""
        for first in range(1, count + 1, batch):
            numbers = range(first, min(first + batch, count + 1))
            notifications = [
                # Plain replace rather than str.format, so other braces in values stay literal.
                (salesforce_id(NOTIFICATION_PREFIX), {k: v.replace("{n}", str(n)) for k, v in fields.items()})
                for n in numbers
            ]
            try:
                body = build_outbound_message(
                    organization_id=options["organization_id"],
                    action_id=options["action_id"],
                    sobject_type=options["object"],
                    notifications=notifications,
                    session_id=options["session_id"],
                )
            except ValueError as error:  # a bad --object or --field name, or a value XML cannot carry
                raise CommandError(str(error)) from None
            yield len(numbers), body


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"
