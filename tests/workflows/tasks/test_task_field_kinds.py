"""Task fields that the admin's form refuses because every run would fail with them: an email
written out that is no address, or a field piped whose declared type (in the workflow's WSDL)
can never give what the task field needs (an id as the email, a checkbox as the date)."""

import pytest
from django.urls import reverse

from tests.factories import make_survey, make_workflow
from tests.workflows.test_admin import directory_task_post, task_add_url
from workflows.models import Task
from workflows.services.transfer import FORMAT, VERSION, TransferError, workflows_import

pytestmark = pytest.mark.django_db

CASE_FIELDS = {
    "Id": "ID",
    "ContactEmail": "string",
    "ContactId": "ID",
    "ContactMobile": "string",
    "IsClosed": "boolean",
    "ClosedDate": "dateTime",
    "Due__c": "date",
    "Score__c": "double",
    "Store__c": "string",
    "Customer_First_Name__c": "string",
    "Customer_Last_Name__c": "string",
}


def wsdl_workflow():
    return make_workflow(known_fields=CASE_FIELDS, fields_from_wsdl=True)


def form_errors(response):
    assert response.status_code == 200, "the task was saved"
    return response.context["adminform"].form.errors


@pytest.mark.parametrize("email", ["ada", "ada@", "Ada Lovelace", "ada@example..com"])
def test_it_refuses_an_email_written_out_that_is_no_address(admin_client, email):
    workflow = make_workflow()

    response = admin_client.post(task_add_url(workflow), directory_task_post(email=email))

    assert str(form_errors(response)["email"][0]).startswith(f"{email!r} is not an email address: ")
    assert not Task.objects.exists()


@pytest.mark.parametrize("email", ["ada@example.com", " ada@example.com ", "${event://ContactEmail}", "${event://X}"])
def test_it_accepts_an_address_or_piped_text_as_the_email(admin_client, email):
    workflow = make_workflow()  # no WSDL: any field may be piped

    response = admin_client.post(task_add_url(workflow), directory_task_post(email=email))

    assert response.status_code == 302
    assert Task.objects.get().config["email"] == email.strip()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("email", "${event://ContactId}", "Email: ${event://ContactId} is a Salesforce id field (xsd:ID in the WSDL)"),
        ("email", " ${event://IsClosed} ", "Email: ${event://IsClosed} is a true/false field (xsd:boolean"),
        ("phone", "${event://ClosedDate}", "Phone: ${event://ClosedDate} is a date and time field (xsd:dateTime"),
        ("transaction_date", "${event://IsClosed}", "Transaction date: ${event://IsClosed} is a true/false field"),
        ("transaction_date", "${event://Score__c}", "Transaction date: ${event://Score__c} is a number field"),
    ],
)
def test_it_refuses_piping_a_field_the_wsdl_declares_of_a_type_that_never_fits(admin_client, field, value, error):
    workflow = wsdl_workflow()
    data = directory_task_post(save_mode="transaction", **{field: value})

    response = admin_client.post(task_add_url(workflow), data)

    assert str(form_errors(response)[field][0]).startswith(error)
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "${event://ContactEmail}"),
        ("email", "${event://Store__c}@example.com"),  # text around the token: known at run time only
        ("phone", "${event://ContactMobile}"),
        ("phone", "${event://Score__c}"),  # a number field may hold the digits
        ("transaction_date", "${event://ClosedDate}"),
        ("transaction_date", "${event://Due__c}"),
        ("transaction_date", "${event://Store__c}"),  # a text field may hold a date
        ("transaction_date", "${date://today}"),
    ],
)
def test_it_accepts_piping_a_field_that_may_fit(admin_client, field, value):
    workflow = wsdl_workflow()
    data = directory_task_post(save_mode="transaction", **{field: value})

    response = admin_client.post(task_add_url(workflow), data)

    assert response.status_code == 302
    assert Task.objects.get().config[field] == value


def test_it_refuses_a_from_address_piped_from_an_id_field(admin_client):
    workflow = wsdl_workflow()
    survey = make_survey(owner=workflow.owner)
    data = {
        **directory_task_post(),
        "survey": str(survey.pk),
        "method": "email",
        "from_email": "${event://ContactId}",
        "from_name": "",
        "reply_to": "${event://IsClosed}",
        "subject": "How did we do?",
        "html_body": "<p>${l://SurveyLink?d=Take the survey}</p>",
        "text_body": "",
        "sms_text": "",
        "link_expiration_days": "",
        "send_delay": "0",
        "send_delay_unit": "minutes",
    }

    response = admin_client.post(task_add_url(workflow, "distribute_survey"), data)

    errors = form_errors(response)
    assert str(errors["from_email"][0]).startswith("From address: ${event://ContactId} is a Salesforce id field")
    assert str(errors["reply_to"][0]).startswith("Reply-To: ${event://IsClosed} is a true/false field")


def test_the_workflow_import_refuses_what_the_form_refuses(admin_user):
    entry = {
        "name": "Imported",
        "salesforce_object": "Case",
        "known_fields": CASE_FIELDS,
        "fields_from_wsdl": True,
        "tasks": [
            {
                "kind": "add_to_directory",
                "config": {
                    "save_mode": "embedded_data",
                    "mailing_list": "Support customers",
                    "first_name": "${event://Customer_First_Name__c}",
                    "last_name": "${event://Customer_Last_Name__c}",
                    "email": "${event://ContactId}",
                },
            }
        ],
    }

    with pytest.raises(TransferError) as raised:
        document = {"format": FORMAT, "version": VERSION, "workflows": [entry]}
        workflows_import(document=document, default_owner=admin_user)

    assert "${event://ContactId} is a Salesforce id field" in str(raised.value)


def test_the_task_page_of_a_workflow_without_a_wsdl_takes_any_piped_field(admin_client):
    workflow = make_workflow(known_fields={"ContactId": ""}, fields_from_wsdl=False)

    response = admin_client.post(task_add_url(workflow), directory_task_post(email="${event://ContactId}"))

    assert response.status_code == 302
    assert reverse("admin:workflows_workflow_change", args=[workflow.pk]) == response["Location"]


def test_it_refuses_embedded_data_names_of_one_task_that_differ_only_by_case(admin_client):
    workflow = make_workflow()
    data = directory_task_post(
        data_fields__name=["Store", "Priority", "store"],
        data_fields__value=["${event://Store__c}", "High", "${event://Origin}"],
    )

    response = admin_client.post(task_add_url(workflow), data)

    assert form_errors(response)["data_fields"] == [
        "Store and store differ only by case: each would be saved as its own field, and a survey reads only the "
        "spelling it declares. Keep one row."
    ]
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        (
            "language",
            "English (United Kingdom)",
            "Language is 24 characters long; a contact's language holds at most 16.",
        ),
        ("first_name", "A" * 201, "First name is 201 characters long; a contact's first name holds at most 200."),
    ],
)
def test_it_refuses_a_value_written_out_longer_than_the_contact_holds(admin_client, field, value, error):
    workflow = make_workflow()

    response = admin_client.post(task_add_url(workflow), directory_task_post(**{field: value}))

    assert form_errors(response)[field] == [error]


def test_it_leaves_the_length_of_piped_text_to_the_run(admin_client):
    workflow = make_workflow()
    language = "${event://A_Language_Field_With_A_Long_Name__c}"

    response = admin_client.post(task_add_url(workflow), directory_task_post(language=language))

    assert response.status_code == 302
