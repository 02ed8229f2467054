"""Every admin form that takes piped text refuses a token look-alike with the corrected token:
task fields and name/value rows, condition values, the email subject and bodies, and survey texts."""

import pytest
from django.urls import reverse

from distributions.models import Survey
from tests.distributions.test_admin import inline_management
from tests.distributions.test_distribute_form import task_post as distribute_task_post
from tests.factories import make_survey, make_user, make_workflow
from tests.pages import texts
from tests.workflows.test_admin import directory_task_post, workflow_post
from workflows.models import Condition, Task

pytestmark = pytest.mark.django_db

LOOK_ALIKE = "{event://Customer_First_Name__c}"
ERROR = "{event://Customer_First_Name__c} is not piped text as written: write ${event://Customer_First_Name__c}"


def field_errors(response, name):
    """The errors shown by the field `name` of the page's form (a field row's error list)."""
    return texts(response.content, f"//div[contains(@class, 'field-{name}')]//ul[@class='errorlist']/li")


def task_add_url(workflow, kind):
    return f"{reverse('admin:workflows_task_add')}?workflow={workflow.pk}&kind={kind}"


@pytest.mark.parametrize("field", ["first_name", "email", "external_data_reference", "transaction_date"])
def test_a_directory_task_field(admin_client, field):
    workflow = make_workflow()

    response = admin_client.post(
        task_add_url(workflow, "add_to_directory"), directory_task_post(**{field: f"Dear {LOOK_ALIKE}"})
    )

    assert response.status_code == 200
    assert field_errors(response, field) == [ERROR]
    assert not Task.objects.exists()


def test_a_value_of_the_name_value_rows(admin_client):
    workflow = make_workflow()
    post = directory_task_post(data_fields__name=["Store"], data_fields__value=["$ {event://Store__c}"])

    response = admin_client.post(task_add_url(workflow, "add_to_directory"), post)

    assert field_errors(response, "data_fields") == [
        "$ {event://Store__c} is not piped text as written: write ${event://Store__c}"
    ]
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        (
            "subject",
            "Case ${event:/CaseNumber}",
            "${event:/CaseNumber} is not piped text as written: write ${event://CaseNumber}",
        ),
        (
            "html_body",
            "<p>{l://SurveyLink?d=Take the survey}</p>",
            "{l://SurveyLink?d=Take the survey} is not piped text as written: "
            "write ${l://SurveyLink?d=Take the survey}",
        ),
        ("text_body", "Hi ${m://firstname}", "${m://firstname} is not a contact field: write ${m://FirstName}"),
    ],
)
def test_the_email_subject_and_bodies(admin_client, field, value, error):
    survey = make_survey(status=Survey.Status.ACTIVE)
    workflow = make_workflow()

    response = admin_client.post(
        task_add_url(workflow, "distribute_survey"), distribute_task_post(survey=str(survey.pk), **{field: value})
    )

    assert error in field_errors(response, field)
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("{date://today}", "{date://today} is not piped text as written: write ${date://today}"),
        ("${event//ClosedDate}", "${event//ClosedDate} is not piped text as written: write ${event://ClosedDate}"),
        ("${event://ClosedDate", "${event://ClosedDate is missing its closing }: write ${event://ClosedDate}"),
    ],
)
def test_a_condition_value(admin_client, value, error):
    workflow = make_workflow()
    post = workflow_post(
        workflow, conditions=[{"position": 1, "field": "ClosedDate", "operator": "equals", "value": value}]
    )

    response = admin_client.post(reverse("admin:workflows_workflow_change", args=[workflow.pk]), post)

    assert response.status_code == 200
    assert texts(response.content, "//td[contains(@class, 'field-value')]//ul[@class='errorlist']/li") == [error]
    assert not Condition.objects.exists()


def test_a_known_field_written_in_the_wrong_case_names_the_field(admin_client):
    workflow = make_workflow(known_fields={"ContactEmail": "string"}, fields_from_wsdl=True)

    response = admin_client.post(
        task_add_url(workflow, "add_to_directory"),
        directory_task_post(
            email="${event://contactemail}", first_name="x", last_name="y", data_fields__name=[], data_fields__value=[]
        ),
    )

    assert field_errors(response, "email") == [
        "${event://contactemail} is not a field of this workflow's Salesforce object: write ${event://ContactEmail}"
    ]


def survey_post(**fields):
    return {
        "name": "Store visit",
        "public_title": "",
        "owner": make_user().pk,
        "introduction": "",
        "thank_you": "Thanks!",
        **inline_management("questions", 1),
        "questions-0-position": 1,
        "questions-0-kind": "text",
        "questions-0-text": "How was it?",
        **inline_management("fields", 0),
        **inline_management("collaborators", 0),
        **fields,
    }


@pytest.mark.parametrize("field", ["introduction", "thank_you"])
def test_the_survey_introduction_and_thank_you(admin_client, field):
    response = admin_client.post(
        reverse("admin:distributions_survey_add"), survey_post(**{field: "Hi {m://FirstName}!"})
    )

    assert response.status_code == 200
    assert field_errors(response, field) == ["{m://FirstName} is not piped text as written: write ${m://FirstName}"]
    assert not Survey.objects.exists()


def test_a_question_text(admin_client):
    post = survey_post(**{"questions-0-text": "How was {e://Field/Store}?"})

    response = admin_client.post(reverse("admin:distributions_survey_add"), post)

    assert texts(response.content, "//td[contains(@class, 'field-text')]//ul[@class='errorlist']/li") == [
        "{e://Field/Store} is not piped text as written: write ${e://Field/Store}"
    ]
    assert not Survey.objects.exists()


def test_survey_texts_refuse_what_the_survey_page_cannot_fill(admin_client):
    response = admin_client.post(
        reverse("admin:distributions_survey_add"), survey_post(introduction="Case ${event://CaseNumber}")
    )

    assert field_errors(response, "introduction") == ["${event://CaseNumber} cannot be used here: use m, e, l or date"]


def test_survey_texts_with_piped_text_written_right_are_saved(admin_client):
    post = survey_post(introduction="Hi ${m://FirstName}", **{"questions-0-text": "How was ${e://Field/Store}?"})

    response = admin_client.post(reverse("admin:distributions_survey_add"), post)

    assert response.status_code == 302
    assert Survey.objects.get().introduction == "Hi ${m://FirstName}"
