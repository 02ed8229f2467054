"""Test events: an admin sends the workflow an outbound message from its page, to try it.

The message is the one Salesforce would send (`workflows.salesforce.build`), POSTed by a background
job to the workflow's own event URL (PUBLIC_BASE_URL), so it takes the path every Salesforce call
takes. It is posted by a job, not from the admin's request: a web server with one worker would
otherwise wait on itself (the request posting holds the only worker the post needs).

What makes it a test is not in the message: the job sends the TestEvent's id signed with
SECRET_KEY in the `X-Test-Event` header, and the endpoint accepts a signature once, for that
workflow, within TEST_EVENT_MAX_AGE. A Salesforce caller, who controls only what it sends,
cannot mark a message as a test, and a test message cannot run as a real one: a header that does
not check out is refused, not ignored.
"""

from dataclasses import dataclass
from datetime import timedelta

import requests
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from workflows.models import InboundMessage, Run, TestEvent, Workflow
from workflows.salesforce.build import NOTIFICATION_PREFIX, build_outbound_message, salesforce_id
from workflows.salesforce.deliver import deliver
from workflows.tasks import registry

HEADER = "X-Test-Event"
TEST_EVENT_MAX_AGE = timedelta(hours=1)
# Used when the workflow accepts any organization; the simulator's default, so tests look alike.
DEFAULT_ORGANIZATION_ID = "00D000000000001EAA"
DEFAULT_ACTION_ID = "04k000000000001AAA"
DELIVERY_JOB = "workflows.jobs.deliver_test_event"
# The admin waits on the page: a few quick tries, not Salesforce's 24 hours.
GIVE_UP_AFTER_SECONDS = 20.0
TIMEOUT_SECONDS = 30.0
_SALT = "workflows.test-event"


class TestEventRefused(Exception):
    """The X-Test-Event header does not check out; `reason` says why, for the inbound log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FieldDefault:
    name: str
    salesforce_type: str  # the WSDL's XSD type ("" when only seen in messages)
    value: str  # the last message's value, "" when none


def test_event_fields(*, workflow: Workflow) -> list[FieldDefault]:
    """The fields a test event offers, in the known fields' order, each with the value the
    workflow's last message carried; fields only that message had come after."""
    # The newest message through inbound_workflow_recent, then its first notification.
    message = (
        InboundMessage.objects.filter(workflow=workflow, status=InboundMessage.Status.ACCEPTED)
        .order_by("-received_at")
        .only("pk")
        .first()
    )
    last = {}
    if message is not None:
        last = message.notifications.order_by("pk").values_list("fields", flat=True).first() or {}
    names = [*workflow.known_fields, *(name for name in last if name not in workflow.known_fields)]
    return [
        FieldDefault(name, workflow.known_fields.get(name, ""), "" if last.get(name) is None else str(last[name]))
        for name in names
    ]


def tasks_reaching_people(*, workflow: Workflow) -> list:
    """The workflow's tasks whose kind sends to a person (it declares recipient fields)."""
    return [task for task in workflow.tasks.all() if (kind := registry.find(task.kind)) and kind.recipient_fields]


def tasks_saving_contacts(*, workflow: Workflow) -> list:
    """The workflow's tasks that save the event's person as a contact without sending to them
    (their kind declares contact fields, no recipient fields): a test run without a test address
    changes the real contact."""
    return [
        task
        for task in workflow.tasks.all()
        if (kind := registry.find(task.kind)) and kind.contact_fields and not kind.recipient_fields
    ]


def test_event_create(*, workflow: Workflow, fields: dict[str, str], test_recipient: str, user) -> TestEvent:
    """Store the message and queue its delivery (after commit). Raises ValueError (from the
    message builder) for a field name that is no API name or a value XML cannot carry.

    `fields` maps API names to values; an empty value is left out, as Salesforce leaves out
    null fields, and a missing Id gets a fresh record id."""
    notification_id = salesforce_id(NOTIFICATION_PREFIX)
    body = build_outbound_message(
        organization_id=(workflow.allowed_organization_ids.split() or [DEFAULT_ORGANIZATION_ID])[0],
        action_id=DEFAULT_ACTION_ID,
        sobject_type=workflow.salesforce_object,
        notifications=[(notification_id, {name: value or None for name, value in fields.items()})],
    )
    test_event = TestEvent.objects.create(
        workflow=workflow,
        created_by=user,
        notification_id=notification_id,
        body=body.decode("utf-8"),
        test_recipient=test_recipient,
    )
    transaction.on_commit(lambda: async_task(DELIVERY_JOB, test_event.pk), robust=True)
    return test_event


def test_event_deliver(*, test_event_id: int, session: requests.Session | None = None) -> TestEvent | None:
    """POST the test event's message to its workflow's event URL with its signed header, once.

    Idempotent: a test event already delivered (or tried) is left alone. -> the test event, or
    None when it no longer exists."""
    claimed = TestEvent.objects.filter(pk=test_event_id, delivered_at=None).update(delivered_at=timezone.now())
    test_event = TestEvent.objects.select_related("workflow").filter(pk=test_event_id).first()
    if not claimed or test_event is None:
        return test_event
    lines = []
    with session or requests.Session() as http:
        http.headers[HEADER] = test_event_header(test_event=test_event)
        delivery = deliver(
            http,
            test_event.workflow.event_url,
            test_event.body.encode("utf-8"),
            give_up_after=GIVE_UP_AFTER_SECONDS,
            max_delay=4.0,
            timeout=TIMEOUT_SECONDS,
            log=lines.append,
        )
    # Kept and shown to whoever may follow the test event: without the token (an error quotes the URL).
    description = test_event.workflow.without_token(delivery.outcome.description)
    if not delivery.acknowledged:
        description = (
            f"{description}. The message went to {test_event.workflow.masked_event_url}: Salesforce must reach that "
            "address too; check PUBLIC_BASE_URL if it is not this site's."
        )
    TestEvent.objects.filter(pk=test_event.pk).update(acknowledged=delivery.acknowledged, delivery=description)
    test_event.refresh_from_db()
    return test_event


def test_event_header(*, test_event: TestEvent) -> str:
    """The X-Test-Event header value that marks the test event's message: its id, signed."""
    return signing.dumps(test_event.pk, salt=_SALT)


def test_event_for_header(*, header: str, workflow: Workflow, notification_ids: list[str]) -> TestEvent:
    """The test event whose signed id `header` holds, if it may mark this message of this workflow
    as a test: the message must be the test event's own (its one notification id). Raises
    TestEventRefused otherwise. A test event received already is returned as well: the same
    message again is a redelivery (the job retried after a lost answer), a no-op."""
    try:
        test_event_id = signing.loads(header, salt=_SALT, max_age=TEST_EVENT_MAX_AGE.total_seconds())
    except signing.SignatureExpired:
        raise TestEventRefused(
            "The test event expired: send a new one from the workflow's page in the admin."
        ) from None
    except signing.BadSignature:
        raise TestEventRefused(
            f"The {HEADER} header is not one this site signed: only the admin's Send a test event sends it."
        ) from None
    test_event = TestEvent.objects.filter(pk=test_event_id, workflow_id=workflow.pk).first()
    if test_event is None:
        raise TestEventRefused("The test event belongs to another workflow or was deleted: send a new one.")
    if notification_ids != [test_event.notification_id]:
        raise TestEventRefused(
            "This message is not the test event's: a test event marks only the message sent with it."
        )
    return test_event


def test_event_receive(*, test_event: TestEvent) -> None:
    """Mark the test event received, in the caller's (the endpoint's) transaction."""
    TestEvent.objects.filter(pk=test_event.pk, received_at=None).update(received_at=timezone.now())


def test_event_runs(*, test_event: TestEvent) -> list[Run]:
    """The runs the test event's message started, with their task attempts (in run order)."""
    return list(test_event.runs.order_by("pk").prefetch_related("task_runs"))
