"""The demo a fresh installation starts with (`python manage.py quickstart`).

Workflow "Case closed" saves the contact of each closed Case to the mailing list "Support
customers", with the case's Priority and Origin as embedded data, then appends the case (store,
number, subject) to the contact's timeline as a transaction. The transaction task comes second
because a transaction is only added to a contact that exists.

The workflow is written as an export document and imported, so its task configs pass the same
admin-form checks as any other, against the fields of the bundled Case WSDL.
"""

from importlib import resources

from django.db import transaction

from directory.services import directory_get_default, mailing_list_get_or_create
from workflows.conditions import Operator
from workflows.models import Workflow
from workflows.salesforce.wsdl import object_from_wsdl
from workflows.selectors import workflow_event_fields
from workflows.services.transfer import FORMAT, VERSION, workflows_import
from workflows.tasks.add_to_directory import SaveMode

DEMO_WORKFLOW = "Case closed"
DEMO_MAILING_LIST = "Support customers"
# A closed Case as Salesforce would send it for the demo workflow: quickstart prints a ready
# simulator command with the value of every field the demo reads (demo_event_fields).
DEMO_CLOSED_CASE = {
    "IsClosed": "true",
    "ContactId": "0035g00000AdaLvAAJ",
    "ContactEmail": "ada@example.com",
    # A number phonenumbers accepts as valid (US 555-01xx numbers are reserved for fiction): the
    # demo's two-way SMS survey texts it.
    "ContactMobile": "+14155550123",
    "Customer_First_Name__c": "Ada",
    "Customer_Last_Name__c": "Lovelace",
    "Store__c": "Milan",
    "CaseNumber": "00001026",
    "Priority": "High",
    "Origin": "Web",
    "ClosedDate": "2026-11-28T10:00:00.000Z",
    "Subject": "Printer jammed",
}

_CONTACT_FIELDS = {
    "mailing_list": DEMO_MAILING_LIST,
    "first_name": "${event://Customer_First_Name__c}",
    "last_name": "${event://Customer_Last_Name__c}",
    "email": "${event://ContactEmail}",
    "external_data_reference": "${event://ContactId}",
}
_TASKS = [
    {
        "kind": "add_to_directory",
        "config": {
            **_CONTACT_FIELDS,
            "save_mode": SaveMode.EMBEDDED_DATA,
            "data_fields": [["Priority", "${event://Priority}"], ["Origin", "${event://Origin}"]],
        },
    },
    {
        "kind": "add_to_directory",
        "config": {
            **_CONTACT_FIELDS,
            "save_mode": SaveMode.TRANSACTION,
            "transaction_date": "${event://ClosedDate}",
            "data_fields": [
                ["Store", "${event://Store__c}"],
                ["CaseNumber", "${event://CaseNumber}"],
                ["Subject", "${event://Subject}"],
            ],
        },
    },
]


# Example values of fields an edited demo workflow reads that DEMO_CLOSED_CASE lacks, by the
# XSD type its WSDL declares; other types get text.
_EXAMPLES_BY_TYPE = {
    "boolean": "true",
    "double": "1",
    "int": "1",
    "date": "2026-11-28",
    "dateTime": "2026-11-28T10:00:00.000Z",
}


def demo_event_fields(*, workflow: Workflow) -> dict[str, str]:
    """A value for every field `workflow` reads (conditions, piped text) -> {field: value}: the demo
    case's own, else an example of the field's declared type, so nothing the workflow pipes is empty."""
    values = {}
    for name in workflow_event_fields(workflow=workflow):
        example = _EXAMPLES_BY_TYPE.get(workflow.known_fields.get(name, ""), f"Example {name}")
        values[name] = DEMO_CLOSED_CASE.get(name) or example
    return values


def _case_object():
    return object_from_wsdl((resources.files("workflows") / "demo" / "Case.wsdl").read_bytes())


@transaction.atomic
def demo_seed(*, owner) -> Workflow:
    """Create what is missing of the demo; what exists, an edited demo workflow included, stays as it is."""
    mailing_list_get_or_create(name=DEMO_MAILING_LIST, directory=directory_get_default())
    existing = Workflow.objects.filter(name=DEMO_WORKFLOW).first()
    if existing is not None:
        return existing
    return demo_workflow_import(name=DEMO_WORKFLOW, owner=owner, tasks=_TASKS)


def demo_workflow_import(*, name: str, owner, tasks: list[dict]) -> Workflow:
    """Import a demo workflow `name` on the bundled Case WSDL, run for closed Cases, with `tasks`
    ([{"kind": ..., "config": {...}}] as an export holds them, so each config passes the admin form's
    checks against the WSDL's fields). Raises TransferError when a config does not."""
    case = _case_object()
    document = {
        "format": FORMAT,
        "version": VERSION,
        "workflows": [
            {
                "name": name,
                "salesforce_object": case.object_name,
                "known_fields": case.fields,
                "fields_from_wsdl": True,
                "owner": owner.get_username(),
                "conditions": [{"field": "IsClosed", "operator": Operator.EQUALS.value, "value": "true"}],
                "tasks": tasks,
            }
        ],
    }
    [(workflow, _created)] = workflows_import(document=document, default_owner=owner)
    return workflow
