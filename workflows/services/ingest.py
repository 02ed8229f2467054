"""The Salesforce event endpoint's one service: parse, validate, store, enqueue, acknowledge.

Store first, then ack: an Ack tells Salesforce to forget the message, so it is only sent once
the notifications and their runs are committed. Nothing else happens here: no contact writes,
no email; the worker does that.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.utils import timezone

from workflows.models import InboundMessage, Run, TestEvent, Workflow, token_digest
from workflows.salesforce.encoding import storable_text
from workflows.salesforce.parse import (
    ORGANIZATION_KEY_PREFIX,
    MalformedMessage,
    OutboundMessage,
    is_organization_id,
    organization_key,
    parse_outbound_message,
    shown,
)
from workflows.salesforce.scrub import body_without_session_id
from workflows.salesforce.soap import ack_response, fault_response
from workflows.services.dispatch import queue_is_database, wake_up_jobs, wake_ups_for, workers_wake
from workflows.services.inbound_store import WorkflowChanged, inbound_store
from workflows.services.test_events import TestEventRefused, test_event_for_header, test_event_receive

logger = logging.getLogger(__name__)

# A refused body is kept for troubleshooting up to this size; an accepted one is kept whole.
REFUSED_BODY_KEEP_BYTES = 64 * 1024
DUPLICATE_REASON = "Every notification in this message had been received before."


@dataclass(frozen=True)
class Call:
    """What the view hands over: transport facts only."""

    token: str
    method: str
    body: bytes  # at most SALESFORCE_MAX_BODY_BYTES + 1 bytes were read
    body_error: str = ""  # why the body could not be read whole, e.g. the client stopped sending
    content_type: str = ""
    charset: str = ""  # the Content-Type's charset parameter: the body's encoding if it names none
    remote_addr: str | None = None
    test_event: str = ""  # the X-Test-Event header: the admin's signed test-event id, if any


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class Refusal(Exception):
    """A call refused with `status`; `message` is the outbound message when it was parsed before
    the refusal, so the log can say which organization, action and object called."""

    def __init__(self, status: int, reason: str, message: OutboundMessage | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.message = message


# What the endpoint needs of a workflow; the other fields load on access.
_ENDPOINT_FIELDS = ["id", "name", "enabled", "salesforce_object", "allowed_organization_ids", "token"]
_WORKFLOW_BY_DIGEST = f"SELECT {', '.join(_ENDPOINT_FIELDS)} FROM {Workflow._meta.db_table} WHERE token_digest = %s"
# Workflows by token digest as this process last read them, so an accepted call costs no lookup.
# An entry is only trusted to accept: the store writes nothing unless the workflow's row still
# holds the entry's values (_still_current), so a token rotation, a disable or an edit made by any
# process invalidates it at once; a refusal is only answered after reading the row again.
# Unknown tokens are not kept, so the entries are bounded by the workflows (and their rotations).
_known_workflows: dict[str, Workflow] = {}
_KNOWN_WORKFLOWS_MAX = 1000


def workflow_for_token(token: str) -> Workflow | None:
    """The workflow whose event URL ends with `token`, read from the database; None when none."""
    return _workflow_by_digest(token_digest(token))


def _workflow_by_digest(digest: str) -> Workflow | None:
    # Looked up by digest: the index lookup's timing depends only on a hash of the token.
    # Plain SQL because this runs on every call and compiling the ORM query cost twice running it.
    with connection.cursor() as cursor:
        cursor.execute(_WORKFLOW_BY_DIGEST, [digest])
        row = cursor.fetchone()
    return None if row is None else Workflow.from_db(connection.alias, _ENDPOINT_FIELDS, row)


def _workflow_reread(digest: str) -> Workflow | None:
    _known_workflows.pop(digest, None)
    workflow = _workflow_by_digest(digest)
    if workflow is not None:
        if len(_known_workflows) >= _KNOWN_WORKFLOWS_MAX:
            _known_workflows.clear()
        _known_workflows[digest] = workflow
    return workflow


def _still_current(workflow: Workflow, digest: str) -> dict:
    """The workflow's columns the endpoint decided on, as it read them: the store's precondition."""
    return {
        "id": workflow.pk,
        "token_digest": digest,
        "enabled": workflow.enabled,
        "salesforce_object": workflow.salesforce_object,
        "allowed_organization_ids": workflow.allowed_organization_ids,
    }


def _validate(call: Call, workflow: Workflow | None) -> OutboundMessage:
    if workflow is None:
        raise Refusal(
            404,
            "No workflow has this event URL. Copy the URL again from the workflow's page in the admin "
            "(it changes when the token is rotated) into the Salesforce outbound message.",
        )
    if call.method != "POST":
        raise Refusal(405, f"{call.method} is not accepted: Salesforce sends outbound messages with POST.")
    if call.body_error:
        raise Refusal(
            400,
            f"The body could not be read ({call.body_error}): send the whole message, with a Content-Length "
            "or in well-formed chunks.",
        )
    if len(call.body) > settings.SALESFORCE_MAX_BODY_BYTES:
        raise Refusal(
            413,
            f"The body is larger than {settings.SALESFORCE_MAX_BODY_BYTES} bytes "
            "(SALESFORCE_MAX_BODY_BYTES): send fewer fields or fewer notifications per message.",
        )
    try:
        message = parse_outbound_message(call.body, charset=call.charset)
    except MalformedMessage as error:
        raise Refusal(400, error.reason) from None
    allowed = workflow.organization_keys()
    if allowed and organization_key(message.organization_id) not in allowed:
        raise Refusal(
            403,
            f"Organization {message.organization_id} is not allowed to call workflow {workflow.name!r}: "
            "add it to the workflow's allowed organization ids if it should be.",
            message,
        )
    # After the allowlist: where there is one, any other organization is refused as not allowed.
    if not is_organization_id(message.organization_id):
        raise Refusal(
            400,
            f"The message's OrganizationId {message.organization_id!r} is not an organization id: those start "
            f"with {ORGANIZATION_KEY_PREFIX} (Setup > Company Information shows it).",
            message,
        )
    if len(message.notifications) > settings.SALESFORCE_MAX_NOTIFICATIONS:
        raise Refusal(
            400,
            f"The message has {len(message.notifications)} notifications; Salesforce sends at most "
            f"{settings.SALESFORCE_MAX_NOTIFICATIONS} per message.",
            message,
        )
    # No xsi:type (a SOAP client built from the WSDL) means the object the WSDL declares. API names
    # are case-insensitive in Salesforce: a workflow bound to "case" takes Case records.
    bound = workflow.salesforce_object.casefold()
    wrong = sorted({n.sobject_type for n in message.notifications if n.sobject_type.casefold() not in (bound, "")})
    if wrong:
        raise Refusal(
            400,
            f"Workflow {workflow.name!r} is bound to {workflow.salesforce_object} records but the message "
            f"carries {', '.join(map(shown, wrong))}: point this outbound message at a workflow for that object.",
            message,
        )
    return message


def _log_refusal(call: Call, workflow: Workflow | None, refusal: Refusal) -> None:
    # Whatever bytes the caller sent must fit the text columns, or the refusal would go unlogged.
    try:
        InboundMessage.objects.create(
            workflow=workflow,
            status=InboundMessage.Status.REFUSED,
            http_status=refusal.status,
            reason=storable_text(refusal.reason),
            token_hint=storable_text(call.token[:6]),
            remote_addr=call.remote_addr,
            content_type=storable_text(call.content_type[:200]),
            body_size=len(call.body),
            body=body_without_session_id(call.body[:REFUSED_BODY_KEEP_BYTES], charset=call.charset),
            **_parsed_facts(refusal.message),
        )
    except (OperationalError, InterfaceError) as error:  # the database is away: one line, not a traceback per call
        logger.error("Could not record a refused call (%s): %s: %s", refusal.status, refusal.reason, _one_line(error))
    except Exception:  # the refusal is answered all the same: a failure to log it must not become a 500
        logger.exception("Could not record a refused call (%s): %s", refusal.status, refusal.reason)


def _parsed_facts(message: OutboundMessage | None) -> dict:
    """What a message parsed before its refusal says of its sender, for the log's columns and filters."""
    if message is None:
        return {}
    objects = sorted({n.sobject_type for n in message.notifications if n.sobject_type})
    return {
        "organization_id": storable_text(message.organization_id[:18]),
        "action_id": storable_text(message.action_id[:18]),
        "sobject_type": storable_text(", ".join(objects)[:100]),
        "notification_count": len(message.notifications),
    }


def _unique_notifications(message: OutboundMessage):
    """One per notification id: a batch may repeat a notification (also dedupe within a batch)."""
    seen = {}
    for notification in message.notifications:
        seen.setdefault(notification.id, notification)
    return list(seen.values())


def _test_event(call: Call, workflow: Workflow, message: OutboundMessage) -> TestEvent | None:
    """The test event the call's X-Test-Event header names, or None without one; a header that
    does not check out is refused, so a test message never runs as a real one."""
    if not call.test_event:
        return None
    try:
        return test_event_for_header(
            header=call.test_event,
            workflow=workflow,
            notification_ids=[notification.id for notification in message.notifications],
        )
    except TestEventRefused as refused:
        raise Refusal(403, refused.reason, message) from None


def _store(call: Call, workflow: Workflow, message: OutboundMessage, *, digest: str) -> None:
    """Store the message for `workflow`; WorkflowChanged when the workflow's row no longer holds
    what it was read with (nothing is written then)."""
    test_event = _test_event(call, workflow, message)
    notifications = _unique_notifications(message)
    now = timezone.now()
    org_key = organization_key(message.organization_id)
    # The wake-up jobs commit with the runs when the job queue is this database.
    write_jobs = workflow.enabled and queue_is_database(connection.alias)
    stored = inbound_store(
        workflow=_still_current(workflow, digest),
        inbound={
            "workflow_id": workflow.pk,
            "received_at": now,
            "http_status": 200,
            "token_hint": call.token[:6],
            "remote_addr": call.remote_addr,
            "content_type": storable_text(call.content_type[:200]),
            "organization_id": message.organization_id,
            "action_id": message.action_id,
            "sobject_type": workflow.salesforce_object,
            "notification_count": len(message.notifications),
            "body_size": len(call.body),
            "body": body_without_session_id(call.body, charset=call.charset),
        },
        status={
            "accepted": (InboundMessage.Status.ACCEPTED, ""),
            "duplicate": (InboundMessage.Status.DUPLICATE, DUPLICATE_REASON),
        },
        notifications=[
            {
                "organization_key": org_key,
                "notification_id": n.id,
                "sobject_type": n.sobject_type or workflow.salesforce_object,
                "record_id": (n.fields.get("Id") or "")[:18],
                "fields": n.fields,
            }
            for n in notifications
        ],
        run={
            "workflow_id": workflow.pk,
            "test_event_id": test_event and test_event.pk,
            "status": Run.Status.QUEUED if workflow.enabled else Run.Status.SKIPPED,
            "status_reason": "" if workflow.enabled else Run.WORKFLOW_DISABLED,
            "condition_results": [],
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "finished_at": None if workflow.enabled else now,
        },
        jobs=wake_up_jobs(wake_ups_for(len(notifications))) if write_jobs else [],
    )
    if workflow.enabled and stored.run_ids and not write_jobs:
        workers_wake(runs=len(stored.run_ids))
    if test_event is not None:
        # Only a marker for the test-event page: the runs already name their test event.
        test_event_receive(test_event=test_event)


def _accept(call: Call, digest: str) -> None:
    """Validate and store the call with the workflow as this process knows it, reading it again
    when that one would refuse or has changed since. Raises Refusal; WorkflowChanged only if the
    workflow changed again between reading it and storing."""
    workflow = _known_workflows.get(digest)
    if workflow is not None:
        try:
            _store(call, workflow, _validate(call, workflow), digest=digest)
            return
        except (Refusal, WorkflowChanged):
            pass
    workflow = _workflow_reread(digest)
    _store(call, workflow, _validate(call, workflow), digest=digest)


def inbound_message_receive(call: Call) -> Answer:
    """Answer one call to the event endpoint: the Ack once its notifications are stored, else a
    SOAP Fault with the contract's status (DESIGN.md), the refusal logged with its reason.

    Never raises: a failure of ours is a 503 Fault, which Salesforce answers by delivering the
    message again later, so nothing is lost.
    """
    digest = token_digest(call.token)
    try:
        _accept(call, digest)
    except Refusal as refusal:
        # The workflow the refusal was decided on: read again by _accept, or None.
        _log_refusal(call, _known_workflows.get(digest), refusal)
        return Answer(refusal.status, fault_response(client_error=True, message=refusal.reason))
    except DatabaseError as error:
        workflow = _known_workflows.get(digest)
        if isinstance(error, (OperationalError, InterfaceError)):  # the database is away, refused, timed out
            # One line per call while it lasts (Salesforce keeps calling), the database's own words in it.
            logger.error(
                "Could not store an outbound message (workflow %s): the database is unavailable: %s",
                workflow and workflow.pk,
                _one_line(error),
            )
        else:
            logger.exception("Could not store an outbound message (workflow %s)", workflow and workflow.pk)
        _drop_broken_connection()
        return _temporary_failure(call, workflow, "the database could not store the message")
    except Exception:  # the contract has no 500: whatever went wrong, Salesforce must retry
        workflow = _known_workflows.get(digest)
        logger.exception("Unexpected error receiving an outbound message (workflow %s)", workflow and workflow.pk)
        return _temporary_failure(call, workflow, "an unexpected error occurred while storing the message")
    return Answer(200, ack_response())


def _temporary_failure(call: Call, workflow: Workflow | None, what: str) -> Answer:
    message = f"Temporarily unable to store the message ({what}); retry later (Salesforce retries on its own)."
    _log_refusal(call, workflow, Refusal(503, message))
    return Answer(503, fault_response(client_error=False, message=message))


def _one_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _drop_broken_connection() -> None:
    """Close a connection the failure left unusable (the server went away), so the refusal can be
    logged on a new one. Inside an outer transaction (a caller's atomic block) it is left alone."""
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()
