"""Reads of workflow definitions."""

import pytest

from tests.factories import make_condition, make_directory_task, make_workflow
from workflows.selectors import workflow_event_fields

pytestmark = pytest.mark.django_db


def test_it_lists_every_field_the_conditions_and_tasks_read():
    workflow = make_workflow()
    make_condition(workflow=workflow, field="IsClosed", operator="equals", value="true")
    make_condition(workflow=workflow, field="Status", operator="equals", value="${event://Expected_Status__c}")
    make_directory_task(
        workflow=workflow,
        external_data_reference="${event://ContactId}",
        data_fields=[["Region", "${event://Account_Region__c} (${m://Email})"]],
    )
    assert workflow_event_fields(workflow=workflow) == [
        "Account_Region__c",
        "ContactEmail",
        "ContactId",
        "Customer_First_Name__c",
        "Customer_Last_Name__c",
        "Expected_Status__c",
        "IsClosed",
        "Status",
    ]


def test_it_leaves_out_the_message_metadata():
    workflow = make_workflow()
    make_condition(workflow=workflow, field="_Object", operator="equals", value="Case")
    make_directory_task(workflow=workflow, data_fields=[["Notification", "${event://_NotificationId}"]])
    assert "_Object" not in workflow_event_fields(workflow=workflow)
    assert "_NotificationId" not in workflow_event_fields(workflow=workflow)
