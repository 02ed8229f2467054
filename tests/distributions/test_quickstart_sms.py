"""The quickstart demo's two-way SMS survey: its workflow, the text it sends to the local SMS
outbox, the replies that finish it, and the commands quickstart prints for it."""

import phonenumbers
import pytest

from distributions.models import Invitation, Response, SmsMessage
from distributions.services.demo import DEMO_MOBILE, DEMO_SMS_WORKFLOW, demo_sms_seed, demo_survey_seed
from tests.distributions.sms_surveys import reply
from tests.factories import case_fields, make_user, outbound_message
from workflows.models import Run, Workflow
from workflows.services.demo import DEMO_CLOSED_CASE, demo_seed


def seed():
    owner = make_user()
    survey = demo_survey_seed(owner=owner, workflow=demo_seed(owner=owner))
    return demo_sms_seed(owner=owner, survey=survey), survey


def test_the_demo_mobile_is_a_valid_number():
    assert phonenumbers.is_valid_number(phonenumbers.parse(DEMO_MOBILE))
    assert DEMO_MOBILE == DEMO_CLOSED_CASE["ContactMobile"]


@pytest.mark.django_db
def test_it_seeds_a_workflow_that_runs_the_demo_survey_by_text():
    workflow, survey = seed()
    [task] = workflow.tasks.all()
    assert workflow.name == DEMO_SMS_WORKFLOW
    assert (task.kind, task.config["method"], task.config["survey"]) == ("distribute_survey", "two_way_sms", survey.pk)
    assert task.config["phone"] == "${event://ContactMobile}"


@pytest.mark.django_db
def test_it_seeds_the_sms_workflow_once_and_none_without_a_survey():
    owner = make_user()
    assert demo_sms_seed(owner=owner, survey=None) is None
    workflow, survey = seed()
    assert demo_sms_seed(owner=owner, survey=survey) == workflow
    assert Workflow.objects.filter(name=DEMO_SMS_WORKFLOW).count() == 1


@pytest.mark.django_db
def test_a_closed_case_is_surveyed_by_text_until_finished(client, django_capture_on_commit_callbacks):
    workflow, _ = seed()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            workflow.event_path, outbound_message(case_fields(**DEMO_CLOSED_CASE)), content_type="text/xml"
        )
    assert response.status_code == 200
    assert Run.objects.get().status == Run.Status.SUCCEEDED
    invitation = Invitation.objects.get()
    assert (invitation.address, invitation.get_status_display()) == (DEMO_MOBILE, "SMS Sent")
    [first] = SmsMessage.objects.filter(direction="outbound")
    assert first.body.startswith("Hi Ada, 3 questions about your case.")
    assert "How likely are you to recommend us" in first.body
    assert first.segments == 1

    assert "Was your issue resolved?" in reply("9", sender=DEMO_MOBILE)[0]
    assert reply("Partly", sender=DEMO_MOBILE) == ["What could we have done better?"]
    assert reply("Faster answers", sender=DEMO_MOBILE) == ["Thank you, Ada: your answers are saved."]
    invitation.refresh_from_db()
    assert invitation.get_status_display() == "Survey Finished"
    assert Response.objects.get(invitation=invitation).finished_at is not None
    assert list(SmsMessage.objects.order_by("pk").values_list("direction", flat=True)) == [
        "outbound",
        *["inbound", "outbound"] * 3,
    ]
