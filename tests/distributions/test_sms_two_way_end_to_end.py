"""A Salesforce message to a two-way SMS survey answered by text: the distribute-survey task sends
the first question exactly once, the signed inbound webhook takes each reply, and the statuses,
the response and the history CSV follow."""

import pytest
from django.test import Client

from distributions.models import Invitation, SmsMessage
from tests.distributions.sms_surveys import history, make_sms_survey, reply, status
from tests.factories import case_fields, make_distribute_task, make_workflow, outbound_message
from workflows.models import Run
from workflows.services.execution import run_execute

pytestmark = pytest.mark.django_db

PHONE = "+14155550100"


def test_a_salesforce_message_to_a_finished_two_way_survey(admin_client, django_capture_on_commit_callbacks):
    survey = make_sms_survey()
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey, method="two_way_sms", phone="${event://ContactPhone}")
    message = outbound_message(case_fields(ContactPhone="(415) 555-0100"))
    for _ in range(2):  # delivered twice: one run, one invitation, one first text
        assert Client().post(workflow.event_path, message, content_type="text/xml").status_code == 200
    for run in Run.objects.all():
        with django_capture_on_commit_callbacks(execute=True):
            run_execute(run_id=run.pk)
    invitation = Invitation.objects.get()
    [first] = SmsMessage.objects.filter(direction="outbound")
    assert first.body.startswith("Hi Ada, three questions about your case.\n\n")
    assert "How was the service?" in first.body
    assert status(invitation) == "SMS Sent"

    assert "How likely are you to recommend us?" in reply("très BIEN", sender=PHONE)[0]
    assert status(invitation) == "Survey Started"
    assert "Anything else?" in reply("9", sender=PHONE)[0]
    assert reply("All good", sender=PHONE) == ["Thank you, Ada!"]
    assert status(invitation) == "Survey Finished"
    q1, q2, q3 = survey.questions.order_by("position")
    assert invitation.response.answers == {
        str(q1.pk): {"number": 1, "text": "Très bien"},
        str(q2.pk): 9,
        str(q3.pk): "All good",
    }
    assert invitation.response.finished_at is not None
    assert SmsMessage.objects.filter(direction="outbound", invitation=invitation).count() == 1  # the first text
    [row] = history(admin_client, survey)
    assert (row["Status"], row["Email Address"]) == ("Survey Finished", "'" + PHONE)
