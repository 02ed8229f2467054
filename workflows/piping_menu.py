"""The piped-text menu: what an admin can pipe into a field, grouped as the reference platform's
"Insert piped text" menu groups it.

Groups, in this order (each item is one token of workflows.piping):

    event     the Salesforce object's fields with their XSD types (the WSDL's, or "" when only seen
              in messages), then the event's metadata (_Object, _NotificationId, _OrganizationId)
    m         contact info (${m://FirstName}...)
    e         embedded data: names recent contacts of the directory have, and names this
              workflow's tasks save
    task      outputs of the tasks that run before the one being edited
    l         survey links (email messages)
    date      the current date and time

The admin page puts the menu in the page as JSON; the browser script (static
workflows/piped_text_menu.js) shows the groups a field accepts, filtered as the admin types.
"""

from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field

from workflows.models import Task, Workflow
from workflows.piping import CONTACT_FIELDS, DATES, EVENT_METADATA, LINKS
from workflows.tasks import registry

CONTACT_FIELD_LABELS = {
    "FirstName": "First name",
    "LastName": "Last name",
    "Email": "Email",
    "ExternalDataReference": "External data reference",
    "Phone": "Phone",
    "Language": "Language",
}
EVENT_METADATA_LABELS = {
    "_Object": "Object type",
    "_NotificationId": "Notification id",
    "_OrganizationId": "Organization id",
}
# Link tokens as the menu offers them: anchors with a display text the admin can edit afterwards.
LINK_ITEMS = {
    "SurveyLink": ("Survey link", "${l://SurveyLink?d=Take the survey}"),
    "SurveyURL": ("Survey URL", "${l://SurveyURL}"),
    "OptOutLink": ("Opt-out link", "${l://OptOutLink?d=Unsubscribe}"),
    "OptOutURL": ("Opt-out URL", "${l://OptOutURL}"),
}
DATE_LABELS = {"now": "Current date and time (UTC)", "today": "Current date (UTC)"}


@dataclass(frozen=True)
class MenuItem:
    label: str  # what the admin reads and filters on
    token: str  # what is inserted
    detail: str = ""  # a type or a source, shown beside the label


@dataclass(frozen=True)
class MenuGroup:
    label: str
    scheme: str  # the piping scheme of every item: a field that refuses it does not show the group
    items: list[MenuItem] = field(default_factory=list)
    empty: str = ""  # why the group has no items and how to get some


def piped_text_menu(
    *,
    workflow: Workflow | None,
    earlier_tasks: Iterable[Task] = (),
    embedded_data_names: Collection[str] = (),
) -> list[dict]:
    """The menu for a field of `workflow` (None: a workflow not saved yet) as JSON-ready dicts:
    [{"label", "scheme", "empty", "items": [{"label", "token", "detail"}]}], groups in the order of
    the module docstring. `earlier_tasks` are the tasks that run before the edited one, in run
    order; `embedded_data_names` the names known in the directory (the caller decides whether the
    user may see them)."""
    earlier_tasks = list(earlier_tasks)
    groups = [
        _event_group(workflow),
        MenuGroup(
            label="Event metadata",
            scheme="event",
            items=[MenuItem(EVENT_METADATA_LABELS[name], f"${{event://{name}}}", name) for name in EVENT_METADATA],
        ),
        MenuGroup(
            label="Contact info",
            scheme="m",
            items=[MenuItem(CONTACT_FIELD_LABELS[name], f"${{m://{name}}}", name) for name in CONTACT_FIELDS],
        ),
        _embedded_data_group(workflow, embedded_data_names),
        _task_outputs_group(earlier_tasks),
        MenuGroup(
            label="Survey links",
            scheme="l",
            items=[MenuItem(*LINK_ITEMS[name], "email message") for name in LINKS],
        ),
        MenuGroup(
            label="Date / time",
            scheme="date",
            items=[MenuItem(DATE_LABELS[name], f"${{date://{name}}}", name) for name in DATES],
        ),
    ]
    return [asdict(group) for group in groups]


def _event_group(workflow: Workflow | None) -> MenuGroup:
    salesforce_object = workflow.salesforce_object if workflow else ""
    label = f"Event: {salesforce_object} fields" if salesforce_object else "Event fields"
    if workflow is None or not workflow.known_fields:
        return MenuGroup(
            label=label,
            scheme="event",
            empty="No fields known yet: upload the outbound message's WSDL on the workflow page, or send a message.",
        )
    source = "" if workflow.fields_from_wsdl else "seen in messages"
    items = [
        MenuItem(name, f"${{event://{name}}}", xsd_type or source)
        for name, xsd_type in sorted(workflow.known_fields.items(), key=lambda item: item[0].lower())
    ]
    return MenuGroup(label=label, scheme="event", items=items)


def _embedded_data_group(workflow: Workflow | None, directory_names: Collection[str]) -> MenuGroup:
    names = set(directory_names)
    if workflow is not None and workflow.pk:
        names |= _embedded_data_saved_by(workflow.tasks.all())
    return MenuGroup(
        label="Embedded data",
        scheme="e",
        items=[MenuItem(name, f"${{e://Field/{name}}}") for name in sorted(names, key=str.lower)],
        empty="No embedded data known yet: contacts' embedded data and names saved by this workflow's tasks "
        "appear here. Type ${e://Field/Name} for another name.",
    )


def _embedded_data_saved_by(tasks: Iterable[Task]) -> set[str]:
    # Name/value rows (the directory tasks' "Embedded data / transaction fields") keep [name, value].
    return {
        str(row[0])
        for task in tasks
        for rows in task.config.values()
        if isinstance(rows, list)
        for row in rows
        if isinstance(row, list) and row and str(row[0]).strip()
    }


def _task_outputs_group(earlier_tasks: list[Task]) -> MenuGroup:
    items = []
    for number, task in enumerate(earlier_tasks, start=1):
        kind = registry.find(task.kind)
        for output in kind.outputs if kind else ():
            items.append(MenuItem(f"{number}. {kind.label}: {output}", f"${{task://{number}/{output}}}", output))
    return MenuGroup(
        label="Task outputs",
        scheme="task",
        items=items,
        empty="No earlier task: outputs of the tasks that run before this one appear here.",
    )
