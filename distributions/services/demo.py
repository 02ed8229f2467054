"""The survey part of the quickstart demo: an active survey, a verified sender domain, and a task
that emails the survey from the demo workflow (after workflows.services.demo.demo_seed).

The survey and its task are added to an installation that has no survey yet, so one seeded
before surveys existed gains them, and an admin who later removes the task or renames the survey
does not find a second one. A second workflow, "Case closed: survey by text" (demo_sms_seed), runs
the same survey as a two-way SMS survey for the case's ContactMobile.
"""

from email.utils import parseaddr

from django.conf import settings
from django.db import transaction
from django.http import QueryDict

from distributions import tasks as distribute_task
from distributions.models import Question, SenderDomain, Survey
from workflows.models import Task, Workflow
from workflows.services.demo import DEMO_CLOSED_CASE, DEMO_MAILING_LIST, demo_workflow_import

DEMO_SURVEY = "Customer satisfaction"
# The second demo workflow: the same closed Case, its survey asked and answered by text.
DEMO_SMS_WORKFLOW = "Case closed: survey by text"
DEMO_MOBILE = DEMO_CLOSED_CASE["ContactMobile"]
# Embedded data the demo workflow saves on the contact (Store is transaction data, not embedded).
DEMO_SURVEY_FIELDS = ("Priority", "Origin")
_QUESTIONS = [
    (Question.Kind.RATING, "How likely are you to recommend us to a friend or colleague?", ""),
    (Question.Kind.MULTIPLE_CHOICE, "Was your issue resolved?", "Yes\nPartly\nNo"),
    (Question.Kind.TEXT, "What could we have done better?", ""),
]
_TASK_CONFIG = {
    "mailing_list": DEMO_MAILING_LIST,
    "first_name": "${event://Customer_First_Name__c}",
    "last_name": "${event://Customer_Last_Name__c}",
    "email": "${event://ContactEmail}",
    "external_data_reference": "${event://ContactId}",
    "from_name": "Customer care",
    "subject": "How did we do with case ${event://CaseNumber}?",
    "html_body": (
        "<p>Hello ${m://FirstName},</p>\n"
        "<p>your case ${event://CaseNumber} (${event://Subject}) is closed. Two minutes of your time "
        "would help us a lot: ${l://SurveyLink?d=take the survey}.</p>\n"
        '<p style="font-size: small">Priority ${e://Field/Priority}, opened via ${e://Field/Origin}. '
        "${l://OptOutLink?d=No more surveys}</p>"
    ),
    "text_body": (
        "Hello ${m://FirstName},\n\n"
        "your case ${event://CaseNumber} (${event://Subject}) is closed. Two minutes of your time "
        "would help us a lot: ${l://SurveyURL}\n\n"
        "No more surveys: ${l://OptOutURL}"
    ),
    "link_expiration_days": "14",
    "send_delay": "0",
    "send_delay_unit": "minutes",
}


_SMS_TASK_CONFIG = {
    "mailing_list": DEMO_MAILING_LIST,
    "first_name": "${event://Customer_First_Name__c}",
    "last_name": "${event://Customer_Last_Name__c}",
    "email": "${event://ContactEmail}",
    "phone": "${event://ContactMobile}",
    "external_data_reference": "${event://ContactId}",
    "method": distribute_task.TWO_WAY_SMS,
    "send_delay": "0",
    "send_delay_unit": "minutes",
}


@transaction.atomic
def demo_sms_seed(*, owner, survey: Survey | None) -> Workflow | None:
    """The demo workflow that runs `survey` as a two-way SMS survey (a closed Case's ContactMobile
    answers it by text, e.g. with `manage.py sms_reply`), created when no workflow has its name.

    -> that workflow, None when there is no survey to run (the demo's was removed)."""
    existing = Workflow.objects.filter(name=DEMO_SMS_WORKFLOW).first()
    if existing is not None or survey is None:
        return existing
    workflow = demo_workflow_import(name=DEMO_SMS_WORKFLOW, owner=owner, tasks=[])
    _add_distribute_task(workflow, survey, _SMS_TASK_CONFIG)
    return workflow


@transaction.atomic
def demo_survey_seed(*, owner, workflow: Workflow) -> Survey | None:
    """Create the survey demo when the installation has no survey; what exists stays as it is.

    -> the survey the demo workflow distributes, None when it distributes none (its task removed)."""
    sender_domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower()
    SenderDomain.objects.get_or_create(domain=sender_domain, defaults={"verified": True})
    if not Survey.objects.exists():
        _add_distribute_task(workflow, _create_survey(owner), _TASK_CONFIG)
    task = workflow.tasks.filter(kind=distribute_task.KIND.name).first()
    survey_id = task.config.get("survey") if task else None
    return Survey.objects.filter(pk=survey_id).first() if isinstance(survey_id, int) else None


def _create_survey(owner) -> Survey:
    survey = Survey.objects.create(
        name=DEMO_SURVEY,
        public_title=DEMO_SURVEY,
        owner=owner,
        status=Survey.Status.ACTIVE,
        introduction="Hello ${m://FirstName}, thank you for contacting us about your ${e://Field/Priority} "
        "priority case.",
        # Short, so the first text (introduction and first question) is one segment.
        sms_introduction="Hi ${m://FirstName}, 3 questions about your case.",
        sms_thank_you="Thank you, ${m://FirstName}: your answers are saved.",
    )
    for position, (kind, text, choices) in enumerate(_QUESTIONS, start=1):
        survey.questions.create(position=position, kind=kind, text=text, choices=choices, required=position == 1)
    for name in DEMO_SURVEY_FIELDS:
        survey.fields.create(name=name)
    return survey


def _add_distribute_task(workflow: Workflow, survey: Survey, config: dict) -> Task:
    """Append the task, its config checked by the admin's form as any other task's."""
    earlier = list(workflow.tasks.values_list("kind", flat=True))
    last = workflow.tasks.order_by("-position").values_list("position", flat=True).first() or 0
    data = QueryDict(mutable=True)
    data.update({**config, "survey": str(survey.pk)})
    known_fields = dict(workflow.known_fields) if workflow.fields_from_wsdl else None
    form = distribute_task.DistributeSurveyForm(data=data, known_event_fields=known_fields, earlier_kinds=earlier)
    if not form.is_valid():
        raise ValueError(f"The demo's distribute task is invalid: {form.errors.as_text()}")
    return Task.objects.create(
        workflow=workflow, position=last + 1, kind=distribute_task.KIND.name, config=form.to_config()
    )
