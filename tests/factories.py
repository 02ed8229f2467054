"""Plain builders for tests: each returns a saved object with sensible defaults."""

import itertools

from django.contrib.auth import get_user_model

from directory.models import Contact, Directory
from workflows.models import Condition, Task, Workflow
from workflows.salesforce.build import build_outbound_message, salesforce_id

ORGANIZATION_ID = "00D5g000004ABCDEA4"
_sequence = itertools.count(1)


def make_user(**fields):
    n = next(_sequence)
    defaults = {"username": f"user{n}", "email": f"user{n}@example.com", "is_staff": True}
    return get_user_model().objects.create_user(**{**defaults, **fields})


def make_directory(**fields):
    return Directory.objects.create(**{"name": f"Directory {next(_sequence)}", **fields})


def make_contact(*, directory=None, **fields):
    directory = directory or make_directory()
    return Contact.objects.create(directory=directory, **fields)


def make_workflow(*, owner=None, **fields):
    defaults = {"name": f"Workflow {next(_sequence)}", "salesforce_object": "Case"}
    return Workflow.objects.create(owner=owner or make_user(), **{**defaults, **fields})


def make_condition(*, workflow, field, operator, value="", position=1):
    return Condition.objects.create(workflow=workflow, field=field, operator=operator, value=value, position=position)


DIRECTORY_TASK_CONFIG = {
    "mailing_list": "Support customers",
    "first_name": "${event://Customer_First_Name__c}",
    "last_name": "${event://Customer_Last_Name__c}",
    "email": "${event://ContactEmail}",
    "save_mode": "embedded_data",
    "data_fields": [["Priority", "${event://Priority}"]],
}


def make_directory_task(*, workflow, position=1, **config):
    return Task.objects.create(
        workflow=workflow, position=position, kind="add_to_directory", config={**DIRECTORY_TASK_CONFIG, **config}
    )


def case_fields(**fields):
    """A Case's fields as the outbound message sends them."""
    defaults = {
        "Id": salesforce_id("500"),
        "CaseNumber": "00001026",
        "ContactEmail": "ada@example.com",
        "Customer_First_Name__c": "Ada",
        "Customer_Last_Name__c": "Lovelace",
        "IsClosed": "true",
        "Priority": "High",
        "Store__c": "Milan",
    }
    return {**defaults, **fields}


def outbound_message(*records, sobject_type="Case", organization_id=ORGANIZATION_ID, notification_ids=None):
    """A real-format message with one notification per record (fields dicts)."""
    records = records or (case_fields(),)
    ids = notification_ids or [salesforce_id("04l") for _ in records]
    return build_outbound_message(
        organization_id=organization_id,
        action_id="04k5g000000ABCDAAA",
        sobject_type=sobject_type,
        notifications=list(zip(ids, records)),
    )


def make_run(*, workflow, fields=None, **run_fields):
    """A queued run of one notification, as the endpoint would have stored it."""
    from django.utils import timezone

    from workflows.models import InboundMessage, Notification, Run

    fields = case_fields() if fields is None else fields
    inbound = InboundMessage.objects.create(
        workflow=workflow, status="accepted", http_status=200, organization_id=ORGANIZATION_ID
    )
    notification = Notification.objects.create(
        inbound_message=inbound,
        organization_key=ORGANIZATION_ID[:15],
        notification_id=salesforce_id("04l"),
        sobject_type=workflow.salesforce_object,
        record_id=fields.get("Id") or "",
        fields=fields,
    )
    return Run.objects.create(
        workflow=workflow, notification=notification, **{"next_attempt_at": timezone.now(), **run_fields}
    )


def make_survey(*, owner=None, **fields):
    from distributions.models import Survey

    defaults = {"name": f"Survey {next(_sequence)}", "status": Survey.Status.ACTIVE}
    return Survey.objects.create(owner=owner or make_user(), **{**defaults, **fields})


def make_question(*, survey, kind="text", text="What could we do better?", **fields):
    position = fields.pop("position", survey.questions.count() + 1)
    return survey.questions.create(kind=kind, text=text, position=position, **fields)


def make_survey_field(*, survey, name, default_value=""):
    return survey.fields.create(name=name, default_value=default_value)


def make_invitation(*, survey=None, contact=None, distribution=None, **fields):
    """An invitation with its own distribution of `survey` (a new active one if not given)."""
    from distributions.models import Distribution, Invitation

    distribution = distribution or Distribution.objects.create(survey=survey or make_survey())
    contact = contact or make_contact(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    return Invitation.objects.create(distribution=distribution, contact=contact, address=contact.email, **fields)


def make_distribution(*, survey=None, **fields):
    from distributions.models import Distribution

    return Distribution.objects.create(survey=survey or make_survey(), **fields)


def make_survey_response(*, invitation, **fields):
    """A response to `invitation` (started now; pass finished_at to finish it)."""
    from distributions.models import Response

    return Response.objects.create(invitation=invitation, survey=invitation.distribution.survey, **fields)


def make_response_export(*, survey, user=None, **options):
    """A complete response export of `survey` (its job run here), CSV in a ZIP unless `options` say otherwise."""
    from distributions.models import ResponseExport
    from distributions.services.response_export import response_export_run, response_export_start

    export = response_export_start(survey=survey, user=user or survey.owner, **{"format": "csv", **options})
    response_export_run(export_id=export.pk)
    return ResponseExport.objects.get(pk=export.pk)


def make_sender_domain(domain="example.com", *, verified=True):
    from distributions.models import SenderDomain

    return SenderDomain.objects.get_or_create(domain=domain, defaults={"verified": verified})[0]


DISTRIBUTE_TASK_CONFIG = {
    "mailing_list": "Support customers",
    "first_name": "${event://Customer_First_Name__c}",
    "last_name": "${event://Customer_Last_Name__c}",
    "email": "${event://ContactEmail}",
    "data_fields": [["Priority", "${event://Priority}"]],
    "from_email": "surveys@example.com",
    "from_name": "Customer care",
    "reply_to": "",
    "subject": "How did we do with case ${event://CaseNumber}?",
    "html_body": "<p>Hello ${m://FirstName}, ${l://SurveyLink?d=take the survey}.</p>",
    "text_body": "Hello ${m://FirstName}, take the survey: ${l://SurveyURL}",
    "link_expiration_days": None,
    "send_delay": 0,
    "send_delay_unit": "minutes",
}


def make_distribute_task(*, workflow, survey, position=1, **config):
    """A distribute-survey task of `survey` (config as the admin form stores it)."""
    return Task.objects.create(
        workflow=workflow,
        position=position,
        kind="distribute_survey",
        config={**DISTRIBUTE_TASK_CONFIG, "survey": survey.pk, **config},
    )


def make_distributing_workflow(**config):
    """A workflow whose one task emails survey "Customer satisfaction" from a verified domain."""
    make_sender_domain("example.com")
    survey = make_survey(name="Customer satisfaction")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, **config)
    return workflow


def make_delivery_event(*, invitation, kind, occurred_at=None, **fields):
    """An event in the invitation's history (the status is left as it is)."""
    from django.utils import timezone

    from distributions.models import DeliveryEvent

    return DeliveryEvent.objects.create(
        invitation=invitation, kind=kind, occurred_at=occurred_at or timezone.now(), **fields
    )


def make_task_run(*, run, position=1, kind="add_to_directory", status="succeeded", **fields):
    """One recorded attempt at a task of `run` (finished a quarter second after it started): the
    workflow's task at `position` unless `task` says otherwise, as the engine records it."""
    from datetime import timedelta

    from django.utils import timezone

    from workflows.models import TaskRun

    if "task" not in fields and "task_id" not in fields:
        fields["task"] = run.workflow.tasks.all()[position - 1 : position].first()
    started_at = fields.pop("started_at", timezone.now())
    return TaskRun.objects.create(
        run=run,
        position=position,
        kind=kind,
        status=status,
        started_at=started_at,
        finished_at=fields.pop("finished_at", started_at + timedelta(milliseconds=250)),
        **fields,
    )


def make_inbound_message(**fields):
    """A call to the event endpoint as the inbound log stores it (accepted unless told otherwise)."""
    from workflows.models import InboundMessage

    defaults = {"status": "accepted", "http_status": 200, "organization_id": ORGANIZATION_ID}
    return InboundMessage.objects.create(**{**defaults, **fields})
