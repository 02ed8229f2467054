"""The distribute task's admin form: the survey list, the message checks, and moving workflows."""

import pytest
from django.http import QueryDict
from django.urls import reverse

from distributions.models import Survey
from distributions.tasks import DistributeSurveyForm
from tests.factories import DISTRIBUTE_TASK_CONFIG, make_distribute_task, make_survey, make_user, make_workflow
from workflows.models import Task, Workflow
from workflows.services.transfer import TransferError, workflows_export, workflows_import
from workflows.tasks import registry

pytestmark = pytest.mark.django_db


def task_post(**fields):
    """What the admin's task page posts for a distribute task."""
    return {
        "position": 1,
        "survey": "",
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
    satisfaction = make_survey(name="Customer satisfaction")
    onboarding = make_survey(name="Onboarding", status="new")
    choices = DistributeSurveyForm().fields["survey"].choices
    assert choices[1:] == [
        (satisfaction.pk, "Customer satisfaction (active)"),
        (onboarding.pk, "Onboarding (new)"),
    ]


def test_it_stores_the_survey_by_id_and_the_delay_as_a_number_and_unit():
    survey = make_survey(name="Customer satisfaction")
    bound = form(survey=str(survey.pk), send_delay="2", send_delay_unit="hours", link_expiration_days="14")
    assert bound.errors == {}
    config = bound.to_config()
    assert (config["survey"], config["send_delay"], config["send_delay_unit"]) == (survey.pk, 2, "hours")
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


def test_it_tells_apart_two_surveys_of_the_same_name():
    make_survey(name="Customer satisfaction")
    second = make_survey(name="Customer satisfaction")
    assert form(survey=str(second.pk)).to_config()["survey"] == second.pk


def test_it_refuses_a_survey_deleted_while_the_page_was_open():
    survey = make_survey(name="Customer satisfaction")
    survey_id = survey.pk
    survey.delete()
    assert form(survey=str(survey_id)).errors["survey"] == ["That survey no longer exists: choose one of the list."]


def test_the_admin_adds_the_task_to_a_workflow(admin_client):
    survey = make_survey(name="Customer satisfaction")
    workflow = make_workflow()
    url = reverse("admin:workflows_task_add") + f"?kind=distribute_survey&workflow={workflow.pk}"
    admin_client.post(url, task_post(survey=str(survey.pk)))
    task = Task.objects.get()
    assert (task.kind, task.config["survey"], task.config["data_fields"]) == (
        "distribute_survey",
        survey.pk,
        [["Priority", "${event://Priority}"]],
    )


def test_the_task_page_shows_the_survey_it_links_to_under_its_new_name(admin_client):
    survey = make_survey(name="Customer satisfaction")
    task = make_distribute_task(workflow=make_workflow(), survey=survey)
    Survey.objects.filter(pk=survey.pk).update(name="Customer satisfaction 2027")
    page = admin_client.get(reverse("admin:workflows_task_change", args=[task.pk]))
    field = page.context_data["adminform"].form["survey"]
    assert (field.value(), dict(field.field.choices)[field.value()]) == (
        survey.pk,
        "Customer satisfaction 2027 (active)",
    )


# --- moving workflows: the document names the survey, the import links it by id ---------------


def test_an_export_names_the_survey():
    survey = make_survey(name="Customer satisfaction")
    make_distribute_task(workflow=make_workflow(name="Case closed"), survey=survey)
    Survey.objects.filter(pk=survey.pk).update(name="Customer satisfaction 2027")
    [exported] = workflows_export(names=["Case closed"])["workflows"]
    assert exported["tasks"][0]["config"]["survey"] == "Customer satisfaction 2027"


def test_an_export_of_a_task_whose_survey_was_deleted_names_none():
    survey = make_survey(name="Customer satisfaction")
    make_distribute_task(workflow=make_workflow(name="Case closed"), survey=survey)
    survey.delete()
    [exported] = workflows_export(names=["Case closed"])["workflows"]
    assert exported["tasks"][0]["config"]["survey"] == ""


def test_an_exported_workflow_imports_linked_to_the_survey_of_that_name_here():
    owner = make_user()
    survey = make_survey(name="Customer satisfaction", owner=owner)
    make_distribute_task(workflow=make_workflow(owner=owner, name="Case closed"), survey=survey)
    document = workflows_export(names=["Case closed"])
    # Another installation: the workflow and the survey exist there under other ids.
    Workflow.objects.all().delete()
    survey.delete()
    make_survey(name="Onboarding", owner=owner)
    there = make_survey(name="Customer satisfaction", owner=owner)
    [(imported, created)] = workflows_import(document=document)
    assert (created, imported.tasks.get().config["survey"]) == (True, there.pk)


def test_a_file_exported_before_surveys_were_linked_by_id_still_imports():
    survey = make_survey(name="Customer satisfaction")
    owner = make_user(username="grace")
    document = {
        "format": "sfsurveys-workflows",
        "version": 1,
        "workflows": [
            {
                "name": "Case closed",
                "salesforce_object": "Case",
                "owner": "grace",
                "tasks": [
                    {
                        "kind": "distribute_survey",
                        "config": {**DISTRIBUTE_TASK_CONFIG, "survey": "Customer satisfaction"},
                    }
                ],
            }
        ],
    }
    [(imported, _created)] = workflows_import(document=document)
    assert (imported.owner, imported.tasks.get().config["survey"]) == (owner, survey.pk)


def test_an_import_naming_a_survey_this_installation_lacks_says_so():
    survey = make_survey(name="Customer satisfaction")
    workflow = make_workflow(name="Case closed")
    make_distribute_task(workflow=workflow, survey=survey)
    document = workflows_export(names=["Case closed"])
    survey.delete()
    with pytest.raises(TransferError) as error:
        workflows_import(document=document)
    assert str(error.value).splitlines()[1:] == [
        "- Workflow 'Case closed', task 1 (distribute_survey): survey: There is no survey named "
        '"Customer satisfaction": create it, or edit the file.'
    ]


def test_an_import_naming_a_survey_two_surveys_share_says_so():
    survey = make_survey(name="Customer satisfaction")
    make_distribute_task(workflow=make_workflow(name="Case closed"), survey=survey)
    document = workflows_export(names=["Case closed"])
    make_survey(name="Customer satisfaction")
    with pytest.raises(TransferError, match='Several surveys are named "Customer satisfaction": rename all but one'):
        workflows_import(document=document)


def test_the_task_is_named_for_all_three_methods_and_keeps_the_kind_exports_name():
    kind = registry.get("distribute_survey")
    # The label is shown; the name is what workflow files hold, so files made before still import.
    assert (kind.name, kind.label) == ("distribute_survey", "XM Directory: distribute survey")


@pytest.mark.parametrize(("field", "label"), [("from_email", "From address"), ("reply_to", "Reply-To")])
@pytest.mark.parametrize("address", ["surveys at example.com", "Customer care <care@example.com>"])
def test_it_refuses_a_from_or_reply_to_address_written_out_that_is_no_address(field, label, address):
    # No sender domain made valid later could make it one: every run would fail.
    bound = form(survey=str(make_survey().pk), **{field: address})

    assert str(bound.errors[field][0]).startswith(f"{label} {address!r} is not an email address: ")


@pytest.mark.parametrize("address", ["care@example.com", "${event://Owner_Email__c}", ""])
def test_it_accepts_a_from_address_or_piped_text(address):
    bound = form(survey=str(make_survey().pk), from_email=address, reply_to=address)

    assert bound.is_valid(), bound.errors
