"""Checks of a workflow definition shared by the admin forms and the workflow import.

Both must accept exactly the same definitions, so the rules live here once.
"""

import difflib
from collections.abc import Collection, Mapping, Sequence

from workflows.conditions import Operator, literal_value_error, piped_value_error
from workflows.piping import MAX_LISTED_FIELDS, SALESFORCE_NAME, task_output_reference, tokens, validate
from workflows.salesforce.values import is_known_field, unknown_component
from workflows.tasks import registry

# Conditions are evaluated before any task runs: only the event and dates exist then.
CONDITION_VALUE_SCHEMES = ("event", "date")
# The XSD type of what ${date://...} gives: ${date://today} a date, ${date://now} a date and time.
PIPED_DATE_TYPES = {"today": "date", "now": "dateTime"}


def listed(names: Collection[str]) -> str:
    names = sorted(names)
    more = f" and {len(names) - MAX_LISTED_FIELDS} more" if len(names) > MAX_LISTED_FIELDS else ""
    return (", ".join(names[:MAX_LISTED_FIELDS]) or "none") + more


def condition_field_error(field: str, *, known_event_fields: Collection[str] | None) -> str | None:
    """A field name that no Salesforce field can have (the event's metadata such as _OrganizationId
    included, which is not among the fields a condition compares) is always an error, as the
    condition would never see a value; an unknown field only when a WSDL declared the object's fields."""
    if field.startswith("_"):
        return (
            f"{field} is the message's metadata, not a field of the record, and conditions compare the record's "
            "fields: the organizations allowed to call are set under Event, and a workflow receives one object."
        )
    if not SALESFORCE_NAME.fullmatch(field):
        return (
            f"{field} is not a Salesforce field API name: write the API name (letters, digits and underscores), "
            "e.g. IsClosed or Account_Region__c, as Setup > Object Manager > Fields shows it."
        )
    if known_event_fields is None or is_known_field(field, known_event_fields):
        return None
    if compound := unknown_component(field, known_event_fields):
        name, type_, components = compound
        return (
            f"{field} is not a field: {name} is a compound field (xsd:{type_} in the WSDL), "
            f"whose components are {', '.join(components)}."
        )
    close = difflib.get_close_matches(field, list(known_event_fields), n=1)
    hint = f"did you mean {close[0]}?" if close else f"known fields: {listed(known_event_fields)}"
    return f"{field} is not a field of the workflow's uploaded WSDL; {hint}"


def condition_value_errors(
    value: str, *, operator: str, known_event_fields: Collection[str] | None, field_type: str = ""
) -> list[str]:
    """The value's piped text, and a value written out that the operator cannot compare (text
    for "is greater than", "yes" for a field the WSDL declares boolean). `field_type` is the
    field's XSD type from the WSDL, "" when not declared. When `known_event_fields` maps each
    field to its XSD type (Workflow.known_fields), a value that is one piped field of a type the
    operator can never compare with the field's is refused too (conditions.piped_value_error)."""
    errors = validate(value, known_event_fields=known_event_fields, schemes=CONDITION_VALUE_SCHEMES)
    if errors or operator not in set(Operator):
        return errors
    if found := tokens(value):
        value_type = ""  # the piped value's XSD type, when known: "" compares as text may
        if len(found) == 1 and found[0].raw == value.strip():
            if found[0].scheme == "event" and isinstance(known_event_fields, Mapping):
                value_type = known_event_fields.get(found[0].path) or ""
            elif found[0].scheme == "date":
                value_type = PIPED_DATE_TYPES.get(found[0].path, "")
        error = piped_value_error(Operator(operator), field_type=field_type, value_type=value_type)
        return [error] if error else []
    error = literal_value_error(Operator(operator), value, xsd_type=field_type)
    return [error] if error else []


def task_pipe_errors(text: str, *, earlier_kinds: Sequence[str]) -> list[str]:
    """${task://n/Output} must name an earlier task (1-based, in run order) and one of its outputs."""
    errors = []
    for token in tokens(text):
        reference = task_output_reference(token.path) if token.scheme == "task" and token.terminated else None
        if reference is None:
            continue  # malformed task tokens are piping.validate's to report
        number, output = reference
        if not earlier_kinds:
            errors.append(f"{token.raw}: this task runs first, so there is no earlier task whose output it could use.")
        elif not 1 <= number <= len(earlier_kinds):
            errors.append(
                f"{token.raw} refers to task {number}, but this task runs as task {len(earlier_kinds) + 1}: "
                f"pipe only outputs of earlier tasks (1 to {len(earlier_kinds)})."
            )
        else:
            kind = registry.find(earlier_kinds[number - 1])
            if kind is not None and kind.outputs and output not in kind.outputs:
                errors.append(
                    f"{token.raw}: task {number} ({kind.label}) has no output {output}; "
                    f"its outputs: {', '.join(kind.outputs)}."
                )
    return errors


def task_order_errors(tasks: Sequence, *, skip=None) -> list[str]:
    """The ${task://n/Output} tokens of `tasks` (workflows.models.Task, or any object with kind,
    config and a str(), in the order they will run) that would no longer name an earlier task's
    output in that order: after tasks are reordered or removed, a task piping the ContactId of
    task 1 may run first, or task 1 may be another kind. One sentence per task and problem; the
    task `skip` (one of `tasks`, e.g. the one whose own form checks it) is not checked."""
    errors = []
    for number, task in enumerate(tasks):
        if task is skip:
            continue
        earlier_kinds = [earlier.kind for earlier in tasks[:number]]
        for text in _config_texts(task.config):
            for error in task_pipe_errors(text, earlier_kinds=earlier_kinds):
                sentence = f"{registry.kind_label(task.kind)} (task {number + 1} after this change): {error}"
                if sentence not in errors:
                    errors.append(sentence)
    return errors


def _config_texts(value) -> list[str]:
    """Every text in a task config: its values, and those of lists such as name/value rows."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _config_texts(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _config_texts(item)]
    return []


def task_warnings(task) -> list[str]:
    """What would make the saved `task` (a workflows.models.Task) fail when it runs although its
    config is valid, as its kind reports it (TaskKind.config_warnings): e.g. its survey is not
    active yet. [] for kinds that check nothing beyond their form."""
    kind = registry.find(task.kind)
    if kind is None or kind.config_warnings is None:
        return []
    return kind.config_warnings(task.config, task.workflow)
