"""Moving workflows between installations: export them as a JSON document, import it elsewhere.

A document holds what an admin built (settings, conditions, tasks) and nothing that belongs to one
installation: no ids, and no URL token, which is a secret. A task config that links to a row by id
(a survey) names it in the document instead, and the import finds the row of that name.
Importing a workflow whose name exists replaces its definition but keeps its token, so the URL
pasted into Salesforce stays valid.
Task configs are checked by their kind's admin form, so an import accepts exactly what the admin
would save.
"""

from collections.abc import Collection
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import QueryDict

from directory.forms import KeyValueWidget
from workflows.conditions import Operator
from workflows.models import SALESFORCE_API_NAME, Condition, Task, Workflow
from workflows.salesforce.encoding import text_is_storable
from workflows.tasks import registry
from workflows.tasks.registry import TaskKind
from workflows.validation import condition_field_error, condition_value_errors

FORMAT = "sfsurveys-workflows"
VERSION = 1

_SETTINGS = (
    "enabled",
    "salesforce_object",
    "allowed_organization_ids",
    "condition_match",
    "on_task_failure",
    "failure_recipients",
    "known_fields",
    "fields_from_wsdl",
)
_TEXT_SETTINGS = (
    "salesforce_object",
    "allowed_organization_ids",
    "condition_match",
    "on_task_failure",
    "failure_recipients",
)
_WORKFLOW_KEYS = {"name", *_SETTINGS, "owner", "conditions", "tasks"}
_CONDITION_KEYS = {"field", "operator", "value"}
_TASK_KEYS = {"kind", "config"}


class TransferError(Exception):
    """The document cannot be imported as it is; the message says what to fix."""


def workflows_export(*, names: Collection[str] | None = None) -> dict:
    workflows = Workflow.objects.select_related("owner").prefetch_related("conditions", "tasks")
    if names:
        workflows = list(workflows.filter(name__in=names))
        missing = sorted(set(names) - {workflow.name for workflow in workflows})
        if missing:
            raise TransferError(f"There is no workflow named {', '.join(map(repr, missing))}.")
    return {"format": FORMAT, "version": VERSION, "workflows": [_export_one(workflow) for workflow in workflows]}


def _export_one(workflow: Workflow) -> dict:
    return {
        "name": workflow.name,
        **{name: getattr(workflow, name) for name in _SETTINGS},
        "owner": workflow.owner.get_username(),
        "conditions": [
            {"field": condition.field, "operator": condition.operator, "value": condition.value}
            for condition in workflow.conditions.all()
        ],
        "tasks": [{"kind": task.kind, "config": _document_config(task)} for task in workflow.tasks.all()],
    }


def _document_config(task: Task) -> dict:
    """The task's config with its links to this installation's rows as names (see TaskKind)."""
    kind = registry.find(task.kind)
    if kind is None or kind.export_config is None:
        return task.config
    return kind.export_config(task.config)


@dataclass
class _Plan:
    workflow: Workflow  # unsaved, holding the document's settings
    owner: object  # a user
    conditions: list[Condition]
    tasks: list[Task]


class _Problems(Exception):
    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


def workflows_import(*, document: dict, default_owner=None) -> list[tuple[Workflow, bool]]:
    """Create or replace each workflow of the document, all or none. -> [(workflow, created)]"""
    entries = _entries(document)
    unstorable = [
        f"{where} holds a NUL character or half of a surrogate pair (\\u0000 or \\ud800 in JSON), which "
        "cannot be stored: remove it from the file."
        for where in _unstorable_text(entries, "workflows")
    ]
    if unstorable:
        raise TransferError("Nothing was imported:\n" + "\n".join(f"- {problem}" for problem in unstorable))
    plans, problems = [], []
    for number, entry in enumerate(entries, start=1):
        try:
            plans.append(_plan(entry, number, default_owner=default_owner))
        except _Problems as error:
            problems.extend(error.messages)
    names = [plan.workflow.name for plan in plans]
    problems.extend(
        f"Workflow {name!r} appears more than once." for name in sorted(set(names)) if names.count(name) > 1
    )
    if problems:
        raise TransferError("Nothing was imported:\n" + "\n".join(f"- {problem}" for problem in problems))
    with transaction.atomic():
        return [_save(plan) for plan in plans]


def _entries(document) -> list:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TransferError(f'This is not a workflows export: its "format" must be "{FORMAT}".')
    if document.get("version") != VERSION:
        raise TransferError(
            f"Version {document.get('version')!r} of the workflows format is not supported: this installation "
            f"reads version {VERSION}. Export the workflows again from an installation of this version."
        )
    entries = document.get("workflows")
    if not isinstance(entries, list):
        raise TransferError('"workflows" must be a list of workflows.')
    return entries


def _unstorable_text(document, where: str) -> list[str]:
    """Where the document holds text no database accepts: JSON can escape a NUL character, which
    PostgreSQL refuses, and half of a surrogate pair, which is no character and cannot be encoded.
    Walked without recursion: a hostile file may nest as deep as the JSON parser allows."""
    found, pending = [], [(document, where)]
    while pending:
        value, where = pending.pop()
        if isinstance(value, str):
            if not text_is_storable(value):
                found.append(where)
        elif isinstance(value, list):
            pending.extend((item, f"{where}[{number}]") for number, item in enumerate(value))
        elif isinstance(value, dict):
            pending.extend((key, f"{where} (a key)") for key in value)
            pending.extend((item, f"{where}.{key}") for key, item in value.items())
    return sorted(found)


def _plan(entry, number: int, *, default_owner) -> _Plan:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
        raise _Problems([f"Workflow {number} has no name."])
    label = f"Workflow {entry['name']!r}"
    unknown = sorted(set(entry) - _WORKFLOW_KEYS)
    if unknown:
        raise _Problems([f"{label} has unknown keys: {', '.join(unknown)}."])
    workflow = _workflow(entry, label)
    known_fields = dict(workflow.known_fields) if workflow.fields_from_wsdl else None
    problems = []
    owner = _owner(entry, label, default_owner=default_owner, problems=problems)
    conditions = [
        _condition(row, f"{label}, condition {position}", position, known_fields, workflow.known_fields, problems)
        for position, row in enumerate(_list(entry, "conditions", label), start=1)
    ]
    tasks: list[Task | None] = []
    for position, row in enumerate(_list(entry, "tasks", label), start=1):
        tasks.append(_task(row, f"{label}, task {position}", position, known_fields, tasks, problems))
    if problems:
        raise _Problems(problems)
    # Every None above came with a problem, so the lists are complete here.
    return _Plan(workflow=workflow, owner=owner, conditions=conditions, tasks=tasks)


def _workflow(entry: dict, label: str) -> Workflow:
    wrong_types = [name for name in _TEXT_SETTINGS if name in entry and not isinstance(entry[name], str)]
    if wrong_types:
        raise _Problems([f"{label}: {name} must be text." for name in wrong_types])
    sobject = entry.get("salesforce_object")
    try:
        SALESFORCE_API_NAME(sobject if isinstance(sobject, str) else "")
    except ValidationError:
        raise _Problems(
            [f"{label}: invalid Salesforce object name {sobject!r}. {SALESFORCE_API_NAME.message}"]
        ) from None
    known_fields = entry.get("known_fields", {})
    if not isinstance(known_fields, dict) or not all(
        isinstance(name, str) and isinstance(type_, str) for name, type_ in known_fields.items()
    ):
        raise _Problems([f"{label}: known_fields must map field names to XSD types (text)."])
    workflow = Workflow(name=entry["name"].strip(), **{name: entry[name] for name in _SETTINGS if name in entry})
    _full_clean(workflow, label, exclude=["owner", "token", "token_digest"])
    return workflow


def _full_clean(instance, label: str, *, exclude: list[str]) -> None:
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        raise _Problems(
            [f"{label}: {field}: {' '.join(messages)}" for field, messages in error.message_dict.items()]
        ) from None


def _owner(entry: dict, label: str, *, default_owner, problems: list[str]):
    username = entry.get("owner") or ""
    User = get_user_model()
    owner = User.objects.filter(**{User.USERNAME_FIELD: username}).first() if username else None
    if owner is None and default_owner is None:
        whose = f"belongs to {username!r}, who has no account here" if username else "names no owner"
        problems.append(f"{label} {whose}: pass --owner USERNAME to give it to an existing user.")
    return owner or default_owner


def _list(entry: dict, key: str, label: str) -> list:
    rows = entry.get(key, [])
    if not isinstance(rows, list):
        raise _Problems([f"{label}: {key} must be a list."])
    return rows


def _condition(
    row,
    label: str,
    position: int,
    known_fields: dict[str, str] | None,
    field_types: dict[str, str],
    problems: list[str],
) -> Condition | None:
    if (
        not isinstance(row, dict)
        or set(row) - _CONDITION_KEYS
        or not all(isinstance(row.get(key, ""), str) for key in ("field", "value"))
    ):
        problems.append(f"{label} must be an object with field, operator and value, the field and value text.")
        return None
    operator = row.get("operator")
    if operator not in set(Operator):
        problems.append(f"{label}: unknown operator {operator!r}; use one of {', '.join(Operator)}.")
        return None
    condition = Condition(position=position, field=row.get("field", ""), operator=operator, value=row.get("value", ""))
    try:
        _full_clean(condition, label, exclude=["workflow"])
    except _Problems as error:
        problems.extend(error.messages)
        return None
    # The checks the admin's condition form makes.
    field_error = condition_field_error(condition.field, known_event_fields=known_fields)
    errors = ([field_error] if field_error else []) + condition_value_errors(
        condition.value,
        operator=condition.operator,
        known_event_fields=known_fields,
        field_type=field_types.get(condition.field, ""),
    )
    problems.extend(f"{label}: {error}" for error in errors)
    return condition


def _task(
    row, label: str, position: int, known_fields: dict[str, str] | None, earlier: list[Task | None], problems: list[str]
) -> Task | None:
    if not isinstance(row, dict) or set(row) - _TASK_KEYS or not isinstance(row.get("config", {}), dict):
        problems.append(f"{label} must be an object with a kind and a config object.")
        return None
    kinds = {kind.name: kind for kind in registry.kinds()}
    kind = kinds.get(row.get("kind"))
    if kind is None:
        problems.append(
            f"{label}: unknown task kind {row.get('kind')!r}; this installation has {', '.join(sorted(kinds))}."
        )
        return None
    config = row.get("config", {})
    if kind.import_config is not None:
        try:
            config = kind.import_config(config)
        except ValidationError as error:
            problems.extend(_config_problems(f"{label} ({kind.name})", error))
            return None
    form = _bound_config_form(kind, config, known_fields)
    if form is not None:
        # Tasks of the document that failed their own checks still hold their place in the run order.
        form.earlier_kinds = [task.kind if task else "" for task in earlier]
    if form is None:
        problems.append(f"{label}: key/value settings must be lists of [name, value] pairs.")
        return None
    if not form.is_valid():
        for field, messages in form.errors.items():
            where = "" if field == "__all__" else f"{field}: "
            problems.extend(f"{label} ({kind.name}): {where}{message}" for message in messages)
        return None
    return Task(position=position, kind=kind.name, config=form.to_config())


def _config_problems(label: str, error: ValidationError) -> list[str]:
    if not hasattr(error, "error_dict"):
        return [f"{label}: {message}" for message in error.messages]
    return [f"{label}: {key}: {message}" for key, messages in error.message_dict.items() for message in messages]


def _bound_config_form(kind: TaskKind, config: dict, known_fields: dict[str, str] | None):
    """The kind's admin form bound to a stored config, as the admin page would post it.

    Key/value rows post as `<name>__name` / `<name>__value` lists (see KeyValueWidget), so the
    data is a QueryDict, not the config dict itself. None when the rows are malformed.
    """
    data = QueryDict(mutable=True)
    for name, field in kind.config_form(known_event_fields=known_fields).fields.items():
        value = config.get(name)
        if isinstance(field.widget, KeyValueWidget):
            rows = value or []
            if not isinstance(rows, list) or not all(isinstance(row, list) and len(row) == 2 for row in rows):
                return None
            data.setlist(f"{name}__name", [str(key) for key, _ in rows])
            data.setlist(f"{name}__value", [str(text) for _, text in rows])
        elif isinstance(value, list):
            data.setlist(name, [str(item) for item in value])
        elif isinstance(value, bool):
            data[name] = "true" if value else "false"
        elif value is not None:
            data[name] = str(value)
    return kind.config_form(data=data, known_event_fields=known_fields)


def _save(plan: _Plan) -> tuple[Workflow, bool]:
    workflow = Workflow.objects.select_for_update().filter(name=plan.workflow.name).first()
    created = workflow is None
    if created:
        workflow = plan.workflow
    else:
        # The token stays: it is in the URL Salesforce calls.
        for name in _SETTINGS:
            setattr(workflow, name, getattr(plan.workflow, name))
        workflow.conditions.all().delete()
        workflow.tasks.all().delete()
    workflow.owner = plan.owner
    workflow.save()
    for row in [*plan.conditions, *plan.tasks]:
        row.workflow = workflow
    Condition.objects.bulk_create(plan.conditions)
    Task.objects.bulk_create(plan.tasks)
    return workflow, created
