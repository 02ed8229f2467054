"""The piped-text menu's groups (workflows.piping_menu) and its data on admin pages (workflows.admin.piping)."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.factories import make_contact, make_directory_task, make_user, make_workflow
from tests.pages import texts
from workflows.piping import tokens, validate
from workflows.piping_menu import piped_text_menu
from workflows.tasks.forms import PipedTextarea, PipedTextInput

pytestmark = pytest.mark.django_db

CASE_FIELDS = {"Id": "ID", "ContactEmail": "string", "IsClosed": "boolean", "ClosedDate": "dateTime"}


def group(menu, label):
    return next(group for group in menu if group["label"] == label)


def tokens_of(menu, label):
    return [item["token"] for item in group(menu, label)["items"]]


def menu_data(response):
    scripts = texts(response.content, "//script[@id='piped-text-menu']")
    return json.loads(scripts[0]) if scripts else None


def attribute(response, xpath):
    """The data-piped-text attribute of the element at `xpath`; None when it has none."""
    found = texts(response.content, f"{xpath}/@data-piped-text")
    return found[0] if found else None


def user_with(*permissions):
    user = make_user()
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def test_it_groups_the_tokens_as_the_reference_platform_does():
    workflow = make_workflow(known_fields=CASE_FIELDS, fields_from_wsdl=True)

    menu = piped_text_menu(workflow=workflow)

    assert [(g["label"], g["scheme"]) for g in menu] == [
        ("Event: Case fields", "event"),
        ("Event metadata", "event"),
        ("Contact info", "m"),
        ("Embedded data", "e"),
        ("Task outputs", "task"),
        ("Survey links", "l"),
        ("Date / time", "date"),
    ]


def test_every_token_of_the_menu_is_valid_piped_text():
    workflow = make_workflow(known_fields=CASE_FIELDS, fields_from_wsdl=True)
    first = make_directory_task(workflow=workflow, data_fields=[["Store", "${event://Id}"]])

    menu = piped_text_menu(workflow=workflow, earlier_tasks=[first], embedded_data_names=["Region"])

    every_token = [item["token"] for g in menu for item in g["items"]]
    assert len(every_token) > 20
    for token in every_token:
        assert [t.raw for t in tokens(token)] == [token]
        assert validate(token, known_event_fields=set(CASE_FIELDS)) == [], token


def test_event_fields_carry_their_wsdl_types():
    workflow = make_workflow(known_fields=CASE_FIELDS, fields_from_wsdl=True)

    items = group(piped_text_menu(workflow=workflow), "Event: Case fields")["items"]

    assert [(item["label"], item["detail"]) for item in items] == [
        ("ClosedDate", "dateTime"),
        ("ContactEmail", "string"),
        ("Id", "ID"),
        ("IsClosed", "boolean"),
    ]


def test_fields_only_seen_in_messages_say_so():
    workflow = make_workflow(known_fields={"Subject": ""}, fields_from_wsdl=False)

    items = group(piped_text_menu(workflow=workflow), "Event: Case fields")["items"]

    assert items == [{"label": "Subject", "token": "${event://Subject}", "detail": "seen in messages"}]


def test_without_known_fields_the_event_group_says_how_to_get_them():
    menu = piped_text_menu(workflow=make_workflow())

    assert group(menu, "Event: Case fields")["items"] == []
    assert "upload the outbound message's WSDL" in group(menu, "Event: Case fields")["empty"]


def test_embedded_data_lists_directory_names_and_names_the_workflow_saves():
    workflow = make_workflow()
    make_directory_task(workflow=workflow, data_fields=[["Store", "${event://Store__c}"]])

    menu = piped_text_menu(workflow=workflow, embedded_data_names={"region", "Tier"})

    assert tokens_of(menu, "Embedded data") == ["${e://Field/region}", "${e://Field/Store}", "${e://Field/Tier}"]


def test_task_outputs_are_those_of_earlier_tasks_numbered_in_run_order():
    workflow = make_workflow()
    first = make_directory_task(workflow=workflow, position=1)

    menu = piped_text_menu(workflow=workflow, earlier_tasks=[first])

    assert "${task://1/ContactId}" in tokens_of(menu, "Task outputs")
    assert not any(token.startswith("${task://2/") for token in tokens_of(menu, "Task outputs"))
    assert tokens_of(piped_text_menu(workflow=workflow), "Task outputs") == []


# --- widgets ------------------------------------------------------------------------------------


def test_a_piped_widget_marks_its_field_with_the_schemes_it_accepts():
    html = PipedTextInput(schemes=("event", "date")).render("value", "")
    assert 'data-piped-text="date event"' in html
    assert 'data-piped-text="date e event l m task"' in PipedTextarea().render("body", "")
    assert "workflows/piped_text_menu.js" in str(PipedTextInput().media)


# --- on admin pages -----------------------------------------------------------------------------


def test_the_task_page_carries_the_menu_with_the_earlier_tasks(admin_client):
    workflow = make_workflow(known_fields=CASE_FIELDS, fields_from_wsdl=True)
    first = make_directory_task(workflow=workflow, position=1)
    second = make_directory_task(workflow=workflow, position=2)

    response = admin_client.get(reverse("admin:workflows_task_change", args=[second.pk]))

    assert attribute(response, "//input[@id='id_first_name']") == "date e event l m task"
    assert attribute(response, "//textarea[@name='data_fields__value']") == "date e event l m task"
    assert texts(response.content, "//script[contains(@src, 'workflows/piped_text_menu.js')]/@src")
    menu = menu_data(response)
    assert "${event://ContactEmail}" in tokens_of(menu, "Event: Case fields")
    assert "${task://1/ContactId}" in tokens_of(menu, "Task outputs")
    first_page = admin_client.get(reverse("admin:workflows_task_change", args=[first.pk]))
    assert tokens_of(menu_data(first_page), "Task outputs") == []


def test_a_new_task_pipes_from_every_task_before_it(admin_client):
    workflow = make_workflow()
    make_directory_task(workflow=workflow, position=1)

    response = admin_client.get(f"{reverse('admin:workflows_task_add')}?workflow={workflow.pk}&kind=distribute_survey")

    for name in ("subject", "html_body", "text_body"):
        assert attribute(response, f"//*[@name='{name}']") == "date e event l m task", name
    assert "${task://1/ContactId}" in tokens_of(menu_data(response), "Task outputs")


def test_the_workflow_page_marks_condition_values_for_event_fields_and_dates(admin_client):
    workflow = make_workflow(known_fields=CASE_FIELDS, fields_from_wsdl=True)

    response = admin_client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk]))

    assert attribute(response, "//input[@name='conditions-__prefix__-value']") == "date event"
    assert "${event://IsClosed}" in tokens_of(menu_data(response), "Event: Case fields")


def test_a_user_who_may_only_view_the_task_gets_no_menu(client):
    workflow = make_workflow(known_fields=CASE_FIELDS, fields_from_wsdl=True)
    task = make_directory_task(workflow=workflow)
    client.force_login(user_with("workflows.view_task"))

    response = client.get(reverse("admin:workflows_task_change", args=[task.pk]))

    assert response.status_code == 200
    assert menu_data(response) is None
    assert b"ContactEmail" not in response.content.split(b"Piped text")[0]  # not before the help section


def test_a_user_who_may_only_view_the_workflow_gets_no_menu(client):
    workflow = make_workflow(known_fields=CASE_FIELDS, fields_from_wsdl=True)
    client.force_login(user_with("workflows.view_workflow", "workflows.view_condition", "workflows.view_task"))

    response = client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk]))

    assert response.status_code == 200
    assert menu_data(response) is None


def test_a_staff_user_without_permissions_gets_neither_page_nor_menu(client):
    task = make_directory_task(workflow=make_workflow(known_fields=CASE_FIELDS, fields_from_wsdl=True))
    client.force_login(make_user())

    response = client.get(reverse("admin:workflows_task_change", args=[task.pk]))

    assert response.status_code == 403
    assert b"piped-text-menu" not in response.content


def test_embedded_data_names_of_the_directory_only_for_users_who_may_view_contacts(client):
    make_contact(embedded_data={"LoyaltyTier": "gold"})
    editor = user_with("workflows.view_task", "workflows.change_task")  # the owner: only they edit its tasks
    task = make_directory_task(workflow=make_workflow(owner=editor), data_fields=[["Store", "${event://Store__c}"]])
    url = reverse("admin:workflows_task_change", args=[task.pk])

    client.force_login(editor)
    assert tokens_of(menu_data(client.get(url)), "Embedded data") == ["${e://Field/Store}"]  # the workflow's own

    editor.user_permissions.add(Permission.objects.get(content_type__app_label="directory", codename="view_contact"))
    assert tokens_of(menu_data(client.get(url)), "Embedded data") == ["${e://Field/LoyaltyTier}", "${e://Field/Store}"]
