"""Deleting a contact erases it from the task runs that acted on it: their inputs, their notes and
every output that may name the person, whichever task kind wrote them; the ids stay, and the run's
page says the contact was deleted."""

import re
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from directory.models import Contact, Membership
from distributions.models import Invitation
from distributions.selectors import survey_short_link
from distributions.tasks import KIND as DISTRIBUTE
from tests.api.conftest import api_client_for, result
from tests.factories import (
    case_fields,
    make_contact,
    make_directory_task,
    make_distribute_task,
    make_run,
    make_survey,
    make_task_run,
    make_user,
    make_workflow,
)
from workflows.models import Run, TaskRun
from workflows.services.erasure import ERASED_NOTE
from workflows.tasks import registry
from workflows.tasks.add_to_directory import KIND as ADD_TO_DIRECTORY
from workflows.tasks.registry import TaskKind

pytestmark = pytest.mark.django_db

PHONE = "+14155550177"
SMS_CONFIG = {
    "method": "sms",
    "phone": "${event://ContactPhone}",
    "sms_text": "Hi ${m://FirstName}, how did we do with case ${event://CaseNumber}? ${l://SurveyURL}",
}
LIN = {
    "ContactEmail": "lin@example.com",
    "ContactPhone": "(415) 555-0177",
    "Customer_First_Name__c": "Lin",
    "Customer_Last_Name__c": "Okafor",
}


@pytest.fixture
def sms_workflow():
    survey = make_survey(name="Customer satisfaction")
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, **SMS_CONFIG)
    return workflow


def texted(execute, workflow) -> Run:
    """A Case sent to the workflow and executed: its SMS invitation goes to the local outbox."""
    run = execute(make_run(workflow=workflow, fields=case_fields(**LIN)))
    assert run.status == Run.Status.SUCCEEDED, run.status_reason
    return run


def stored(task_run: TaskRun) -> str:
    return " ".join(str(value) for value in (task_run.resolved_input, task_run.output, task_run.notes, task_run.error))


def assert_names_nobody(task_run: TaskRun) -> None:
    # Whole values, not fragments a random token or an id may contain.
    text = stored(task_run)
    for detail in (PHONE, "555-0177", "5550177", "lin@example.com", "Lin", "Okafor"):
        assert not re.search(rf"(?<!\w){re.escape(detail)}(?!\w)", text), (detail, text)


def test_a_deleted_contacts_phone_leaves_its_sms_task_runs_output(execute, sms_workflow):
    superuser_api = api_client_for(make_user(username="api-superuser", is_superuser=True))
    run = texted(execute, sms_workflow)
    contact = Contact.objects.get()
    invitation = Invitation.objects.get()
    assert run.task_runs.get().output["Phone"] == PHONE

    response = superuser_api.delete(f"directories/{contact.directory.public_id}/contacts/{contact.public_id}")

    assert response.status_code == 200
    task_run = run.task_runs.get()
    assert_names_nobody(task_run)
    assert task_run.output == {
        "ContactId": str(contact.pk),
        "DistributionId": str(invitation.distribution_id),
        "InvitationId": str(invitation.pk),
        "SurveyLink": survey_short_link(invitation.short_code),
        "Channel": "SMS",
    }
    assert (task_run.status, task_run.resolved_input, task_run.notes) == ("succeeded", {}, [ERASED_NOTE])
    (attempt,) = result(superuser_api.get(f"workflows/{sms_workflow.pk}/runs/{run.pk}"))["taskAttempts"]
    assert "Phone" not in attempt["output"]


def test_the_run_page_says_the_contact_was_deleted(admin_client, execute, sms_workflow):
    run = texted(execute, sms_workflow)
    contact = Contact.objects.get()

    response = admin_client.post(reverse("admin:directory_contact_delete", args=[contact.pk]), {"post": "yes"})
    page = admin_client.get(reverse("admin:workflows_run_change", args=[run.pk])).content.decode()

    assert response.status_code == 302
    assert f"Contact: contact {contact.pk} was deleted" in page
    assert "no task output a ContactId" not in page
    assert PHONE not in page.split('class="task-runs"')[1]  # the task runs' table; the event's fields stay


def test_a_run_whose_tasks_output_no_contact_still_says_so(admin_client):
    run = make_run(workflow=make_workflow())

    page = admin_client.get(reverse("admin:workflows_run_change", args=[run.pk])).content.decode()

    assert "Contact: none (no task output a ContactId)" in page


def test_an_outcome_quoting_the_person_is_erased(execute, sms_workflow):
    texted(execute, sms_workflow)
    Contact.objects.update(unsubscribed=True)
    skipped = texted(execute, sms_workflow)
    outcome = skipped.task_runs.get().output["Outcome"]
    assert "lin@example.com" in outcome and "opted out" in outcome

    Contact.objects.get().delete()

    task_run = skipped.task_runs.get()
    assert "Outcome" not in task_run.output
    assert_names_nobody(task_run)


def test_every_attempt_at_the_task_that_saved_the_contact_is_erased():
    contact = make_contact(email="lin@example.com", phone=PHONE)
    other = make_contact(email="grace@example.com")
    run = make_run(workflow=make_workflow())
    inputs = {"Email": "lin@example.com", "Phone": PHONE}
    failed = make_task_run(
        run=run, attempt=1, status="retrying", resolved_input=inputs, notes=["Lin's phone was retried."]
    )
    saved = make_task_run(run=run, attempt=2, resolved_input=inputs, output={"ContactId": str(contact.pk)})
    grace = make_task_run(
        run=run, position=2, resolved_input={"Email": "grace@example.com"}, output={"ContactId": str(other.pk)}
    )

    contact.delete()

    for task_run in (failed, saved):
        task_run.refresh_from_db()
        assert_names_nobody(task_run)
        assert task_run.notes == [ERASED_NOTE]
    grace.refresh_from_db()
    assert grace.resolved_input == {"Email": "grace@example.com"}
    assert grace.output == {"ContactId": str(other.pk)}


def test_an_add_to_directory_run_keeps_its_ids_and_action():
    contact = make_contact(email="lin@example.com")
    output = {"ContactId": str(contact.pk), "MailingListId": "3", "TransactionId": "", "ContactAction": "created"}
    task_run = make_task_run(run=make_run(workflow=make_workflow()), output=output)

    contact.delete()

    task_run.refresh_from_db()
    assert task_run.output == output


def test_a_kind_no_longer_installed_keeps_only_the_contact_id():
    contact = make_contact(email="lin@example.com")
    contact_ref = str(contact.pk)
    task_run = make_task_run(
        run=make_run(workflow=make_workflow()), kind="retired_kind", output={"ContactId": contact_ref, "Mobile": PHONE}
    )

    contact.delete()

    task_run.refresh_from_db()
    assert task_run.output == {"ContactId": contact_ref}


def test_a_kind_cannot_keep_an_output_it_does_not_have():
    with pytest.raises(TypeError, match="Phone"):
        TaskKind(
            name="k",
            label="K",
            config_form=ADD_TO_DIRECTORY.config_form,
            run=lambda context: {},
            outputs=("ContactId",),
            outputs_kept_on_erasure=("Phone",),
        )


def test_the_short_link_in_the_output_no_longer_opens(client, execute, sms_workflow):
    run = texted(execute, sms_workflow)
    Contact.objects.get().delete()

    link = run.task_runs.get().output["SurveyLink"]
    response = client.get(urlsplit(link).path, follow=True)

    assert response.status_code == 200
    assert b"no longer valid" in response.content


def test_a_run_waiting_to_retry_its_invitation_invites_nobody_once_its_contact_was_deleted(
    execute, sms_workflow, monkeypatch
):
    first = sms_workflow.tasks.get()
    first.position = 2
    first.save()
    make_directory_task(workflow=sms_workflow, position=1)

    def unavailable(contexts):
        raise OperationalError("could not obtain lock")

    monkeypatch.setitem(registry._KINDS, DISTRIBUTE.name, replace(DISTRIBUTE, run_batch=unavailable))
    run = execute(make_run(workflow=sms_workflow, fields=case_fields(**LIN)))
    assert run.status == Run.Status.QUEUED
    monkeypatch.setitem(registry._KINDS, DISTRIBUTE.name, DISTRIBUTE)
    Contact.objects.get().delete()  # the person asked to be erased
    Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now())

    run = execute(run)

    assert run.status == Run.Status.FAILED
    assert "was deleted" in run.status_reason
    assert not Contact.objects.exists()
    assert not Membership.objects.exists()
    assert not Invitation.objects.exists()
