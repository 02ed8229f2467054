from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import WARNING, get_messages
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.utils.html import escape

from tests.factories import make_directory_task, make_distribute_task, make_survey, make_user, make_workflow
from tests.pages import table_rows, texts
from workflows.conditions import OPERATOR_HELP
from workflows.models import Condition, Task, Workflow
from workflows.services.ingest import workflow_for_token

pytestmark = pytest.mark.django_db

CASE_WSDL = Path(__file__).parent.parent / "fixtures" / "salesforce" / "Case.wsdl"
CASE_FIELDS = {"Id": "ID", "ContactEmail": "string", "IsClosed": "boolean", "Store__c": "string"}


def change_url(workflow):
    return reverse("admin:workflows_workflow_change", args=[workflow.pk])


def task_add_url(workflow, kind="add_to_directory"):
    return f"{reverse('admin:workflows_task_add')}?workflow={workflow.pk}&kind={kind}"


def workflow_post(workflow, conditions=(), **fields):
    """The change form's POST data: the workflow's fields, its conditions and empty task rows."""
    data = {
        "name": workflow.name,
        "owner": workflow.owner_id,
        "enabled": "on",
        "salesforce_object": workflow.salesforce_object,
        "allowed_organization_ids": "",
        "condition_match": "all",
        "on_task_failure": "continue",
        "conditions-TOTAL_FORMS": len(conditions),
        "conditions-INITIAL_FORMS": 0,
        "conditions-MIN_NUM_FORMS": 0,
        "conditions-MAX_NUM_FORMS": 1000,
        "tasks-TOTAL_FORMS": 0,
        "tasks-INITIAL_FORMS": 0,
        "tasks-MIN_NUM_FORMS": 0,
        "tasks-MAX_NUM_FORMS": 0,
    }
    for n, condition in enumerate(conditions):
        data.update({f"conditions-{n}-{name}": value for name, value in condition.items()})
        data[f"conditions-{n}-workflow"] = workflow.pk
    return {**data, **fields}


def directory_task_post(**fields):
    return {
        "position": 1,
        "save_mode": "embedded_data",
        "directory": "",
        "mailing_list": "Support customers",
        "first_name": "${event://Customer_First_Name__c}",
        "last_name": "${event://Customer_Last_Name__c}",
        "email": "${event://ContactEmail}",
        "phone": "",
        "external_data_reference": "",
        "language": "",
        "transaction_date": "",
        "data_fields__name": ["Store", "Priority", ""],
        "data_fields__value": ["${event://Store__c}", "High", ""],
        **fields,
    }


def wsdl_workflow(**fields):
    return make_workflow(known_fields=CASE_FIELDS, fields_from_wsdl=True, **fields)


# Workflow page


def test_it_shows_the_event_url_on_the_workflow_page(admin_client):
    workflow = make_workflow()

    response = admin_client.get(change_url(workflow))

    assert response.status_code == 200
    assert workflow.event_url in response.content.decode()


def test_it_defaults_the_owner_to_the_current_user_on_add(admin_client, admin_user):
    response = admin_client.get(reverse("admin:workflows_workflow_add"))

    assert response.context["adminform"].form.initial["owner"] == admin_user.pk


def test_it_rotates_the_token_so_the_old_url_no_longer_resolves(admin_client):
    workflow = make_workflow()
    old_token = workflow.token

    response = admin_client.post(reverse("admin:workflows_workflow_rotate_token", args=[workflow.pk]))

    workflow.refresh_from_db()
    assert response.status_code == 302
    assert workflow.token != old_token
    assert workflow_for_token(old_token) is None
    assert workflow_for_token(workflow.token) == workflow


@pytest.mark.parametrize(
    "allowed", ["00D5g000004ABCD, 00D5g000004EFGH", "00D5g000004ABC", "005g0000004ABCD", "00D5g000004ABCD-EA4"]
)
def test_it_refuses_allowed_organization_ids_that_are_not_organization_ids(admin_client, allowed):
    workflow = make_workflow()

    response = admin_client.post(change_url(workflow), workflow_post(workflow, allowed_organization_ids=allowed))

    errors = response.context["adminform"].form.errors["allowed_organization_ids"]
    assert errors[0].startswith("Not Salesforce organization ids: ")
    workflow.refresh_from_db()
    assert workflow.allowed_organization_ids == ""


def test_it_saves_allowed_organization_ids_of_15_or_18_characters_in_any_case(admin_client):
    workflow = make_workflow()
    allowed = "00D5g000004ABCD\r\n00d5g000004efgheaa\n"  # 00D5g000004efghEAA in lowercase

    response = admin_client.post(change_url(workflow), workflow_post(workflow, allowed_organization_ids=allowed))

    assert response.status_code == 302
    workflow.refresh_from_db()
    assert workflow.organization_keys() == {"00D5g000004ABCD", "00D5g000004efgh"}


@pytest.mark.parametrize(
    "allowed",
    [
        "00D5g000004ABCDEAA",  # 00D5g000004ABCDEA4 with a mistyped suffix: it names 4abcd
        "00D5g000004ABCD999",  # 9 is no suffix character
        "00D5g000004ABCDEA4\n00D5g000004ABCDEA5",
    ],
)
def test_it_refuses_an_18_character_organization_id_whose_suffix_does_not_check_it(admin_client, allowed):
    # Saved, it would read as another organization (00D5g000004abcd), whose calls are refused.
    workflow = make_workflow()

    response = admin_client.post(change_url(workflow), workflow_post(workflow, allowed_organization_ids=allowed))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["allowed_organization_ids"]
    assert errors[0].startswith(f"Mistyped organization ids: {allowed.split()[-1]}: the last 3 characters")
    workflow.refresh_from_db()
    assert workflow.allowed_organization_ids == ""


@pytest.mark.parametrize("allowed", ["00D5g000004ABCDEA4", "00D5G000004ABCDEA4", "00d5g000004abcdea4"])
def test_it_saves_an_18_character_organization_id_in_its_own_case_or_in_one_case(admin_client, allowed):
    workflow = make_workflow()

    response = admin_client.post(change_url(workflow), workflow_post(workflow, allowed_organization_ids=allowed))

    assert response.status_code == 302
    workflow.refresh_from_db()
    assert workflow.organization_keys() == {"00D5g000004ABCD"}


def test_it_asks_before_rotating_the_token(admin_client):
    workflow = make_workflow()
    old_token = workflow.token

    response = admin_client.get(reverse("admin:workflows_workflow_rotate_token", args=[workflow.pk]))

    workflow.refresh_from_db()
    assert "stops working" in response.content.decode()
    assert workflow.token == old_token


def test_it_sets_known_fields_from_an_uploaded_wsdl(admin_client):
    workflow = make_workflow(salesforce_object="Case")
    upload = SimpleUploadedFile("Case.wsdl", CASE_WSDL.read_bytes(), content_type="text/xml")

    response = admin_client.post(change_url(workflow), workflow_post(workflow, wsdl=upload))

    workflow.refresh_from_db()
    assert response.status_code == 302
    assert workflow.fields_from_wsdl
    assert workflow.known_fields["Store__c"] == "string"
    assert workflow.known_fields["IsClosed"] == "boolean"


def test_it_takes_the_wsdl_of_its_object_whatever_the_case_of_the_object_name(admin_client):
    workflow = make_workflow(salesforce_object="case")  # Salesforce API names are case-insensitive
    upload = SimpleUploadedFile("Case.wsdl", CASE_WSDL.read_bytes(), content_type="text/xml")

    response = admin_client.post(change_url(workflow), workflow_post(workflow, wsdl=upload))

    workflow.refresh_from_db()
    assert response.status_code == 302
    assert workflow.known_fields["IsClosed"] == "boolean"


def test_it_refuses_a_wsdl_for_another_object(admin_client):
    workflow = make_workflow(salesforce_object="Lead")
    upload = SimpleUploadedFile("Case.wsdl", CASE_WSDL.read_bytes(), content_type="text/xml")

    response = admin_client.post(change_url(workflow), workflow_post(workflow, wsdl=upload))

    workflow.refresh_from_db()
    assert response.status_code == 200
    assert "This WSDL describes Case records but the workflow is bound to Lead" in str(
        response.context["adminform"].form.errors["wsdl"]
    )
    assert workflow.known_fields == {}


def kept_wsdl(response):
    [kept] = texts(response.content, "//input[@name='wsdl_kept']/@value")
    return kept


def page_messages(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_it_keeps_the_wsdl_when_the_page_comes_back_with_errors(admin_client):
    workflow = make_workflow(salesforce_object="Case")
    upload = SimpleUploadedFile("Case.wsdl", CASE_WSDL.read_bytes(), content_type="text/xml")

    response = admin_client.post(change_url(workflow), workflow_post(workflow, wsdl=upload, name=""))

    assert response.status_code == 200 and "wsdl" not in response.context["adminform"].form.errors
    assert (
        "The uploaded WSDL (18 Case fields) is kept: it is saved with the page once the errors below are fixed. "
        "Choose a file only to replace it." in page_messages(response)
    )
    workflow.refresh_from_db()
    assert workflow.known_fields == {}  # nothing saved yet

    saved = admin_client.post(change_url(workflow), workflow_post(workflow, wsdl_kept=kept_wsdl(response)))

    assert saved.status_code == 302
    workflow.refresh_from_db()
    assert workflow.fields_from_wsdl and len(workflow.known_fields) == 18


def test_it_refuses_a_kept_wsdl_that_is_not_signed_by_the_site_or_is_for_another_object(admin_client):
    workflow = make_workflow(salesforce_object="Case")
    upload = SimpleUploadedFile("Case.wsdl", CASE_WSDL.read_bytes(), content_type="text/xml")
    kept = kept_wsdl(admin_client.post(change_url(workflow), workflow_post(workflow, wsdl=upload, name="")))
    forged = signing.dumps({"object": "Case", "fields": {"Anything": "string"}}, key="another-key-" * 5)

    tampered = admin_client.post(change_url(workflow), workflow_post(workflow, wsdl_kept=forged))
    other_object = admin_client.post(
        change_url(workflow), workflow_post(workflow, wsdl_kept=kept, salesforce_object="Lead")
    )

    assert tampered.context["adminform"].form.errors["wsdl"] == [
        "The WSDL uploaded earlier could not be kept: choose the file again."
    ]
    assert other_object.context["adminform"].form.errors["wsdl"] == [
        "The WSDL uploaded earlier describes Case records but the workflow is bound to Lead: upload the WSDL of "
        "this workflow's outbound message."
    ]
    assert texts(other_object.content, "//input[@name='wsdl_kept']/@value") == []  # not carried further
    workflow.refresh_from_db()
    assert (workflow.known_fields, workflow.salesforce_object) == ({}, "Case")


def test_the_admin_offers_no_view_site_link_to_a_page_that_does_not_exist(admin_client):
    response = admin_client.get("/admin/")

    assert response.context["site_url"] is None


def test_it_refuses_a_file_that_is_not_a_wsdl(admin_client):
    workflow = make_workflow()
    upload = SimpleUploadedFile("notes.wsdl", b"<definitions><oops></definitions>", content_type="text/xml")

    response = admin_client.post(change_url(workflow), workflow_post(workflow, wsdl=upload))

    assert "not well-formed XML" in str(response.context["adminform"].form.errors["wsdl"])


def known_fields_rows(admin_client, workflow):
    page = admin_client.get(change_url(workflow))
    return table_rows(page.content, '//div[contains(@class, "field-known_fields_table")]//table')


def test_it_shows_known_fields_and_where_they_came_from(admin_client):
    workflow = wsdl_workflow()

    # In the stored order, which PostgreSQL's jsonb does not keep: compared sorted.
    assert sorted(known_fields_rows(admin_client, workflow)) == sorted(
        [name, type_, "declared by the WSDL"] for name, type_ in CASE_FIELDS.items()
    )


def test_it_shows_fields_seen_in_messages_as_such(admin_client):
    workflow = make_workflow(known_fields={"Store__c": ""}, fields_from_wsdl=False)

    assert known_fields_rows(admin_client, workflow) == [["Store__c", "—", "seen in messages"]]


def test_it_hints_at_the_wsdl_when_no_fields_are_known(admin_client):
    workflow = make_workflow()

    content = admin_client.get(change_url(workflow)).content.decode()

    assert "Upload the WSDL from Salesforce" in content


def test_it_forgets_known_fields_when_the_object_changes(admin_client):
    workflow = wsdl_workflow()

    admin_client.post(change_url(workflow), workflow_post(workflow, salesforce_object="Lead"))

    workflow.refresh_from_db()
    assert workflow.known_fields == {}
    assert not workflow.fields_from_wsdl


def test_it_keeps_known_fields_when_only_the_case_of_the_object_name_changes(admin_client):
    """API names are case-insensitive: Case and case are one object, whose WSDL still holds."""
    workflow = wsdl_workflow(salesforce_object="Case")

    response = admin_client.post(change_url(workflow), workflow_post(workflow, salesforce_object="case"), follow=True)

    workflow.refresh_from_db()
    assert workflow.salesforce_object == "case"
    assert (workflow.known_fields, workflow.fields_from_wsdl) == (CASE_FIELDS, True)
    assert not any("belonged to another object" in text for text in page_messages(response))


# Conditions


def test_it_refuses_a_condition_on_a_field_the_wsdl_does_not_declare(admin_client):
    workflow = wsdl_workflow()
    condition = {"position": 1, "field": "IsClosd", "operator": "equals", "value": "true"}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 200
    assert "did you mean IsClosed?" in response.content.decode()
    assert not Condition.objects.exists()


def test_a_condition_is_checked_against_the_wsdl_uploaded_in_the_same_save_of_a_new_workflow(admin_client, admin_user):
    upload = SimpleUploadedFile("Case.wsdl", CASE_WSDL.read_bytes(), content_type="text/xml")
    condition = {"position": 1, "field": "Stage", "operator": "equals", "value": "x"}
    new = Workflow(name="Case closed", owner=admin_user, salesforce_object="Case")
    data = {name: value for name, value in workflow_post(new, conditions=[condition]).items() if value is not None}

    response = admin_client.post(reverse("admin:workflows_workflow_add"), {**data, "wsdl": upload})

    assert response.status_code == 200
    [errors] = [form.errors for form in response.context["inline_admin_formsets"][0].formset.forms]
    assert errors["field"][0].startswith("Stage is not a field of the workflow's uploaded WSDL; ")
    assert not Workflow.objects.exists() and not Condition.objects.exists()
    # Nothing is lost: the condition as typed, and the WSDL, kept for the next save.
    assert texts(response.content, "//input[@name='conditions-0-field']/@value") == ["Stage"]
    assert "The uploaded WSDL (18 Case fields) is kept" in page_messages(response)[0]

    fixed = {**data, "conditions-0-field": "Status", "wsdl_kept": kept_wsdl(response)}
    saved = admin_client.post(reverse("admin:workflows_workflow_add"), fixed)

    assert saved.status_code == 302
    workflow = Workflow.objects.get()
    assert workflow.fields_from_wsdl and len(workflow.known_fields) == 18
    assert list(workflow.conditions.values_list("field", "value")) == [("Status", "x")]
    assert "The WSDL declares 18 Case fields; piped text and conditions are now checked against them." in (
        page_messages(saved)
    )


def test_a_condition_is_checked_against_the_wsdl_uploaded_in_the_same_save_of_a_workflow(admin_client):
    workflow = make_workflow(salesforce_object="Case")  # no WSDL yet: any field goes
    upload = SimpleUploadedFile("Case.wsdl", CASE_WSDL.read_bytes(), content_type="text/xml")
    conditions = [
        {"position": 1, "field": "Stage", "operator": "equals", "value": "x"},
        {"position": 2, "field": "Store__c", "operator": "equals", "value": "${event://Shop__c}"},
    ]

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=conditions, wsdl=upload))

    assert response.status_code == 200
    stage, store = [form.errors for form in response.context["inline_admin_formsets"][0].formset.forms]
    assert stage["field"][0].startswith("Stage is not a field of the workflow's uploaded WSDL; ")
    assert "Shop__c" in store["value"][0]
    workflow.refresh_from_db()
    assert workflow.known_fields == {} and not Condition.objects.exists()
    assert kept_wsdl(response)


def test_a_condition_on_a_field_only_the_new_wsdl_declares_saves_with_it(admin_client):
    workflow = wsdl_workflow()  # declares 4 fields, not Priority
    upload = SimpleUploadedFile("Case.wsdl", CASE_WSDL.read_bytes(), content_type="text/xml")
    condition = {"position": 1, "field": "Priority", "operator": "equals", "value": "High"}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition], wsdl=upload))

    assert response.status_code == 302
    assert Condition.objects.get().field == "Priority"
    workflow.refresh_from_db()
    assert len(workflow.known_fields) == 18


def test_a_condition_saved_with_a_new_object_is_not_checked_against_the_old_objects_fields(admin_client):
    workflow = wsdl_workflow()  # Case fields
    condition = {"position": 1, "field": "LeadSource", "operator": "equals", "value": "Web"}

    response = admin_client.post(
        change_url(workflow), workflow_post(workflow, conditions=[condition], salesforce_object="Lead")
    )

    assert response.status_code == 302
    assert Condition.objects.get().field == "LeadSource"
    workflow.refresh_from_db()
    assert (workflow.known_fields, workflow.fields_from_wsdl) == ({}, False)
    assert any("The known fields belonged to another object" in text for text in page_messages(response))


def test_it_saves_a_condition_on_a_field_the_wsdl_declares(admin_client):
    workflow = wsdl_workflow()
    condition = {"position": 1, "field": "IsClosed", "operator": "equals", "value": "true"}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 302
    assert Condition.objects.get().field == "IsClosed"


def test_it_refuses_unknown_piped_fields_in_a_condition_value(admin_client):
    workflow = wsdl_workflow()
    condition = {"position": 1, "field": "Store__c", "operator": "equals", "value": "${event://Nope}"}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert "${event://Nope} is not a field" in response.content.decode()
    assert not Condition.objects.exists()


def test_it_refuses_contact_piped_text_in_a_condition_value(admin_client):
    workflow = make_workflow()
    condition = {"position": 1, "field": "Store__c", "operator": "equals", "value": "${m://Email}"}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert "${m://Email} cannot be used here" in response.content.decode()


def test_it_saves_an_includes_condition_on_a_multi_select_picklist(admin_client):
    workflow = make_workflow()
    condition = {"position": 1, "field": "Channels__c", "operator": "includes", "value": "Chat"}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert response.status_code == 302
    assert Condition.objects.get().operator == "includes"


def test_it_refuses_includes_without_a_picklist_value(admin_client):
    workflow = make_workflow()
    condition = {"position": 1, "field": "Channels__c", "operator": "includes", "value": ""}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert "Write the picklist value to look for" in response.content.decode()
    assert not Condition.objects.exists()


def test_it_refuses_greater_than_a_value_that_is_neither_a_number_nor_a_date(admin_client):
    workflow = make_workflow()
    condition = {"position": 1, "field": "Amount", "operator": "greater_than", "value": "ten"}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert "Is greater than compares numbers, dates or times" in response.content.decode()
    assert not Condition.objects.exists()


def test_it_refuses_a_value_the_wsdl_type_of_the_field_cannot_hold(admin_client):
    workflow = wsdl_workflow()
    condition = {"position": 1, "field": "IsClosed", "operator": "equals", "value": "yes"}

    response = admin_client.post(change_url(workflow), workflow_post(workflow, conditions=[condition]))

    assert "The WSDL declares this field as xsd:boolean: write true or false." in response.content.decode()
    assert not Condition.objects.exists()


def test_it_explains_the_operators_under_the_conditions(admin_client):
    content = admin_client.get(change_url(make_workflow())).content.decode()

    assert f'<p class="help">Operators: {escape(OPERATOR_HELP)}</p>' in content


# Tasks


def test_it_offers_adding_each_task_kind_from_the_workflow_page(admin_client):
    workflow = make_workflow()

    content = admin_client.get(change_url(workflow)).content

    assert "add_to_directory" in texts(content, "//button[@name='_addtask']/@value")


def test_it_summarises_tasks_on_the_workflow_page(admin_client):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, mailing_list="VIP customers")

    content = admin_client.get(change_url(workflow)).content.decode()

    assert "Mailing list: VIP customers" in content


def test_it_summarises_a_task_whose_survey_was_deleted_as_such(admin_client):
    workflow = make_workflow()
    survey = make_survey(name="Customer satisfaction", owner=workflow.owner)
    make_distribute_task(workflow=workflow, survey=survey)
    survey_id = survey.pk
    survey.delete()

    content = admin_client.get(change_url(workflow)).content.decode()

    assert f"Survey: {survey_id} (no longer exists: choose another)" in content


def test_it_saves_an_add_to_directory_task_from_the_add_form(admin_client):
    workflow = make_workflow()

    response = admin_client.post(task_add_url(workflow), directory_task_post())

    task = Task.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change_url(workflow)
    assert (task.workflow, task.kind) == (workflow, "add_to_directory")
    assert task.config["email"] == "${event://ContactEmail}"
    assert task.config["data_fields"] == [["Store", "${event://Store__c}"], ["Priority", "High"]]


def test_it_asks_for_the_kind_when_the_add_link_has_none(admin_client):
    workflow = make_workflow()

    response = admin_client.get(f"{reverse('admin:workflows_task_add')}?workflow={workflow.pk}")

    assert 'name="kind"' in response.content.decode()
    assert not Task.objects.exists()


def test_it_rejects_an_unknown_event_field_in_a_task_when_fields_come_from_a_wsdl(admin_client):
    workflow = wsdl_workflow()

    response = admin_client.post(task_add_url(workflow), directory_task_post(email="${event://Nope}"))

    assert response.status_code == 200
    assert "${event://Nope} is not a field" in str(response.context["adminform"].form.errors["email"])
    assert not Task.objects.exists()


def test_it_rejects_an_unknown_event_field_in_an_embedded_data_row(admin_client):
    workflow = wsdl_workflow()
    data = directory_task_post(data_fields__name=["Store"], data_fields__value=["${event://Nope}"])

    response = admin_client.post(task_add_url(workflow), data)

    assert "${event://Nope}" in str(response.context["adminform"].form.errors["data_fields"])


def test_it_rejects_piping_the_output_of_a_task_that_has_not_run_yet(admin_client):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    data = directory_task_post(position=2, external_data_reference="${task://2/ContactId}")

    response = admin_client.post(task_add_url(workflow), data)

    errors = str(response.context["adminform"].form.errors["external_data_reference"])
    assert "this task runs as task 2" in errors


@pytest.mark.parametrize("position", ["²", "٢", "9" * 5000])
def test_it_rejects_a_task_position_in_piped_text_that_is_not_plain_digits(admin_client, position):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    token = f"${{task://{position}/ContactId}}"
    data = directory_task_post(position=2, data_fields__name=["First"], data_fields__value=[token])

    response = admin_client.post(task_add_url(workflow), data)

    [error] = response.context["adminform"].form.errors["data_fields"]
    assert error.endswith(
        "must be written ${task://<n>/<Output>} with n the task's position (1 for the first task), "
        "e.g. ${task://1/ContactId}"
    )
    assert Task.objects.count() == 1


@pytest.mark.parametrize("workflow_id", ["²", "9" * 5000])
def test_it_offers_to_choose_the_workflow_when_the_add_link_names_none_by_its_id(admin_client, workflow_id):
    make_workflow()

    response = admin_client.get(f"{reverse('admin:workflows_task_add')}?workflow={workflow_id}&kind=add_to_directory")

    assert response.templates[0].name == "admin/workflows/task/choose_kind.html"


def test_it_accepts_piping_the_output_of_an_earlier_task(admin_client):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    data = directory_task_post(position=2, external_data_reference="${task://1/ContactId}")

    admin_client.post(task_add_url(workflow), data)

    assert Task.objects.get(position=2).config["external_data_reference"] == "${task://1/ContactId}"


def test_it_shows_a_task_config_on_its_change_form(admin_client):
    task = make_directory_task(workflow=make_workflow(), mailing_list="VIP customers")

    response = admin_client.get(reverse("admin:workflows_task_change", args=[task.pk]))

    form = response.context_data["adminform"].form
    assert {name: form[name].value() for name in ("mailing_list", "email", "save_mode", "data_fields")} == {
        "mailing_list": "VIP customers",
        "email": "${event://ContactEmail}",
        "save_mode": "embedded_data",
        "data_fields": [["Priority", "${event://Priority}"]],
    }


def test_it_shows_what_later_tasks_can_pipe_from_a_task(admin_client):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)
    task = make_directory_task(workflow=workflow, position=2)

    page = admin_client.get(reverse("admin:workflows_task_change", args=[task.pk]))

    assert texts(page.content, '//div[contains(@class, "field-outputs_help")]//div[@class="readonly"]') == [
        "Later tasks can pipe ${task://2/ContactId}, ${task://2/MailingListId}, ${task://2/TransactionId}, "
        "${task://2/ContactAction} (this task runs as task 2)."
    ]


def test_it_keeps_tasks_off_the_admin_index(admin_client):
    content = admin_client.get(reverse("admin:index")).content.decode()

    assert reverse("admin:workflows_workflow_changelist") in content
    assert reverse("admin:workflows_task_changelist") not in content


def test_it_warns_when_event_urls_point_elsewhere_than_the_admin(admin_client, settings):
    workflow = make_workflow()
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    page = admin_client.get(f"/admin/workflows/workflow/{workflow.pk}/change/").content.decode()
    assert "set PUBLIC_BASE_URL" in page
    settings.PUBLIC_BASE_URL = "http://testserver"
    page = admin_client.get(f"/admin/workflows/workflow/{workflow.pk}/change/").content.decode()
    assert "set PUBLIC_BASE_URL" not in page


def warnings_on(admin_client, workflow) -> list[str]:
    """The warnings of the workflow page, served where its event URLs point."""
    with override_settings(PUBLIC_BASE_URL="http://testserver"):
        response = admin_client.get(change_url(workflow))
    return [str(message) for message in get_messages(response.wsgi_request) if message.level == WARNING]


def test_it_warns_when_nobody_is_told_of_failed_tasks(admin_client):
    workflow = make_workflow(owner=make_user(username="grace", email=""))
    assert warnings_on(admin_client, workflow) == [
        "Nobody is told when this workflow's tasks fail: its owner grace has no email address and it has no "
        "failure recipients. Add failure recipients below, or give grace an email address under "
        "Authentication → Users."
    ]


def test_it_tells_nobody_refused_the_page_that_nobody_is_told_of_failed_tasks(client):
    """The warning names the owner and what the workflow lacks: a user who may not open the page
    must not find it on the refusal page, or on the next page they open."""
    workflow = make_workflow(owner=make_user(username="grace", email=""))
    runs_viewer = make_user()
    runs_viewer.user_permissions.add(Permission.objects.get(content_type__app_label="workflows", codename="view_run"))
    client.force_login(runs_viewer)

    refused = client.get(change_url(workflow))
    following = client.get(reverse("admin:workflows_run_changelist"))

    assert refused.status_code == 403
    assert "grace" not in refused.content.decode()
    assert "grace" not in following.content.decode()


@pytest.mark.parametrize(("owner_email", "failure_recipients"), [("grace@example.com", ""), ("", "ops@example.com")])
def test_it_does_not_warn_when_someone_is_told_of_failed_tasks(admin_client, owner_email, failure_recipients):
    workflow = make_workflow(owner=make_user(email=owner_email), failure_recipients=failure_recipients)
    assert warnings_on(admin_client, workflow) == []


def test_a_wsdl_uploaded_without_the_object_name_is_kept_or_asked_for_again(admin_client):
    """The object's API name left out in the same save as the upload: the page comes back with that
    error, and the browser empties the file field. The WSDL must be kept (as the page then says) or
    the page must ask for it again, not be dropped without a word, so the next save makes the
    workflow without the fields the admin believes they uploaded."""
    workflow = make_workflow(salesforce_object="Case")
    upload = SimpleUploadedFile("Case.wsdl", CASE_WSDL.read_bytes(), content_type="text/xml")

    response = admin_client.post(change_url(workflow), workflow_post(workflow, wsdl=upload, salesforce_object=""))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "salesforce_object" in form.errors
    kept = texts(response.content, "//input[@name='wsdl_kept']/@value")
    assert (kept and kept[0]) or "wsdl" in form.errors
