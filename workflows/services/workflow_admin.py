"""Writes the workflow admin makes besides saving its forms: the event URL token and known fields.

The workflow page saves the known fields of a WSDL uploaded with it through its form (the form
reads the WSDL with `wsdl_for_object`), so the conditions of the same save are checked against them.
"""

from workflows.models import Workflow, new_token
from workflows.salesforce.wsdl import InvalidWsdl, WsdlObject, object_from_wsdl


def workflow_rotate_token(*, workflow: Workflow) -> Workflow:
    """Give the workflow a new event URL; the old one stops resolving at once."""
    workflow.token = new_token()
    workflow.save(update_fields=["token", "token_digest", "updated_at"])
    return workflow


def wsdl_for_object(*, salesforce_object: str, data: bytes) -> WsdlObject:
    """The WSDL's object and fields; InvalidWsdl when it cannot be read or is for another object."""
    wsdl = object_from_wsdl(data)
    if wsdl.object_name.casefold() != salesforce_object.casefold():  # API names are case-insensitive
        raise InvalidWsdl(
            f"This WSDL describes {wsdl.object_name} records but the workflow is bound to {salesforce_object}: "
            f"upload the WSDL of this workflow's outbound message, or change the Salesforce object to "
            f"{wsdl.object_name}."
        )
    return wsdl


def workflow_fields_from_wsdl(*, workflow: Workflow, data: bytes) -> Workflow:
    """Replace the workflow's known fields with those the outbound message's WSDL declares."""
    wsdl = wsdl_for_object(salesforce_object=workflow.salesforce_object, data=data)
    workflow.known_fields = wsdl.fields
    workflow.fields_from_wsdl = True
    workflow.save(update_fields=["known_fields", "fields_from_wsdl", "updated_at"])
    return workflow
