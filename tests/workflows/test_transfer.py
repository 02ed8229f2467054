"""Exporting workflows to JSON and importing them elsewhere: the services and both commands."""

import io
import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import DIRECTORY_TASK_CONFIG, make_condition, make_directory_task, make_user, make_workflow
from workflows.models import Condition, Task, Workflow
from workflows.services.demo import demo_seed
from workflows.services.transfer import FORMAT, VERSION, TransferError, workflows_export, workflows_import
from workflows.tasks import registry

pytestmark = pytest.mark.django_db


def admin_config(**config):
    """A task config as the admin saves it: a value for every field of the kind's form."""
    fields = registry.get("add_to_directory").config_form().fields
    return {name: config.get(name, DIRECTORY_TASK_CONFIG.get(name, "")) for name in fields}


def a_workflow(**fields):
    workflow = make_workflow(**fields)
    make_condition(workflow=workflow, field="Status", operator="not_equals", value="New", position=2)
    make_condition(workflow=workflow, field="IsClosed", operator="equals", value="true", position=1)
    transaction = admin_config(save_mode="transaction", data_fields=[["Store", "${event://Store__c}"]])
    make_directory_task(workflow=workflow, position=2, **transaction)
    make_directory_task(workflow=workflow, position=1, **admin_config())
    return workflow


def document(*workflows):
    return {"format": FORMAT, "version": VERSION, "workflows": list(workflows)}


def entry(**fields):
    """One exported workflow, as a file would hold it."""
    defaults = {
        "name": "Imported",
        "salesforce_object": "Case",
        "owner": "nobody-here",
        "conditions": [{"field": "IsClosed", "operator": "equals", "value": "true"}],
        "tasks": [{"kind": "add_to_directory", "config": dict(DIRECTORY_TASK_CONFIG)}],
    }
    return {**defaults, **fields}


def import_file(tmp_path, content, *args):
    path = tmp_path / "workflows.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    out = io.StringIO()
    call_command("import_workflows", str(path), *args, stdout=out)
    return out.getvalue()


def test_it_exports_conditions_and_tasks_in_position_order():
    workflow = a_workflow()
    [exported] = workflows_export()["workflows"]
    assert [c["field"] for c in exported["conditions"]] == ["IsClosed", "Status"]
    assert [t["config"]["save_mode"] for t in exported["tasks"]] == ["embedded_data", "transaction"]
    assert exported["owner"] == workflow.owner.username


def test_it_exports_no_ids_and_no_token():
    workflow = a_workflow()
    text = json.dumps(workflows_export())
    assert workflow.token not in text
    assert '"id"' not in text and "token" not in text


def test_it_exports_only_the_named_workflows():
    a_workflow(name="First")
    a_workflow(name="Second")
    assert [w["name"] for w in workflows_export(names=["Second"])["workflows"]] == ["Second"]


def test_it_refuses_to_export_an_unknown_name():
    with pytest.raises(TransferError, match="no workflow named 'Missing'"):
        workflows_export(names=["Missing"])


def test_it_reproduces_the_workflows_in_a_fresh_database():
    a_workflow(name="First", condition_match="any", on_task_failure="stop", allowed_organization_ids="00D000000000001")
    demo_seed(owner=make_user())
    exported = workflows_export()
    Workflow.objects.all().delete()
    results = workflows_import(document=json.loads(json.dumps(exported)))
    assert [created for _, created in results] == [True, True]
    assert workflows_export() == exported


def test_it_replaces_a_workflow_of_the_same_name_but_keeps_its_token():
    workflow = a_workflow(name="Case closed")
    token = workflow.token
    [(imported, created)] = workflows_import(
        document=document(
            entry(
                name="Case closed",
                owner=workflow.owner.username,
                conditions=[{"field": "Priority", "operator": "equals", "value": "High"}],
            )
        )
    )
    assert (imported.pk, imported.token, created) == (workflow.pk, token, False)
    assert list(Condition.objects.filter(workflow=workflow).values_list("field", flat=True)) == ["Priority"]
    assert Task.objects.filter(workflow=workflow).count() == 1


def test_it_gives_the_workflow_to_its_exported_owner_when_that_user_exists():
    owner = make_user(username="ada")
    [(workflow, _)] = workflows_import(document=document(entry(owner="ada")), default_owner=make_user())
    assert workflow.owner == owner


def test_it_gives_the_workflow_to_the_default_owner_when_the_exported_one_is_missing():
    default = make_user()
    [(workflow, _)] = workflows_import(document=document(entry(owner="ghost")), default_owner=default)
    assert workflow.owner == default


def test_it_imports_nothing_when_one_workflow_is_invalid():
    owner = make_user()
    bad = entry(name="Bad", conditions=[{"field": "IsClosed", "operator": "is", "value": "true"}])
    with pytest.raises(TransferError):
        workflows_import(document=document(entry(name="Good"), bad), default_owner=owner)
    assert not Workflow.objects.exists()


def test_it_refuses_a_piped_field_the_wsdl_does_not_declare():
    config = {**DIRECTORY_TASK_CONFIG, "email": "${event://Emial}"}
    bad = entry(known_fields={"Email": "string", "IsClosed": "boolean"}, fields_from_wsdl=True)
    bad["tasks"] = [{"kind": "add_to_directory", "config": config}]
    bad["conditions"] = []
    with pytest.raises(TransferError, match=r"task 1 \(add_to_directory\): email: \$\{event://Emial\}"):
        workflows_import(document=document(bad), default_owner=make_user())


def test_it_refuses_a_task_output_of_a_later_task():
    config = {**DIRECTORY_TASK_CONFIG, "external_data_reference": "${task://2/ContactId}"}
    with pytest.raises(TransferError, match="earlier task"):
        workflows_import(
            document=document(entry(tasks=[{"kind": "add_to_directory", "config": config}])), default_owner=make_user()
        )


# --- the commands -----------------------------------------------------------------------------


def test_it_writes_the_export_to_the_output_file(tmp_path):
    a_workflow(name="First")
    call_command("export_workflows", "--output", str(tmp_path / "out.json"), stderr=io.StringIO())
    written = json.loads((tmp_path / "out.json").read_text())
    assert (written["format"], written["version"]) == ("sfsurveys-workflows", 1)
    assert [w["name"] for w in written["workflows"]] == ["First"]


def test_it_fails_to_export_an_unknown_name():
    with pytest.raises(CommandError, match="no workflow named 'Missing'"):
        call_command("export_workflows", "Missing", stdout=io.StringIO())


def test_it_prints_created_and_updated_workflows_with_their_event_urls(tmp_path):
    existing = make_workflow(name="Existing")
    both = document(entry(name="Existing"), entry(name="New"))
    output = import_file(tmp_path, both, "--owner", existing.owner.username)
    new = Workflow.objects.get(name="New")
    assert f"updated: Existing  {existing.event_url}" in output
    assert f"created: New  {new.event_url}" in output


def test_it_round_trips_through_the_commands(tmp_path):
    a_workflow(name="First")
    exported = io.StringIO()
    call_command("export_workflows", stdout=exported)
    Workflow.objects.all().delete()
    import_file(tmp_path, exported.getvalue())
    again = io.StringIO()
    call_command("export_workflows", stdout=again)
    assert json.loads(again.getvalue()) == json.loads(exported.getvalue())


def test_it_fails_on_a_file_that_is_not_json(tmp_path):
    with pytest.raises(CommandError, match="is not JSON"):
        import_file(tmp_path, "name,object\nCase closed,Case\n")


def test_it_fails_on_a_file_nested_too_deeply_to_read(tmp_path):
    with pytest.raises(CommandError, match="nests arrays or objects too deeply to be read"):
        import_file(tmp_path, "[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        (entry(name="Closed\x00cases"), "workflows[0].name"),
        (
            entry(conditions=[{"field": "IsClosed", "operator": "equals", "value": "\ud800"}]),
            "workflows[0].conditions[0].value",
        ),
        (
            entry(
                tasks=[
                    {"kind": "add_to_directory", "config": {**DIRECTORY_TASK_CONFIG, "data_fields": [["\udfff", "x"]]}}
                ]
            ),
            "workflows[0].tasks[0].config.data_fields[0][0]",
        ),
    ],
)
def test_it_fails_on_text_no_database_can_store_naming_where_it_is(tmp_path, bad, where):
    # Written by json.dumps as \u0000 and \ud800 escapes, which json.loads reads back as such characters.
    with pytest.raises(CommandError, match=re.escape(f"- {where} holds a NUL character or half of a surrogate pair")):
        import_file(tmp_path, document(bad), "--owner", make_user().username)
    assert not Workflow.objects.exists()


@pytest.mark.parametrize("setting", ["allowed_organization_ids", "failure_recipients", "salesforce_object"])
def test_it_fails_on_a_text_setting_that_is_null(setting):
    with pytest.raises(TransferError, match=f"'Imported': {setting} must be text."):
        workflows_import(document=document(entry(**{setting: None})), default_owner=make_user())


@pytest.mark.parametrize(
    "condition", [{"field": "IsClosed", "operator": "equals", "value": None}, {"field": 5, "operator": "equals"}]
)
def test_it_fails_on_a_condition_whose_field_or_value_is_not_text(condition):
    with pytest.raises(TransferError, match="condition 1 must be an object with field, operator and value, the field"):
        workflows_import(document=document(entry(conditions=[condition])), default_owner=make_user())


def test_it_fails_on_another_format(tmp_path):
    with pytest.raises(CommandError, match='"format" must be "sfsurveys-workflows"'):
        import_file(tmp_path, {"format": "something-else", "version": 1, "workflows": []})


def test_it_fails_on_another_version(tmp_path):
    with pytest.raises(CommandError, match="Version 2 of the workflows format is not supported"):
        import_file(tmp_path, {"format": FORMAT, "version": 2, "workflows": []})


def test_it_fails_on_an_unknown_task_kind(tmp_path):
    bad = entry(tasks=[{"kind": "send_fax", "config": {}}])
    with pytest.raises(CommandError, match="'Imported', task 1: unknown task kind 'send_fax'"):
        import_file(tmp_path, document(bad), "--owner", make_user().username)


def test_it_fails_on_an_unknown_operator(tmp_path):
    bad = entry(conditions=[{"field": "IsClosed", "operator": "is", "value": "true"}])
    with pytest.raises(CommandError, match="'Imported', condition 1: unknown operator 'is'"):
        import_file(tmp_path, document(bad), "--owner", make_user().username)


def test_it_imports_includes_and_excludes_conditions():
    conditions = [
        {"field": "Channels__c", "operator": "includes", "value": "Chat"},
        {"field": "Channels__c", "operator": "excludes", "value": "Phone;Web"},
    ]
    workflows_import(document=document(entry(conditions=conditions)), default_owner=make_user())
    assert list(Condition.objects.values_list("operator", "value")) == [("includes", "Chat"), ("excludes", "Phone;Web")]


def test_it_imports_equality_conditions_of_files_from_before_and_after_ignoring_case_existed():
    conditions = [
        {"field": "Origin", "operator": "equals", "value": "Web"},
        {"field": "Origin", "operator": "not_equals_ignoring_case", "value": "phone"},
    ]
    workflows_import(document=document(entry(conditions=conditions)), default_owner=make_user())
    workflow = Workflow.objects.get()
    assert list(workflow.conditions.values_list("operator", "value")) == [
        ("equals", "Web"),
        ("not_equals_ignoring_case", "phone"),
    ]
    exported = workflows_export(names=[workflow.name])
    assert [row["operator"] for row in exported["workflows"][0]["conditions"]] == [
        "equals",
        "not_equals_ignoring_case",
    ]


def test_it_fails_on_a_condition_value_the_wsdl_type_of_the_field_cannot_hold():
    bad = entry(
        known_fields={"IsClosed": "boolean"},
        fields_from_wsdl=True,
        conditions=[{"field": "IsClosed", "operator": "equals", "value": "yes"}],
    )
    with pytest.raises(TransferError, match="condition 1: The WSDL declares this field as xsd:boolean"):
        workflows_import(document=document(bad), default_owner=make_user())
    assert not Workflow.objects.exists()


def test_it_fails_on_allowed_organization_ids_that_are_not_organization_ids():
    with pytest.raises(TransferError, match="allowed_organization_ids: Not Salesforce organization ids: 00D5g,"):
        workflows_import(document=document(entry(allowed_organization_ids="00D5g, 00D5g000004ABCD")))


def test_it_fails_on_an_invalid_salesforce_object_name(tmp_path):
    with pytest.raises(CommandError, match="invalid Salesforce object name 'Closed Case'"):
        import_file(tmp_path, document(entry(salesforce_object="Closed Case")), "--owner", make_user().username)


def test_it_fails_on_an_invalid_task_config_naming_the_workflow_and_task(tmp_path):
    config = {**DIRECTORY_TASK_CONFIG, "email": ""}
    bad = entry(tasks=[{"kind": "add_to_directory", "config": c} for c in (DIRECTORY_TASK_CONFIG, config)])
    with pytest.raises(CommandError, match=r"'Imported', task 2 \(add_to_directory\): email: This field is required"):
        import_file(tmp_path, document(bad), "--owner", make_user().username)


def test_it_fails_when_the_owner_is_missing_and_no_owner_is_given(tmp_path):
    with pytest.raises(CommandError, match="belongs to 'nobody-here'.*pass --owner USERNAME"):
        import_file(tmp_path, document(entry()))


def test_it_fails_on_an_owner_option_naming_no_user(tmp_path):
    with pytest.raises(CommandError, match="There is no user 'ghost'"):
        import_file(tmp_path, document(entry()), "--owner", "ghost")
