"""The distribute task's admin form: the survey list, the message checks, and moving workflows."""

import pytest
from django.http import QueryDict
from django.urls import reverse

from distributions.tasks import DistributeSurveyForm
from tests.factories import make_distribute_task, make_survey, make_user, make_workflow
from workflows.models import Task
from workflows.services.transfer import TransferError, workflows_export, workflows_import

pytestmark = pytest.mark.django_db


def task_post(**fields):
    """What the admin's task page posts for a distribute task."""
    return {
        "position": 1,
        "survey": "Customer satisfaction",
        "directory": "",
        "mailing_list": "Support customers",
        "first_name": "${event://Customer_First_Name__c}",
        "last_name": "${event://Customer_Last_Name__c}",
        "email": "${event://ContactEmail}",
        "phone": "",
        "external_data_reference": "",
        "language": "",
        "data_fields__name": ["Priority", ""],
        "data_fields__value": ["${event://Priority}", ""],
        "from_email": "",
        "from_name": "Customer care",
        "reply_to": "",
        "subject": "How did we do with case ${event://CaseNumber}?",
        "html_body": "<p>${l://SurveyLink?d=Take the survey}</p>",
        "text_body": "",
        "link_expiration_days": "",
        "send_delay": "0",
        "send_delay_unit": "minutes",
        **fields,
    }


def form(**fields):
    data = task_post(**fields)
    bound = DistributeSurveyForm(data=_querydict(data))
    bound.is_valid()
    return bound


def _querydict(data):
    query = QueryDict(mutable=True)
    for key, value in data.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    return query


def test_it_offers_the_surveys_by_name_with_their_status():
    make_survey(name="Customer satisfaction")
    make_survey(name="Onboarding", status="new")
    choices = DistributeSurveyForm().fields["survey"].choices
    assert choices[1:] == [
        ("Customer satisfaction", "Customer satisfaction (active)"),
        ("Onboarding", "Onboarding (new)"),
    ]


def test_it_stores_the_survey_by_name_and_the_delay_as_a_number_and_unit():
    make_survey(name="Customer satisfaction")
    bound = form(send_delay="2", send_delay_unit="hours", link_expiration_days="14")
    assert bound.errors == {}
    config = bound.to_config()
    assert (config["survey"], config["send_delay"], config["send_delay_unit"]) == ("Customer satisfaction", 2, "hours")
    assert config["link_expiration_days"] == 14


def test_it_refuses_a_message_without_the_survey_link():
    make_survey(name="Customer satisfaction")
    bound = form(html_body="<p>Hello</p>", text_body="Hello ${l://OptOutURL}")
    assert "The message has no survey link" in bound.errors["html_body"][0]


def test_it_refuses_a_message_without_a_body():
    make_survey(name="Customer satisfaction")
    assert form(html_body="", text_body="").errors["html_body"] == [
        "Write the message: an HTML body, a text body, or both."
    ]


def test_it_checks_piped_text_in_the_subject_and_bodies():
    make_survey(name="Customer satisfaction")
    bound = form(subject="Case ${evnt://CaseNumber}", html_body="${l://SurveyLink?d=Go} ${e://Priority}")
    assert "is not piped text" in bound.errors["subject"][0]
    assert "${e://Field/Name}" in bound.errors["html_body"][0]


def test_it_refuses_a_survey_name_two_surveys_share():
    make_survey(name="Customer satisfaction")
    make_survey(name="Customer satisfaction")
    assert "Several surveys are named" in form().errors["survey"][0]


def test_it_refuses_an_unknown_survey():
    assert form(survey="Gone").errors["survey"] == ["There is no survey named Gone: choose one of the list."]


def test_the_admin_adds_the_task_to_a_workflow(admin_client):
    make_survey(name="Customer satisfaction")
    workflow = make_workflow()
    url = reverse("admin:workflows_task_add") + f"?kind=distribute_survey&workflow={workflow.pk}"
    assert 'name="survey"' in admin_client.get(url).content.decode()
    admin_client.post(url, task_post())
    task = Task.objects.get()
    assert (task.kind, task.config["survey"], task.config["data_fields"]) == (
        "distribute_survey",
        "Customer satisfaction",
        [["Priority", "${event://Priority}"]],
    )


def test_an_exported_workflow_imports_with_its_survey_found_by_name():
    owner = make_user()
    survey = make_survey(name="Customer satisfaction", owner=owner)
    workflow = make_workflow(owner=owner, name="Case closed")
    make_distribute_task(workflow=workflow, survey=survey)
    document = workflows_export(names=["Case closed"])
    [(imported, created)] = workflows_import(document=document)
    assert (created, imported.tasks.get().config["survey"]) == (False, "Customer satisfaction")


def test_an_import_naming_a_survey_this_installation_lacks_says_so():
    survey = make_survey(name="Customer satisfaction")
    workflow = make_workflow(name="Case closed")
    make_distribute_task(workflow=workflow, survey=survey)
    document = workflows_export(names=["Case closed"])
    survey.delete()
    with pytest.raises(TransferError, match="There is no survey named Customer satisfaction"):
        workflows_import(document=document)
