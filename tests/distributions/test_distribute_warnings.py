"""Saving a distribute task that would fail when it runs: a warning saying what to fix, and the task saved."""

import io
import json

import pytest
from django.contrib.messages import WARNING, get_messages
from django.core.management import call_command
from django.urls import reverse

from distributions.models import Collaborator, Distribution, Question, Survey
from distributions.services.sending import distribute_config_problems
from tests.distributions.test_distribute_form import task_post
from tests.factories import (
    DISTRIBUTE_TASK_CONFIG,
    make_distribute_task,
    make_question,
    make_sender_domain,
    make_survey,
    make_user,
    make_workflow,
)
from tests.workflows.test_admin import workflow_post
from workflows.models import Task
from workflows.services.transfer import workflows_export

pytestmark = pytest.mark.django_db

NOT_ACTIVE = 'Survey "Customer satisfaction" is not active (it is new): activate the survey to distribute it.'


@pytest.fixture
def owner():
    make_sender_domain("example.com")
    return make_user(username="grace", email="grace@personal.example")


@pytest.fixture
def survey(owner):
    return make_survey(name="Customer satisfaction", owner=owner)


def problems(survey, owner=None, **config):
    config = {**DISTRIBUTE_TASK_CONFIG, "survey": survey.pk, **config}
    return distribute_config_problems(config=config, owner=owner or survey.owner)


def test_a_task_ready_to_run_has_no_problem(survey):
    assert problems(survey) == []


def test_it_finds_the_survey_not_active(survey):
    Survey.objects.filter(pk=survey.pk).update(status=Survey.Status.NEW)
    assert problems(survey) == [NOT_ACTIVE]


def test_it_finds_the_owner_not_allowed_to_distribute_the_survey(survey):
    [problem] = problems(survey, owner=make_user(username="bob"))
    assert problem.startswith('The workflow owner bob may not distribute survey "Customer satisfaction"')


def test_it_accepts_an_owner_the_survey_owner_lets_distribute(survey):
    collaborator = make_user(username="bob")
    Collaborator.objects.create(survey=survey, user=collaborator, can_distribute=True)
    assert problems(survey, owner=collaborator) == []


def test_it_finds_a_from_domain_that_is_no_sender_domain(survey):
    assert problems(survey, from_email="news@elsewhere.example") == [
        "From address news@elsewhere.example: its domain elsewhere.example is not a sender domain. Add "
        "elsewhere.example under Surveys → Sender domains and mark it verified, or use an address of a "
        "verified domain."
    ]


def test_it_finds_a_from_domain_not_verified_yet(survey):
    make_sender_domain("pending.example", verified=False)
    [problem] = problems(survey, from_email="news@pending.example")
    assert "its domain pending.example is not verified yet" in problem


def test_it_checks_the_default_sender_when_from_is_empty(survey, settings):
    settings.DEFAULT_FROM_EMAIL = "Surveys <surveys@unverified.example>"
    [problem] = problems(survey, from_email="")
    assert problem.startswith("From address surveys@unverified.example: its domain unverified.example")


def test_it_finds_a_from_address_that_is_not_an_address(survey):
    [problem] = problems(survey, from_email="surveys at example.com")
    assert problem.startswith("From address 'surveys at example.com' (from surveys at example.com) is not a valid")


def test_it_leaves_a_piped_from_address_to_the_run(survey):
    assert problems(survey, from_email="${event://Owner_Email__c}") == []


def test_it_finds_a_reply_to_domain_not_verified(survey):
    [problem] = problems(survey, reply_to="help@gmail.example")
    assert problem.startswith("Reply-To address help@gmail.example: its domain gmail.example is not a sender domain")


def test_it_accepts_the_owners_own_email_as_reply_to(survey):
    assert problems(survey, reply_to="Grace@Personal.example") == []


def test_it_finds_a_two_way_survey_with_no_question_a_text_can_ask(survey):
    make_question(survey=survey, kind=Question.Kind.MULTIPLE_CHOICE, text="Which team helped you?", choices="")
    config = {**DISTRIBUTE_TASK_CONFIG, "survey": survey.pk}
    two_way = distribute_config_problems(config=config, owner=survey.owner, channel=Distribution.Channel.TWO_WAY_SMS)
    assert two_way == [
        "The survey “Customer satisfaction” has no question that can be asked by text: "
        "add a multiple-choice, rating or text question."
    ]
    assert distribute_config_problems(config=config, owner=survey.owner) == []  # an email shows the web page
    make_question(survey=survey, kind=Question.Kind.RATING, text="How likely are you to recommend us?")
    assert distribute_config_problems(config=config, owner=survey.owner, channel=Distribution.Channel.TWO_WAY_SMS) == []


def test_it_finds_the_survey_deleted(survey):
    survey_id = survey.pk
    survey.delete()
    assert distribute_config_problems(config={**DISTRIBUTE_TASK_CONFIG, "survey": survey_id}, owner=make_user()) == [
        "The task's survey was deleted: choose another survey in the task."
    ]


# --- where the admin sees them --------------------------------------------------------------------


def warnings(response) -> list[str]:
    return [message.message for message in get_messages(response.wsgi_request) if message.level == WARNING]


def test_the_task_page_saves_the_task_and_warns_that_its_survey_is_not_active(admin_client, owner):
    survey = make_survey(name="Customer satisfaction", owner=owner, status=Survey.Status.NEW)
    workflow = make_workflow(owner=owner)
    url = reverse("admin:workflows_task_add") + f"?kind=distribute_survey&workflow={workflow.pk}"
    response = admin_client.post(url, task_post(survey=str(survey.pk)))
    assert Task.objects.get().config["survey"] == survey.pk
    assert warnings(response) == [
        f"Task 1. XM Directory: distribute survey is saved, but its runs will fail until this is fixed: {NOT_ACTIVE}"
    ]


def test_the_task_page_saves_a_task_ready_to_run_without_a_warning(admin_client, survey):
    workflow = make_workflow(owner=survey.owner)
    url = reverse("admin:workflows_task_add") + f"?kind=distribute_survey&workflow={workflow.pk}"
    response = admin_client.post(url, task_post(survey=str(survey.pk)))
    assert Task.objects.filter(workflow=workflow).count() == 1
    assert warnings(response) == []


def test_the_workflow_page_warns_when_its_new_owner_may_not_distribute_the_survey(admin_client, survey):
    workflow = make_workflow(owner=survey.owner)
    make_distribute_task(workflow=workflow, survey=survey)
    stranger = make_user(username="bob")
    response = admin_client.post(
        reverse("admin:workflows_workflow_change", args=[workflow.pk]),
        workflow_post(workflow, owner=stranger.pk),
    )
    workflow.refresh_from_db()
    assert workflow.owner == stranger
    [warning] = warnings(response)
    assert "its runs will fail until this is fixed: The workflow owner bob may not distribute survey" in warning


def test_the_import_command_prints_the_problems_of_the_imported_tasks(tmp_path, survey):
    make_distribute_task(workflow=make_workflow(owner=survey.owner, name="Case closed"), survey=survey)
    path = tmp_path / "workflows.json"
    path.write_text(json.dumps(workflows_export(names=["Case closed"])))
    Survey.objects.filter(pk=survey.pk).update(status=Survey.Status.PAUSED)
    out = io.StringIO()
    call_command("import_workflows", str(path), stdout=out)
    assert out.getvalue().splitlines()[1] == (
        "  task 1. XM Directory: distribute survey: its runs will fail until fixed: "
        'Survey "Customer satisfaction" is not active (it is paused): activate the survey to distribute it.'
    )


def test_a_domain_saved_twice_in_different_cases_counts_as_verified_when_either_is(survey):
    # Saved before the admin refused such twins: a send cannot tell them apart, so one verified is enough.
    make_sender_domain("news.example", verified=False)
    make_sender_domain("NEWS.example", verified=True)

    assert problems(survey, from_email="surveys@news.example") == []
