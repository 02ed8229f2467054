"""A condition whose value pipes a field that the WSDL declares of a type the operator can never
compare with the condition's field (a date greater than a checkbox, a number equal to an id):
refused in the admin and on import, as a literal value of the wrong kind is."""

import pytest

from tests.factories import make_workflow
from tests.workflows.test_admin import change_url, workflow_post
from workflows.conditions import Operator, piped_value_error
from workflows.models import Condition
from workflows.services.transfer import FORMAT, VERSION, TransferError, workflows_import

FIELDS = {
    "Id": "ID",
    "ClosedDate": "dateTime",
    "CreatedDate": "dateTime",
    "Due__c": "date",
    "IsClosed": "boolean",
    "Score__c": "double",
    "Employees__c": "int",
    "Subject": "string",
    "AccountId": "ID",
    "Seen__c": "",
}


@pytest.mark.parametrize(
    ("operator", "field_type", "value_type", "wanted"),
    [
        (Operator.GREATER_THAN, "dateTime", "boolean", "pipe a date field"),
        (Operator.LESS_THAN, "double", "dateTime", "pipe a number field"),
        (Operator.GREATER_THAN, "string", "ID", "pipe a number, date or time field"),
        (Operator.GREATER_THAN, "", "boolean", "pipe a number, date or time field"),
        (Operator.EQUALS, "double", "boolean", "pipe a number field"),
        (Operator.NOT_EQUALS, "boolean", "ID", "pipe a true/false field"),
        (Operator.EQUALS_IGNORING_CASE, "ID", "date", "pipe a Salesforce id field"),
    ],
)
def test_it_says_why_a_piped_field_can_never_be_compared(operator, field_type, value_type, wanted):
    error = piped_value_error(operator, field_type=field_type, value_type=value_type)
    assert error is not None
    assert f"value (xsd:{value_type}): {wanted}, or write the value." in error


@pytest.mark.parametrize(
    ("operator", "field_type", "value_type"),
    [
        (Operator.GREATER_THAN, "dateTime", "date"),  # a date and a date and time compare by day
        (Operator.GREATER_THAN, "double", "int"),
        (Operator.GREATER_THAN, "string", "double"),  # a text field may hold numbers
        (Operator.GREATER_THAN, "dateTime", "string"),  # a text field may hold a date
        (Operator.GREATER_THAN, "dateTime", ""),
        (Operator.EQUALS, "string", "boolean"),  # text compares as written
        (Operator.EQUALS, "", "double"),
        (Operator.EQUALS, "ID", "ID"),
        (Operator.CONTAINS, "double", "boolean"),
        (Operator.IS_EMPTY, "double", "boolean"),
    ],
)
def test_it_lets_a_piped_field_be_compared_when_it_can(operator, field_type, value_type):
    assert piped_value_error(operator, field_type=field_type, value_type=value_type) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "operator", "value"),
    [
        ("ClosedDate", "greater_than", "${event://IsClosed}"),
        ("Score__c", "equals", "${event://AccountId}"),
        ("Subject", "less_than", " ${event://IsClosed} "),
    ],
)
def test_the_admin_refuses_a_condition_piping_a_field_it_can_never_compare(admin_client, field, operator, value):
    workflow = make_workflow(known_fields=FIELDS, fields_from_wsdl=True)
    condition = {"position": 1, "field": field, "operator": operator, "value": value}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 200
    assert "can never compare this field with a" in response.content.decode()
    assert not Condition.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "operator", "value"),
    [
        ("ClosedDate", "greater_than", "${event://CreatedDate}"),
        ("ClosedDate", "less_than", "${event://Due__c}"),
        ("Score__c", "greater_than", "${event://Employees__c}"),
        ("Score__c", "equals", "${event://Seen__c}"),
        ("ClosedDate", "greater_than", "${date://today}"),
        ("Subject", "equals", "${event://IsClosed}"),
    ],
)
def test_the_admin_saves_a_condition_piping_a_field_it_can_compare(admin_client, field, operator, value):
    workflow = make_workflow(known_fields=FIELDS, fields_from_wsdl=True)
    condition = {"position": 1, "field": field, "operator": operator, "value": value}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 302
    assert Condition.objects.get().value == value


@pytest.mark.django_db
def test_the_admin_compares_any_piped_field_without_a_wsdl(admin_client):
    workflow = make_workflow(known_fields=FIELDS, fields_from_wsdl=False)
    condition = {"position": 1, "field": "ClosedDate", "operator": "greater_than", "value": "${event://IsClosed}"}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 302


@pytest.mark.django_db
def test_the_import_refuses_a_condition_piping_a_field_it_can_never_compare(admin_user):
    entry = {
        "name": "Imported",
        "salesforce_object": "Case",
        "known_fields": FIELDS,
        "fields_from_wsdl": True,
        "conditions": [{"field": "ClosedDate", "operator": "greater_than", "value": "${event://IsClosed}"}],
    }

    with pytest.raises(TransferError) as raised:
        document = {"format": FORMAT, "version": VERSION, "workflows": [entry]}
        workflows_import(document=document, default_owner=admin_user)

    assert "condition 1: Is greater than can never compare this field with a true/false value" in str(raised.value)


@pytest.mark.django_db
def test_the_admin_refuses_contains_with_nothing_to_look_for(admin_client):
    workflow = make_workflow()
    condition = {"position": 1, "field": "Subject", "operator": "contains", "value": ""}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 200
    assert "every value contains empty text, so this would always pass" in response.content.decode()
    assert not Condition.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "error"),
    [
        ("Is Closed", "Is Closed is not a Salesforce field API name: write the API name"),
        ("Account.Region__c!", "Account.Region__c! is not a Salesforce field API name"),
        ("_OrganizationId", "_OrganizationId is the message's metadata, not a field of the record"),
    ],
)
def test_the_admin_refuses_a_condition_field_no_salesforce_field_can_be_without_a_wsdl(admin_client, field, error):
    # Without a WSDL any field may be compared, but such a field would never have a value.
    workflow = make_workflow()
    condition = {"position": 1, "field": field, "operator": "equals", "value": "x"}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 200
    assert error in response.content.decode().replace("&#x27;", "'")
    assert not Condition.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["IsClosed", "npe01__Region__c", "MailingAddress.city"])
def test_the_admin_takes_any_api_name_as_a_condition_field_without_a_wsdl(admin_client, field):
    workflow = make_workflow()
    condition = {"position": 1, "field": field, "operator": "is_not_empty", "value": ""}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "operator", "value", "error"),
    [
        ("IsClosed", "equals", "${date://today}", "can never compare this field with a date value (xsd:date)"),
        ("Score__c", "greater_than", "${date://now}", "with a date and time value (xsd:dateTime)"),
        ("IsClosed", "greater_than", "${event://Subject} days", "The WSDL declares this field as xsd:boolean"),
    ],
)
def test_the_admin_refuses_piped_dates_and_text_a_field_can_never_be_compared_with(
    admin_client, field, operator, value, error
):
    workflow = make_workflow(known_fields=FIELDS, fields_from_wsdl=True)
    condition = {"position": 1, "field": field, "operator": operator, "value": value}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 200
    assert error in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["${date://today}", "${date://now}"])
def test_the_admin_saves_a_date_field_compared_with_a_piped_date(admin_client, value):
    workflow = make_workflow(known_fields=FIELDS, fields_from_wsdl=True)
    condition = {"position": 1, "field": "ClosedDate", "operator": "less_than", "value": value}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 302


@pytest.mark.django_db
def test_the_admin_refuses_a_condition_on_a_component_the_address_has_not(admin_client):
    workflow = make_workflow(known_fields={**FIELDS, "MailingAddress": "address"}, fields_from_wsdl=True)
    rows = [
        {"position": 1, "field": "MailingAddress.cty", "operator": "equals", "value": "Rome"},
        {"position": 2, "field": "MailingAddress.city", "operator": "equals", "value": "Rome"},
    ]

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=rows))

    assert "MailingAddress.cty is not a field: MailingAddress is a compound field (xsd:address in the WSDL), " in (
        response.content.decode()
    )
    assert not Condition.objects.exists()
